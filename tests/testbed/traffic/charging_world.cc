#include "tests/testbed/traffic/charging_world.h"

#include <grpcpp/create_channel.h>

#include "absl/strings/str_cat.h"
#include "common/auth.h"
#include "common/status_macros.h"
#include "testbed/reference/v1_to_v2.h"
#include "tests/testbed/services_fixture.h"

namespace tandem::testbed {

namespace rv1 = ::tandem::router::v1;
using ::tandem::common::v1::SYSTEM_SOURCE;
using ::tandem::common::v1::SYSTEM_TARGET;

namespace {

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(10));
  AttachBearerToken(*context, kRouterToken);
  return context;
}

absl::Status FromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      s.error_message());
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChargingWorld>> ChargingWorld::Start(
    const TestbedOptions& options) {
  std::unique_ptr<ChargingWorld> w(new ChargingWorld());
  TANDEM_ASSIGN_OR_RETURN(w->tb_, StartTestbed(options));
  TANDEM_ASSIGN_OR_RETURN(
      w->router_,
      StartRouter(*w->tb_, absl::StrCat("ops operator ", kRouterToken, "\n")));
  w->stub_ = rv1::RouterService::NewStub(grpc::CreateChannel(
      w->router_address(), grpc::InsecureChannelCredentials()));
  rv1::ImportRoutesRequest import;
  for (int64_t c = 1; c <= options.datagen.customers; ++c) {
    import.mutable_customers()->add_customers()->set_customer_id(c);
  }
  import.set_request_id("import-all");
  rv1::ImportRoutesResponse imported;
  grpc::Status s = w->stub_->ImportRoutes(Ctx().get(), import, &imported);
  if (!s.ok()) return FromGrpc(s);
  router::RouteCacheOptions cache;
  cache.target = w->router_address();
  cache.token = kRouterToken;
  w->cache_ = router::RouteCache::Start(cache);
  if (!w->cache_->WaitForRevision(imported.revision(), absl::Seconds(30))) {
    return absl::DeadlineExceededError("the route cache did not sync");
  }
  w->holders_ = RouterHolders(w->router_address(), kRouterToken);
  return w;
}

ChargingWorld::~ChargingWorld() {
  cache_.reset();
  router_.reset();
}

std::string ChargingWorld::router_address() const {
  return absl::StrCat("127.0.0.1:", router_->port());
}

absl::Status ChargingWorld::SetRoute(int64_t customer,
                                     ::tandem::common::v1::System system,
                                     rv1::RouteState state) {
  rv1::GetRouteRequest get;
  get.set_customer_id(customer);
  rv1::GetRouteResponse current;
  grpc::Status s = stub_->GetRoute(Ctx().get(), get, &current);
  if (!s.ok()) return FromGrpc(s);
  rv1::SetRouteRequest set;
  set.set_customer_id(customer);
  set.set_expected_version(current.route().version());
  set.set_system(system);
  set.set_state(state);
  set.set_request_id(
      absl::StrCat("test-", customer, "-", current.route().version()));
  set.set_reason("test");
  rv1::SetRouteResponse changed;
  s = stub_->SetRoute(Ctx().get(), set, &changed);
  if (!s.ok()) return FromGrpc(s);
  if (!cache_->WaitForRevision(changed.route().version(), absl::Seconds(30))) {
    return absl::DeadlineExceededError("the route cache did not follow");
  }
  return absl::OkStatus();
}

absl::Status ChargingWorld::StartMove(int64_t c) {
  return SetRoute(c, SYSTEM_SOURCE, rv1::ROUTE_STATE_MIGRATING);
}
absl::Status ChargingWorld::Flip(int64_t c) {
  return SetRoute(c, SYSTEM_TARGET, rv1::ROUTE_STATE_STABLE);
}
absl::Status ChargingWorld::StartRollback(int64_t c) {
  return SetRoute(c, SYSTEM_TARGET, rv1::ROUTE_STATE_MIGRATING);
}
absl::Status ChargingWorld::FlipBack(int64_t c) {
  return SetRoute(c, SYSTEM_SOURCE, rv1::ROUTE_STATE_STABLE);
}

absl::Status ChargingWorld::SetExported(bool on_target, int64_t c,
                                        bool exported) {
  return on_target
             ? tb_->target_server().Execute(
                   absl::StrCat("UPDATE customers SET status = ",
                                exported ? 4 : 1, " WHERE customer_id = ", c),
                   Testbed::kTargetDb)
             : tb_->source_server().Execute(
                   absl::StrCat("UPDATE customers SET status = '",
                                exported ? "exported" : "open",
                                "' WHERE i_customer = ", c),
                   Testbed::kSourceDb);
}

absl::Status ChargingWorld::MoveToTarget(int64_t c) {
  TANDEM_RETURN_IF_ERROR(StartMove(c));
  TANDEM_RETURN_IF_ERROR(CopyCustomerV1ToV2(tb_->v1(), tb_->v2(), c));
  TANDEM_RETURN_IF_ERROR(Flip(c));
  return SetExported(false, c, true);
}

std::vector<int64_t> ChargingWorld::MovableCustomers(int n) {
  auto rows = tb_->source_server().Query(
      absl::StrCat(
          "SELECT c.i_customer FROM customers c JOIN accounts a "
          "ON a.i_customer = c.i_customer JOIN products p "
          "ON p.i_product = a.i_product WHERE c.status = 'open' "
          "GROUP BY c.i_customer HAVING COUNT(*) BETWEEN 2 AND 20 "
          "AND SUM(p.code = 'FIX-ISDN') = 0 ORDER BY c.i_customer LIMIT ",
          n),
      Testbed::kSourceDb);
  std::vector<int64_t> out;
  if (!rows.ok()) return out;
  for (const std::string& r : *rows) out.push_back(std::stoll(r));
  return out;
}

}  // namespace tandem::testbed
