// Customers moved, and one moved back, while their portal visits go through
// the real portal-proxy to the two billing simulators: logins, browsing,
// settings edits and top-ups, every one answered (no 5xx, no transport
// error, no "customer exported" conflict reaching the client, no session
// lost across the flip), served by v1 before the move and v2 after it; once
// the tails end, VerifyCustomer finds the moved customers equal.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "portal-proxy/proxy_server.h"
#include "testbed/sim/sim_server.h"
#include "testbed/traffic/portal_traffic.h"
#include "tests/migrator/migrator_fixture.h"
#include "tests/testing/eventually.h"

namespace tandem::migrator::testing {
namespace {

using ::tandem::common::v1::SYSTEM_SOURCE;
using ::tandem::common::v1::SYSTEM_TARGET;

// A billing simulator over the testbed's database of that version.
std::unique_ptr<testbed::SimServer> StartSim(const MigratorEnv& env,
                                             bool target) {
  testbed::SimOptions s;
  s.version =
      target ? testbed::SchemaVersion::kV2 : testbed::SchemaVersion::kV1;
  s.db = testbed::PoolOptions(
      target ? env.testbed().target_server() : env.testbed().source_server(),
      target ? testbed::Testbed::kTargetDb : testbed::Testbed::kSourceDb, 4);
  s.http.address = "127.0.0.1";
  auto sim = testbed::SimServer::Start(s);
  EXPECT_TRUE(sim.ok()) << sim.status();
  return sim.ok() ? *std::move(sim) : nullptr;
}

TEST(MigratorPortalTest,
     PortalVisitsThroughTheProxyAllSucceedWhileCustomersMoveAndOneComesBack) {
  auto env = MigratorEnv::Start(SmallPopulation(30, 150, 1500));
  ASSERT_TRUE(env.ok()) << env.status();
  auto migrator = (*env)->StartMigrator([](MigratorServerOptions& o) {
    o.mover.tail_window = absl::Seconds(2);
    o.mover.tail_interval = absl::Milliseconds(200);
  });
  ASSERT_TRUE(migrator.ok()) << migrator.status();
  auto stub = MigratorStub((*migrator)->port());
  std::unique_ptr<testbed::SimServer> v1_sim = StartSim(**env, false);
  std::unique_ptr<testbed::SimServer> v2_sim = StartSim(**env, true);
  ASSERT_TRUE(v1_sim != nullptr && v2_sim != nullptr);

  proxy::ProxyServerOptions options;
  options.http.listen = "127.0.0.1:0";
  options.http.source_backend = absl::StrCat("127.0.0.1:", v1_sim->port());
  options.http.target_backend = absl::StrCat("127.0.0.1:", v2_sim->port());
  options.http.resolver.login_paths = {"/api/login"};
  options.http.hold_timeout = absl::Seconds(30);
  options.router = absl::StrCat("127.0.0.1:", (*env)->router().port());
  options.router_token = kViewerToken;
  options.catalog = absl::StrCat("127.0.0.1:", (*env)->catalog().port());
  options.catalog_token = kViewerToken;
  options.sync_timeout = absl::Seconds(10);
  options.cookie_key = "migrator-portal-test-cookie-key";
  options.admin_listen = "127.0.0.1:0";
  auto proxy = proxy::ProxyServer::Start(options);
  ASSERT_TRUE(proxy.ok()) << proxy.status();

  const std::vector<int64_t> moving = (*env)->MovableCustomers(4);
  ASSERT_EQ(moving.size(), 4u);

  // Visits run in rounds until every move is over, so the moves always
  // happen under traffic whatever the machine's speed.
  std::atomic<bool> moves_over{false};
  testbed::TrafficReport traffic;
  absl::Status traffic_status;
  std::thread visits([&] {
    testbed::PortalTrafficOptions o;
    o.port = (*proxy)->port();
    o.rate = 60;
    o.duration = absl::Seconds(1);
    o.connections = 3;
    o.customers = moving;
    for (uint64_t round = 1; !moves_over.load() || round <= 2; ++round) {
      o.seed = round;
      absl::StatusOr<testbed::TrafficReport> r = testbed::RunPortalTraffic(o);
      if (!r.ok()) {
        traffic_status = r.status();
        return;
      }
      traffic.Merge(*std::move(r));
    }
  });

  std::vector<int64_t> batches;
  for (int64_t c : moving) {
    v1::MoveCustomerRequest request;
    request.set_customer_id(c);
    request.set_wait(true);
    request.set_reason("portal test");
    v1::MoveCustomerResponse response;
    grpc::Status s =
        stub->MoveCustomer(MigratorEnv::Ctx().get(), request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_NE(response.item().state(), v1::ITEM_STATE_FAILED)
        << response.item().DebugString();
    batches.push_back(response.batch().batch_id());
  }
  // The first one comes back once its tail is over, still under traffic.
  ASSERT_TRUE(AwaitBatchState(*stub, batches[0], v1::BATCH_STATE_COMPLETED,
                              absl::Seconds(90)));
  v1::RollbackCustomerRequest back;
  back.set_customer_id(moving[0]);
  back.set_wait(true);
  back.set_reason("portal test");
  v1::RollbackCustomerResponse rolled;
  grpc::Status s =
      stub->RollbackCustomer(MigratorEnv::Ctx().get(), back, &rolled);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_NE(rolled.item().state(), v1::ITEM_STATE_FAILED)
      << rolled.item().DebugString();
  moves_over = true;
  visits.join();
  ASSERT_TRUE(traffic_status.ok()) << traffic_status;

  EXPECT_EQ(traffic.Failures(), 0) << traffic.ToText();
  // No client saw the conflict the source answers a moved customer with, or
  // lost its session across a flip.
  EXPECT_EQ(traffic.by_status["409"], 0) << traffic.ToText();
  EXPECT_EQ(traffic.by_status["401"], 0) << traffic.ToText();
  EXPECT_GT(traffic.by_status["200"], 0) << traffic.ToText();
  EXPECT_GT(traffic.by_operation["topup"], 0) << traffic.ToText();
  EXPECT_GT(traffic.by_system["v1"], 0) << traffic.ToText();
  EXPECT_GT(traffic.by_system["v2"], 0) << traffic.ToText();

  EXPECT_EQ((*env)->Route(moving[0]).system(), SYSTEM_SOURCE);
  for (size_t i = 1; i < moving.size(); ++i) {
    EXPECT_EQ((*env)->Route(moving[i]).system(), SYSTEM_TARGET);
    ASSERT_TRUE(AwaitBatchState(*stub, batches[i], v1::BATCH_STATE_COMPLETED,
                                absl::Seconds(90)))
        << moving[i];
    v1::VerifyCustomerRequest request;
    request.set_customer_id(moving[i]);
    v1::VerifyCustomerResponse verified;
    ASSERT_TRUE(stub->VerifyCustomer(MigratorEnv::Ctx(kViewerToken).get(),
                                     request, &verified)
                    .ok());
    EXPECT_TRUE(verified.verification().equal())
        << moving[i] << ": " << verified.verification().DebugString();
  }
  (*proxy)->Shutdown(absl::Seconds(2));
}

}  // namespace
}  // namespace tandem::migrator::testing
