// The catalog service end to end: real gRPC channels, a real router, and a
// throwaway MariaDB holding both testbed billing schemas with their demo
// catalogs and generated customers.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "catalog/catalog_server.h"
#include "catalog/mysql_billing_catalog.h"
#include "common/auth.h"
#include "router/router_server.h"
#include "tandem/catalog/v1/catalog.grpc.pb.h"
#include "tandem/router/v1/router.grpc.pb.h"
#include "tests/testbed/testbed_fixture.h"
#include "tests/testing/eventually.h"

namespace tandem::catalog {
namespace {

namespace v1 = ::tandem::catalog::v1;
namespace rv1 = ::tandem::router::v1;
using ::testing::HasSubstr;
constexpr auto kSource = ::tandem::common::v1::SYSTEM_SOURCE;
constexpr auto kTarget = ::tandem::common::v1::SYSTEM_TARGET;

constexpr char kOperator[] = "operator-token-0123456789";
constexpr char kViewer[] = "viewer-token-0123456789ab";
constexpr char kTokens[] =
    "alice operator operator-token-0123456789\n"
    "victor viewer viewer-token-0123456789ab\n";

testbed::TestbedDb* testbed_db = nullptr;
// Why the suite's database did not start; each test then fails with it.
absl::Status* testbed_error = nullptr;
int database_counter = 0;

std::unique_ptr<grpc::ClientContext> Ctx(
    const std::string& token = kOperator,
    absl::Duration deadline = absl::Seconds(30)) {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) AttachBearerToken(*context, token);
  context->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  return context;
}

using ::tandem::testing::Eventually;

MysqlOptions Db(const std::string& name) {
  return testbed::PoolOptions(*testbed_db->server, name, 8);
}

class CatalogServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (testbed_db != nullptr) return;
    testbed::DatagenOptions o;
    o.seed = 11;
    o.customers = 60;
    o.accounts = 300;
    o.xdrs = 600;
    o.password_iterations = 100;
    absl::StatusOr<testbed::TestbedDb> db = testbed::StartTestbedDb(o);
    // No ASSERT here: gtest would mark every test SKIPPED, not failed.
    if (!db.ok()) {
      testbed_error = new absl::Status(db.status());
      return;
    }
    testbed_db = new testbed::TestbedDb(*std::move(db));
  }

  static void TearDownTestSuite() {
    delete testbed_db;  // stops the server
    testbed_db = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(testbed_db, nullptr)
        << "the suite's MariaDB did not start: "
        << (testbed_error != nullptr ? testbed_error->ToString() : "?");
    int n = ++database_counter;
    router_db_ = absl::StrCat("router_", n);
    control_db_ = absl::StrCat("catalog_", n);
    ASSERT_TRUE(testbed_db->server->CreateDatabase(router_db_).ok());
    ASSERT_TRUE(testbed_db->server->CreateDatabase(control_db_).ok());
    router::RouterServerOptions r;
    r.db = Db(router_db_);
    r.db.pool_size = 4;
    r.tokens = kTokens;
    r.worker_threads = 2;
    auto router = router::RouterServer::Start(r);
    ASSERT_TRUE(router.ok()) << router.status();
    router_ = *std::move(router);
    router_stub_ = rv1::RouterService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", router_->port()),
                            grpc::InsecureChannelCredentials()));
    StartCatalog();
  }

  void StartCatalog() {
    auto catalog = StartReplica(absl::Milliseconds(100));
    ASSERT_NE(catalog, nullptr);
    catalog_ = std::move(catalog);
    stub_ = StubOf(*catalog_);
  }

  // A catalog replica on this test's control database, re-reading the
  // shared state every `poll_interval`.
  std::unique_ptr<CatalogServer> StartReplica(absl::Duration poll_interval) {
    CatalogServerOptions c;
    c.control_db = Db(control_db_);
    c.source_db = Db("billing_v1");
    c.target_db = Db("billing_v2");
    c.tokens = kTokens;
    c.router_address = absl::StrCat("127.0.0.1:", router_->port());
    c.router_token = kViewer;
    c.router_poll_interval = absl::Milliseconds(200);
    c.refresh_interval = absl::ZeroDuration();
    c.worker_threads = 8;
    c.catalog.poll_interval = poll_interval;
    auto catalog = CatalogServer::Start(c);
    EXPECT_TRUE(catalog.ok()) << catalog.status();
    return catalog.ok() ? *std::move(catalog) : nullptr;
  }

  static std::unique_ptr<v1::CatalogService::Stub> StubOf(
      CatalogServer& server) {
    return v1::CatalogService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server.port()),
                            grpc::InsecureChannelCredentials()));
  }

  // Rows of `sql` on the database `db` of the test's server.
  static std::vector<std::string> Rows(const std::string& sql,
                                       const std::string& db) {
    absl::StatusOr<std::vector<std::string>> rows =
        testbed_db->server->Query(sql, db);
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() ? *rows : std::vector<std::string>();
  }

  void TearDown() override {
    if (catalog_) catalog_->Shutdown(absl::Seconds(1));
    if (router_) router_->Shutdown(absl::Seconds(1));
  }

  v1::Freeze GetFreeze() {
    v1::GetFreezeResponse response;
    grpc::Status status = stub_->GetFreeze(Ctx(kViewer).get(), {}, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.freeze();
  }

  grpc::Status SetFreeze(v1::FreezeState state, v1::SetFreezeResponse* out,
                         const std::string& token = kOperator,
                         const std::string& request_id = "",
                         bool force = false) {
    v1::SetFreezeRequest req;
    req.set_state(state);
    req.set_reason("test");
    req.set_request_id(request_id);
    req.set_force(force);
    return stub_->SetFreeze(Ctx(token).get(), req, out);
  }

  void Freeze(v1::FreezeState state) {
    v1::SetFreezeResponse response;
    grpc::Status status = SetFreeze(state, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  // Imports customers `first`..`first+count-1` as SOURCE/STABLE routes.
  void ImportRoutes(int first, int count) {
    rv1::ImportRoutesRequest req;
    for (int i = first; i < first + count; ++i) {
      req.mutable_customers()->add_customers()->set_customer_id(i);
    }
    rv1::ImportRoutesResponse response;
    grpc::Status status =
        router_stub_->ImportRoutes(Ctx().get(), req, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  // Moves a route one step: to `system` in `state`.
  void SetRoute(int64_t customer, ::tandem::common::v1::System system,
                rv1::RouteState state) {
    rv1::GetRouteRequest get;
    get.set_customer_id(customer);
    rv1::GetRouteResponse route;
    ASSERT_TRUE(router_stub_->GetRoute(Ctx().get(), get, &route).ok());
    rv1::SetRouteRequest set;
    set.set_customer_id(customer);
    set.set_expected_version(route.route().version());
    set.set_system(system);
    set.set_state(state);
    set.set_reason("test");
    rv1::SetRouteResponse response;
    grpc::Status status = router_stub_->SetRoute(Ctx().get(), set, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  v1::Product GetProduct(::tandem::common::v1::System system,
                         const std::string& code) {
    v1::GetProductRequest req;
    req.set_system(system);
    req.set_code(code);
    v1::GetProductResponse response;
    grpc::Status status = stub_->GetProduct(Ctx(kViewer).get(), req, &response);
    EXPECT_TRUE(status.ok()) << code << ": " << status.error_message();
    return response.product();
  }

  // A product spec of this test's own, so tests never share products.
  v1::ProductSpec OwnSpec(const std::string& code,
                          v1::ProductKind kind = v1::PRODUCT_KIND_MAIN) {
    v1::ProductSpec spec;
    spec.set_code(absl::StrCat(code, "-", control_db_));
    spec.set_name(spec.code());
    spec.set_category("test");
    spec.set_kind(kind);
    spec.set_contract_pool("test");
    spec.mutable_pricing()->set_currency("EUR");
    spec.mutable_pricing()->set_monthly_fee_micros(10'000'000);
    v1::ResourceType* data = spec.add_resource_types();
    data->set_code("data_mb");
    data->set_limit(1000);
    return spec;
  }

  v1::Product Create(::tandem::common::v1::System system,
                     const v1::ProductSpec& spec) {
    v1::CreateProductRequest req;
    req.set_system(system);
    *req.mutable_spec() = spec;
    req.set_reason("test product");
    v1::CreateProductResponse response;
    grpc::Status status = stub_->CreateProduct(Ctx().get(), req, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.product();
  }

  // Every audit entry of `kind`, newest first, page by page.
  std::vector<v1::AuditEntry> Audit(v1::AuditKind kind) {
    std::vector<v1::AuditEntry> entries;
    v1::ListFreezeAuditRequest req;
    req.add_kinds(kind);
    req.set_page_size(1000);
    do {
      v1::ListFreezeAuditResponse response;
      grpc::Status status =
          stub_->ListFreezeAudit(Ctx(kViewer).get(), req, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      entries.insert(entries.end(), response.entries().begin(),
                     response.entries().end());
      req.set_page_token(response.next_page_token());
    } while (!req.page_token().empty());
    return entries;
  }

  std::string router_db_;
  std::string control_db_;
  std::unique_ptr<router::RouterServer> router_;
  std::unique_ptr<rv1::RouterService::Stub> router_stub_;
  std::unique_ptr<CatalogServer> catalog_;
  std::unique_ptr<v1::CatalogService::Stub> stub_;
};

TEST_F(CatalogServiceTest, FreezeWalksItsStatesAndAuditsEveryTransition) {
  EXPECT_EQ(GetFreeze().state(), v1::FREEZE_STATE_OPEN);
  EXPECT_EQ(GetFreeze().version(), 1);
  v1::SetFreezeResponse response;
  EXPECT_EQ(SetFreeze(v1::FREEZE_STATE_FROZEN, &response, "").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(SetFreeze(v1::FREEZE_STATE_FROZEN, &response, kViewer).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  grpc::Status illegal = SetFreeze(v1::FREEZE_STATE_LIFTED, &response);
  EXPECT_EQ(illegal.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(illegal.error_message(), HasSubstr("OPEN -> LIFTED"));
  v1::SetFreezeRequest no_reason;
  no_reason.set_state(v1::FREEZE_STATE_FROZEN);
  EXPECT_EQ(stub_->SetFreeze(Ctx().get(), no_reason, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::SetFreezeRequest stale;
  stale.set_state(v1::FREEZE_STATE_FROZEN);
  stale.set_reason("stale");
  stale.set_expected_version(7);
  EXPECT_EQ(stub_->SetFreeze(Ctx().get(), stale, &response).error_code(),
            grpc::StatusCode::ABORTED);
  EXPECT_EQ(GetFreeze().version(), 1);  // nothing changed

  ASSERT_TRUE(
      SetFreeze(v1::FREEZE_STATE_FROZEN, &response, kOperator, "freeze-1")
          .ok());
  EXPECT_EQ(response.freeze().state(), v1::FREEZE_STATE_FROZEN);
  EXPECT_EQ(response.transition().from_state(), v1::FREEZE_STATE_OPEN);
  EXPECT_EQ(response.freeze().stamp().actor(), "alice");
  // A retry of the same request returns the first answer.
  v1::SetFreezeResponse retried;
  ASSERT_TRUE(
      SetFreeze(v1::FREEZE_STATE_FROZEN, &retried, kOperator, "freeze-1").ok());
  EXPECT_EQ(retried.transition().version(), 2);
  EXPECT_EQ(GetFreeze().version(), 2);
  Freeze(v1::FREEZE_STATE_FROZEN_TARGET_OPEN);
  std::vector<v1::AuditEntry> audit = Audit(v1::AUDIT_KIND_FREEZE_TRANSITION);
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_EQ(audit[0].transition().to_state(),
            v1::FREEZE_STATE_FROZEN_TARGET_OPEN);  // newest first
  EXPECT_EQ(audit[1].stamp().actor(), "alice");
  EXPECT_EQ(audit[1].request_id(), "freeze-1");
  EXPECT_GT(audit[0].seq(), audit[1].seq());
}

TEST_F(CatalogServiceTest, CannotOpenAgainOnceCustomersStartMoving) {
  ImportRoutes(1, 3);
  Freeze(v1::FREEZE_STATE_FROZEN);
  SetRoute(2, kSource, rv1::ROUTE_STATE_MIGRATING);
  v1::SetFreezeResponse response;
  grpc::Status status = SetFreeze(v1::FREEZE_STATE_OPEN, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("1 customers have started"));
  SetRoute(2, kSource, rv1::ROUTE_STATE_STABLE);
  EXPECT_TRUE(SetFreeze(v1::FREEZE_STATE_OPEN, &response).ok());
}

TEST_F(CatalogServiceTest, LiftsByItselfWhenTheLastCustomerLeavesTheSource) {
  ImportRoutes(1, 2);
  // A stream of the freeze, as the portal-proxy keeps one.
  grpc::ClientContext watch_context;
  AttachBearerToken(watch_context, kViewer);
  auto reader = stub_->WatchFreeze(&watch_context, {});
  v1::WatchFreezeResponse event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.freeze().state(), v1::FREEZE_STATE_OPEN);

  Freeze(v1::FREEZE_STATE_FROZEN);
  Freeze(v1::FREEZE_STATE_FROZEN_TARGET_OPEN);
  ASSERT_TRUE(
      Eventually([&] { return GetFreeze().customers_on_source() == 2; }));
  v1::SetFreezeResponse response;
  grpc::Status early = SetFreeze(v1::FREEZE_STATE_LIFTED, &response);
  EXPECT_EQ(early.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(early.error_message(), HasSubstr("2 customers are still"));

  SetRoute(1, kSource, rv1::ROUTE_STATE_MIGRATING);
  SetRoute(1, kTarget, rv1::ROUTE_STATE_STABLE);
  ASSERT_TRUE(
      Eventually([&] { return GetFreeze().customers_on_source() == 1; }));
  // Customer 1 starts a rollback: a customer migrating back keeps the
  // freeze too, so customer 2 arriving on the target does not lift it.
  SetRoute(1, kTarget, rv1::ROUTE_STATE_MIGRATING);
  SetRoute(2, kSource, rv1::ROUTE_STATE_MIGRATING);
  SetRoute(2, kTarget, rv1::ROUTE_STATE_STABLE);
  ASSERT_TRUE(
      Eventually([&] { return GetFreeze().customers_on_source() == 1; }));
  EXPECT_EQ(GetFreeze().state(), v1::FREEZE_STATE_FROZEN_TARGET_OPEN);
  // The rollback is abandoned: nobody is left on the source.
  SetRoute(1, kTarget, rv1::ROUTE_STATE_STABLE);
  ASSERT_TRUE(Eventually(
      [&] { return GetFreeze().state() == v1::FREEZE_STATE_LIFTED; }));
  std::vector<v1::AuditEntry> audit = Audit(v1::AUDIT_KIND_FREEZE_TRANSITION);
  ASSERT_FALSE(audit.empty());
  EXPECT_TRUE(audit[0].transition().automatic());
  EXPECT_EQ(audit[0].stamp().actor(), "tandem-catalog");
  // The stream saw every transition, the automatic lift last.
  std::vector<v1::FreezeState> seen;
  while (seen.empty() || seen.back() != v1::FREEZE_STATE_LIFTED) {
    ASSERT_TRUE(reader->Read(&event));
    seen.push_back(event.transition().to_state());
  }
  EXPECT_THAT(seen, ::testing::ElementsAre(v1::FREEZE_STATE_FROZEN,
                                           v1::FREEZE_STATE_FROZEN_TARGET_OPEN,
                                           v1::FREEZE_STATE_LIFTED));
  EXPECT_TRUE(event.transition().automatic());
  watch_context.TryCancel();
  reader->Finish();
}

TEST_F(CatalogServiceTest, CheckChangeAnswersFromTheFreezeAndAuditsRefusals) {
  v1::Product mob_s = GetProduct(kSource, "MOB-S");
  v1::CheckChangeRequest req;
  req.set_system(kSource);
  req.set_product_id(mob_s.product_id());
  req.set_kind(v1::CHANGE_KIND_UPDATE_PRICE);
  req.set_on_behalf_of("billing-admin");
  req.set_detail("PUT /admin/products/1");
  v1::CheckChangeResponse response;
  ASSERT_TRUE(stub_->CheckChange(Ctx(kViewer).get(), req, &response).ok());
  EXPECT_TRUE(response.allowed());
  Freeze(v1::FREEZE_STATE_FROZEN);
  ASSERT_TRUE(stub_->CheckChange(Ctx(kViewer).get(), req, &response).ok());
  EXPECT_FALSE(response.allowed());
  EXPECT_EQ(response.refusal(), v1::CHANGE_REFUSAL_CATALOG_FROZEN);
  EXPECT_THAT(response.reason(), HasSubstr("(FROZEN): existing products"));
  req.set_dry_run(true);
  ASSERT_TRUE(stub_->CheckChange(Ctx(kViewer).get(), req, &response).ok());
  std::vector<v1::AuditEntry> refused = Audit(v1::AUDIT_KIND_CHANGE_REFUSED);
  ASSERT_EQ(refused.size(), 1u);  // the dry run left no trace
  EXPECT_EQ(refused[0].change().on_behalf_of(), "billing-admin");
  EXPECT_EQ(refused[0].change().detail(), "PUT /admin/products/1");
  EXPECT_EQ(refused[0].stamp().actor(), "victor");
  v1::CheckChangeRequest bad;
  bad.set_system(kSource);
  bad.set_kind(v1::CHANGE_KIND_DELETE);  // without a product id
  EXPECT_EQ(stub_->CheckChange(Ctx(kViewer).get(), bad, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(CatalogServiceTest,
       ThousandsOfChangeAttemptsDuringAFreezeNoneGetsThrough) {
  v1::Product product = Create(kSource, OwnSpec("RACE"));
  ASSERT_GT(product.product_id(), 0);
  std::atomic<int> applied{0}, refused{0}, aborted{0}, other{0};
  std::atomic<bool> freeze_started{false};
  constexpr int kThreads = 8;
  constexpr int kAttemptsPerThread = 150;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAttemptsPerThread; ++i) {
        v1::GetProductRequest get;
        get.set_system(kSource);
        get.set_product_id(product.product_id());
        v1::GetProductResponse current;
        if (!stub_->GetProduct(Ctx(kViewer).get(), get, &current).ok()) {
          ++other;
          continue;
        }
        v1::UpdateProductRequest req;
        req.set_system(kSource);
        req.set_product_id(product.product_id());
        req.set_expected_version(current.product().version());
        *req.mutable_spec() = current.product().spec();
        req.mutable_spec()->mutable_pricing()->set_monthly_fee_micros(
            (t * 1000 + i + 1) * 10);
        req.set_reason("race");
        v1::UpdateProductResponse response;
        grpc::Status status = stub_->UpdateProduct(Ctx().get(), req, &response);
        if (status.ok()) {
          ++applied;
        } else if (status.error_code() ==
                   grpc::StatusCode::FAILED_PRECONDITION) {
          ++refused;
        } else if (status.error_code() == grpc::StatusCode::ABORTED) {
          ++aborted;
        } else {
          ++other;
        }
        if (applied.load() >= 20) freeze_started = true;
      }
    });
  }
  ASSERT_TRUE(
      Eventually([&] { return freeze_started.load(); }, absl::Seconds(60)));
  Freeze(v1::FREEZE_STATE_FROZEN);
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(applied + refused + aborted, kThreads * kAttemptsPerThread);
  EXPECT_GT(refused.load(), 0);
  // Nothing applied after the freeze: every applied change precedes the
  // transition in the audit log.
  int64_t freeze_seq = Audit(v1::AUDIT_KIND_FREEZE_TRANSITION)[0].seq();
  std::vector<v1::AuditEntry> changes = Audit(v1::AUDIT_KIND_CHANGE_APPLIED);
  int updates = 0;
  for (const v1::AuditEntry& e : changes) {
    if (e.change().kind() == v1::CHANGE_KIND_UPDATE_PRICE) {
      ++updates;
      EXPECT_LT(e.seq(), freeze_seq);
    }
  }
  EXPECT_EQ(updates, applied.load());
  EXPECT_EQ(static_cast<int>(Audit(v1::AUDIT_KIND_CHANGE_REFUSED).size()),
            refused.load());
  // The billing system holds exactly what the catalog last applied.
  v1::Product after = GetProduct(kSource, product.spec().code());
  absl::StatusOr<std::vector<std::string>> fee = testbed_db->server->Query(
      absl::StrCat("SELECT ROUND(monthly_fee * 1000000) FROM products WHERE "
                   "i_product = ",
                   product.product_id()),
      "billing_v1");
  ASSERT_TRUE(fee.ok());
  ASSERT_EQ(fee->size(), 1u);
  EXPECT_EQ((*fee)[0],
            absl::StrCat(after.spec().pricing().monthly_fee_micros()));
  // And CheckChange, asked a thousand times at once, lets none through.
  std::atomic<int> allowed{0}, checked{0};
  std::vector<std::thread> checkers;
  for (int t = 0; t < 8; ++t) {
    checkers.emplace_back([&] {
      for (int i = 0; i < 125; ++i) {
        v1::CheckChangeRequest req;
        req.set_system(i % 2 == 0 ? kSource : kTarget);
        req.set_kind(i % 3 == 0 ? v1::CHANGE_KIND_CREATE
                                : v1::CHANGE_KIND_UPDATE_CONFIGURATION);
        req.set_product_id(i % 3 == 0 ? 0 : product.product_id());
        v1::CheckChangeResponse response;
        if (stub_->CheckChange(Ctx(kViewer).get(), req, &response).ok()) {
          ++checked;
          if (response.allowed()) ++allowed;
        }
      }
    });
  }
  for (std::thread& t : checkers) t.join();
  EXPECT_EQ(checked.load(), 1000);
  EXPECT_EQ(allowed.load(), 0);
}

TEST_F(CatalogServiceTest,
       AFreezeAcknowledgedByOneReplicaHoldsAtAnotherUnderConcurrentChecks) {
  v1::Product mob_s = GetProduct(kSource, "MOB-S");
  // Replica B on the same control database never polls by itself: its
  // cached freeze is certainly stale when A freezes.
  std::unique_ptr<CatalogServer> b = StartReplica(absl::Hours(1));
  ASSERT_NE(b, nullptr);
  auto b_stub = StubOf(*b);
  std::atomic<bool> acknowledged{false}, stop{false};
  std::atomic<int> allowed_before{0}, checked_after{0}, allowed_after{0},
      failed{0};
  std::vector<std::thread> checkers;
  for (int t = 0; t < 8; ++t) {
    checkers.emplace_back([&, t] {
      v1::CheckChangeRequest req;
      req.set_system(t % 2 == 0 ? kSource : kTarget);
      req.set_kind(t % 2 == 0 ? v1::CHANGE_KIND_UPDATE_PRICE
                              : v1::CHANGE_KIND_CREATE);
      req.set_product_id(t % 2 == 0 ? mob_s.product_id() : 0);
      req.set_dry_run(true);
      while (!stop.load()) {
        // Read before the call is sent: true means SetFreeze had answered.
        const bool after = acknowledged.load();
        v1::CheckChangeResponse response;
        if (!b_stub->CheckChange(Ctx(kViewer).get(), req, &response).ok()) {
          ++failed;
        } else if (!after) {
          allowed_before += response.allowed();
        } else {
          ++checked_after;
          allowed_after += response.allowed();
        }
      }
    });
  }
  // The checkers are running and being allowed before the freeze.
  ASSERT_TRUE(Eventually([&] { return allowed_before.load() >= 200; }));
  Freeze(v1::FREEZE_STATE_FROZEN);  // on replica A
  acknowledged = true;
  EXPECT_TRUE(Eventually([&] { return checked_after.load() >= 1000; }));
  stop = true;
  for (std::thread& t : checkers) t.join();
  EXPECT_EQ(allowed_after.load(), 0);
  EXPECT_EQ(failed.load(), 0);
  // B answered from the control database, and that had its cache catch up
  // without waiting for its (hour-long) poll.
  v1::GetFreezeResponse b_freeze;
  EXPECT_TRUE(Eventually([&] {
    return b_stub->GetFreeze(Ctx(kViewer).get(), {}, &b_freeze).ok() &&
           b_freeze.freeze().state() == v1::FREEZE_STATE_FROZEN;
  }));
  b->Shutdown(absl::Seconds(1));
}

TEST_F(CatalogServiceTest,
       ARetriedCreateAdoptsItsOwnProductAndCodesIgnoreCase) {
  // A crash after the catalog's billing write, before its control commit,
  // leaves the product on the billing system, unknown to the catalog.
  MysqlBillingCatalog billing(testbed_db->v2.get(), BillingSchemaVersion::kV2,
                              kTarget);
  v1::ProductSpec spec = OwnSpec("ADOPT");
  absl::StatusOr<int64_t> left = billing.CreateProduct(spec);
  ASSERT_TRUE(left.ok()) << left.status();
  v1::CreateProductRequest retry;
  retry.set_system(kTarget);
  *retry.mutable_spec() = spec;
  retry.set_reason("retry after a crash");
  retry.set_request_id(absl::StrCat("adopt-", control_db_));
  v1::CreateProductResponse adopted;
  grpc::Status status = stub_->CreateProduct(Ctx().get(), retry, &adopted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(adopted.product().product_id(), *left);
  EXPECT_EQ(Rows(absl::StrCat("SELECT COUNT(*) FROM products WHERE "
                              "product_code = '",
                              spec.code(), "'"),
                 "billing_v2"),
            std::vector<std::string>{"1"});
  ASSERT_EQ(Audit(v1::AUDIT_KIND_CHANGE_APPLIED).size(), 1u);
  // Codes are unique regardless of case, on both systems, and found so.
  for (auto system : {kSource, kTarget}) {
    v1::CreateProductRequest create;
    create.set_system(system);
    *create.mutable_spec() = OwnSpec("Case-Code");
    create.set_reason("first");
    v1::CreateProductResponse created;
    status = stub_->CreateProduct(Ctx().get(), create, &created);
    ASSERT_TRUE(status.ok()) << status.error_message();
    for (const std::string& code :
         {absl::AsciiStrToUpper(create.spec().code()),
          absl::AsciiStrToLower(create.spec().code())}) {
      v1::CreateProductRequest clash = create;
      clash.mutable_spec()->set_code(code);
      // A name of its own: the source system's names are unique too.
      clash.mutable_spec()->set_name(absl::StrCat("another name for ", code));
      EXPECT_EQ(stub_->CreateProduct(Ctx().get(), clash, &created).error_code(),
                grpc::StatusCode::ALREADY_EXISTS)
          << code;
    }
    EXPECT_EQ(GetProduct(system, absl::AsciiStrToUpper(create.spec().code()))
                  .spec()
                  .code(),
              create.spec().code());
  }
  EXPECT_EQ(Audit(v1::AUDIT_KIND_CHANGE_APPLIED).size(), 3u);
}

TEST_F(CatalogServiceTest, MappingsOfTheDemoCatalogShowEveryRuleOfMappingMd) {
  v1::ProposeMappingsRequest propose;  // by code, then by name
  v1::ProposeMappingsResponse proposals;
  ASSERT_TRUE(
      stub_->ProposeMappings(Ctx(kViewer).get(), propose, &proposals).ok());
  // Every demo product has its counterpart but the v1-only FIX-ISDN; only
  // products other tests made on the shared billing databases may not.
  for (int64_t id : proposals.unmatched_source_product_ids()) {
    v1::GetProductRequest get;
    get.set_system(kSource);
    get.set_product_id(id);
    v1::GetProductResponse unmatched;
    ASSERT_TRUE(stub_->GetProduct(Ctx(kViewer).get(), get, &unmatched).ok());
    if (unmatched.product().spec().code() == "FIX-ISDN") continue;
    EXPECT_THAT(unmatched.product().spec().code(), HasSubstr("-catalog_"));
  }
  for (const v1::MappingProposal& p : proposals.proposals()) {
    // BB-250 is FIBER-250 on v2: the same name, another code.
    EXPECT_EQ(p.matched_by(), p.source_product_id() == 17 ? v1::MATCH_BY_NAME
                                                          : v1::MATCH_BY_CODE);
    v1::SetMappingRequest set;
    set.set_source_product_id(p.source_product_id());
    set.set_target_product_id(p.target_product_id());
    set.set_origin(v1::MAPPING_ORIGIN_PROPOSED);
    set.set_reason("accept proposal");
    v1::SetMappingResponse mapped;
    grpc::Status status = stub_->SetMapping(Ctx().get(), set, &mapped);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  // With every product mapped (add-ons included), what each mapping does.
  v1::ListMappingsRequest list;
  v1::ListMappingsResponse mappings;
  ASSERT_TRUE(stub_->ListMappings(Ctx(kViewer).get(), list, &mappings).ok());
  EXPECT_EQ(mappings.mappings_size(), proposals.proposals_size());
  std::map<std::string, v1::ProductComparison> by_code;
  std::map<std::string, v1::Mapping> mapping_of;
  for (const v1::Mapping& m : mappings.mappings()) {
    v1::GetProductRequest get;
    get.set_system(kSource);
    get.set_product_id(m.source_product_id());
    v1::GetProductResponse source;
    ASSERT_TRUE(stub_->GetProduct(Ctx(kViewer).get(), get, &source).ok());
    by_code[source.product().spec().code()] = m.comparison();
    mapping_of[source.product().spec().code()] = m;
  }
  ASSERT_TRUE(by_code.count("MOB-S"));
  auto comparison_of = [&](const std::string& code, const std::string& type) {
    for (const auto& r : by_code[code].resource_types()) {
      if (r.source_code() == type) return r;
    }
    return v1::ResourceTypeComparison();
  };
  EXPECT_EQ(comparison_of("MOB-S", "data_mb").comparison(),
            v1::RESOURCE_COMPARISON_LIMIT_LOWERED);
  EXPECT_EQ(comparison_of("IOT-10", "sms").comparison(),
            v1::RESOURCE_COMPARISON_LIMIT_ZERO);
  EXPECT_EQ(comparison_of("FIX-BASIC", "sip_channels").comparison(),
            v1::RESOURCE_COMPARISON_TAKEN_OVER);
  EXPECT_EQ(comparison_of("FIX-BASIC", "sip_channels").target_code(),
            "voice_channels");
  EXPECT_EQ(comparison_of("FIX-PRO", "mailboxes").comparison(),
            v1::RESOURCE_COMPARISON_MISSING);
  EXPECT_TRUE(by_code["BB-1000"].activation_parameters_differ());
  EXPECT_EQ(by_code["MOB-BIZ"].addons_not_carried_product_ids_size(), 1);
  EXPECT_TRUE(by_code["MOB-M"].clean());

  // Plans for every generated customer: each refusal is an overusage or the
  // v1-only FIX-ISDN (the refusing rules the demo catalog holds), and
  // allowing overuse lets every customer without FIX-ISDN move.
  v1::PlanCustomersRequest plan;
  for (int i = 1; i <= 60; ++i) plan.add_customer_ids(i);
  plan.set_summary_only(true);
  v1::PlanCustomersResponse plans;
  ASSERT_TRUE(stub_->PlanCustomers(Ctx(kViewer).get(), plan, &plans).ok());
  EXPECT_EQ(plans.customers_failed(), 0);
  EXPECT_EQ(plans.customers_can_move() + plans.customers_refused(), 60);
  // The generated customers include some refused (above MOB-S's lowered
  // data limit, or holding the unmapped FIX-ISDN); without them the loop
  // below would check nothing.
  ASSERT_GT(plans.customers_refused(), 0);
  int refused_checked = 0;
  int without_mapping = 0;
  for (const v1::CustomerPlanResult& r : plans.results()) {
    if (r.plan().can_move()) continue;
    ASSERT_GT(r.plan().reasons_size(), 0) << r.customer_id();
    bool no_mapping = false;
    for (const std::string& reason : r.plan().reasons()) {
      if (absl::StrContains(reason, "FIX-ISDN has no mapping")) {
        no_mapping = true;
      } else {
        EXPECT_THAT(reason, HasSubstr("resource overusage: data_mb"));
      }
    }
    without_mapping += no_mapping;
    ++refused_checked;
  }
  EXPECT_GT(without_mapping, 0);
  EXPECT_EQ(refused_checked, plans.customers_refused());
  EXPECT_GT(plans.outcome_counts_size(), 1);
  v1::GetSettingsResponse settings;
  ASSERT_TRUE(stub_->GetSettings(Ctx(kViewer).get(), {}, &settings).ok());
  v1::UpdateSettingsRequest allow;
  allow.set_allow_overuse_default(true);
  allow.set_auto_lift(true);
  allow.set_expected_version(settings.settings().version());
  allow.set_reason("rehearsal with overuse");
  v1::UpdateSettingsResponse updated;
  ASSERT_TRUE(stub_->UpdateSettings(Ctx().get(), allow, &updated).ok());
  ASSERT_TRUE(stub_->PlanCustomers(Ctx(kViewer).get(), plan, &plans).ok());
  EXPECT_EQ(plans.customers_can_move(), 60 - without_mapping);

  // A mapping deleted, then set again: the very next plans follow each.
  ASSERT_TRUE(mapping_of.count("MOB-M"));
  const v1::Mapping* mob_m = &mapping_of["MOB-M"];
  v1::DeleteMappingRequest del;
  del.set_source_product_id(mob_m->source_product_id());
  del.set_expected_version(mob_m->version());
  del.set_reason("rehearsal without MOB-M");
  v1::DeleteMappingResponse deleted;
  ASSERT_TRUE(stub_->DeleteMapping(Ctx().get(), del, &deleted).ok());
  v1::PlanCustomersResponse without_mob_m;
  ASSERT_TRUE(
      stub_->PlanCustomers(Ctx(kViewer).get(), plan, &without_mob_m).ok());
  int refused_for_mob_m = 0;
  for (const v1::CustomerPlanResult& r : without_mob_m.results()) {
    for (const std::string& reason : r.plan().reasons()) {
      refused_for_mob_m += absl::StrContains(reason, "MOB-M has no mapping");
    }
  }
  EXPECT_GT(refused_for_mob_m, 0);
  EXPECT_LT(without_mob_m.customers_can_move(), plans.customers_can_move());
  v1::SetMappingRequest again;
  again.set_source_product_id(mob_m->source_product_id());
  again.set_target_product_id(mob_m->target_product_id());
  again.set_origin(v1::MAPPING_ORIGIN_PROPOSED);
  again.set_reason("MOB-M back");
  v1::SetMappingResponse remapped;
  ASSERT_TRUE(stub_->SetMapping(Ctx().get(), again, &remapped).ok());
  v1::PlanCustomersResponse with_mob_m;
  ASSERT_TRUE(stub_->PlanCustomers(Ctx(kViewer).get(), plan, &with_mob_m).ok());
  EXPECT_EQ(with_mob_m.customers_can_move(), plans.customers_can_move());
}

TEST_F(CatalogServiceTest, PlanCustomerReportsSubscriptionsAndBadInput) {
  v1::PlanCustomerRequest req;
  req.set_customer_id(3);
  v1::PlanCustomerResponse response;
  ASSERT_TRUE(stub_->PlanCustomer(Ctx(kViewer).get(), req, &response).ok());
  ASSERT_GT(response.plan().subscriptions_size(), 0);
  // Nothing is mapped yet.
  EXPECT_FALSE(response.plan().can_move());
  EXPECT_EQ(response.plan().subscriptions(0).outcomes(0),
            v1::PLAN_OUTCOME_REFUSED_NO_MAPPING);
  req.set_customer_id(999999);
  EXPECT_EQ(
      stub_->PlanCustomer(Ctx(kViewer).get(), req, &response).error_code(),
      grpc::StatusCode::NOT_FOUND);
  req.set_customer_id(-1);
  EXPECT_EQ(
      stub_->PlanCustomer(Ctx(kViewer).get(), req, &response).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
  v1::PlanCustomersRequest many;
  for (int i = 1; i <= 1001; ++i) many.add_customer_ids(i);
  v1::PlanCustomersResponse plans;
  EXPECT_EQ(stub_->PlanCustomers(Ctx(kViewer).get(), many, &plans).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::PlanCustomersRequest mixed;
  mixed.add_customer_ids(3);
  mixed.add_customer_ids(999999);
  ASSERT_TRUE(stub_->PlanCustomers(Ctx(kViewer).get(), mixed, &plans).ok());
  EXPECT_EQ(plans.customers_failed(), 1);
  EXPECT_EQ(plans.results(1).error_code(), "NOT_FOUND");
}

TEST_F(CatalogServiceTest,
       BadMappingsAndProductChangesAreRefusedAndChangeNothing) {
  // What "nothing" is: the billing systems' products, the catalog's
  // products and mappings, and the freeze.
  auto billing_products = [] {
    return std::make_pair(
        Rows("SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS(',', i_product, "
             "code, monthly_fee))), 0) FROM products",
             "billing_v1"),
        Rows("SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS(',', "
             "product_id, product_code, monthly_fee_micros))), 0) FROM "
             "products",
             "billing_v2"));
  };
  auto catalog_rows = [&] {
    return Rows(
        "SELECT (SELECT COUNT(*) FROM catalog_products), (SELECT "
        "COALESCE(SUM(version), 0) FROM catalog_products), (SELECT COUNT(*) "
        "FROM catalog_mappings), (SELECT revision FROM catalog_counters)",
        control_db_);
  };
  const auto billing_before = billing_products();
  const std::vector<std::string> catalog_before = catalog_rows();
  ASSERT_EQ(catalog_before.size(), 1u);
  v1::Product mob_s = GetProduct(kSource, "MOB-S");
  v1::Product add_sms_target = GetProduct(kTarget, "ADD-SMS");
  v1::SetMappingRequest set;
  set.set_source_product_id(mob_s.product_id());
  set.set_target_product_id(add_sms_target.product_id());
  set.set_reason("wrong kind");
  v1::SetMappingResponse mapped;
  EXPECT_EQ(stub_->SetMapping(Ctx().get(), set, &mapped).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  set.set_target_product_id(424242);
  EXPECT_EQ(stub_->SetMapping(Ctx().get(), set, &mapped).error_code(),
            grpc::StatusCode::NOT_FOUND);
  set.set_target_product_id(GetProduct(kTarget, "MOB-S").product_id());
  EXPECT_EQ(stub_->SetMapping(Ctx(kViewer).get(), set, &mapped).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // The wrong way round: a target product as the source.
  v1::SetMappingRequest reversed = set;
  reversed.set_source_product_id(GetProduct(kTarget, "MOB-5G").product_id());
  EXPECT_EQ(stub_->SetMapping(Ctx().get(), reversed, &mapped).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(Audit(v1::AUDIT_KIND_MAPPING_CHANGED).empty());
  EXPECT_EQ(catalog_rows(), catalog_before);
  ASSERT_TRUE(stub_->SetMapping(Ctx().get(), set, &mapped).ok());
  EXPECT_EQ(mapped.mapping().version(), 1);
  EXPECT_FALSE(mapped.warnings().empty());  // data_mb limit lowered
  EXPECT_EQ(stub_->SetMapping(Ctx().get(), set, &mapped).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
  v1::DeleteMappingRequest del;
  del.set_source_product_id(mob_s.product_id());
  del.set_expected_version(5);
  v1::DeleteMappingResponse deleted;
  EXPECT_EQ(stub_->DeleteMapping(Ctx().get(), del, &deleted).error_code(),
            grpc::StatusCode::ABORTED);
  del.set_expected_version(1);
  EXPECT_TRUE(stub_->DeleteMapping(Ctx().get(), del, &deleted).ok());

  v1::CreateProductRequest create;
  create.set_system(kSource);
  *create.mutable_spec() = OwnSpec("BAD code!");
  v1::CreateProductResponse created;
  EXPECT_EQ(stub_->CreateProduct(Ctx().get(), create, &created).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  *create.mutable_spec() = OwnSpec("DUP");
  create.mutable_spec()->set_code("MOB-S");
  EXPECT_EQ(stub_->CreateProduct(Ctx().get(), create, &created).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
  *create.mutable_spec() = OwnSpec("NOTYPE");
  create.mutable_spec()->mutable_resource_types(0)->set_code("no_such_type");
  EXPECT_EQ(stub_->CreateProduct(Ctx().get(), create, &created).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::GetProductRequest get;
  get.set_system(kSource);
  get.set_product_id(987654);
  v1::GetProductResponse got;
  EXPECT_EQ(stub_->GetProduct(Ctx(kViewer).get(), get, &got).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(Audit(v1::AUDIT_KIND_CHANGE_APPLIED).empty());
  // The refused creates wrote nothing to either side; the catalog holds
  // what it held, but for the one mapping set and deleted above (which
  // moved the revision twice).
  EXPECT_EQ(billing_products(), billing_before);
  const std::vector<std::string> catalog_after = catalog_rows();
  ASSERT_EQ(catalog_after.size(), 1u);
  std::vector<std::string> before = absl::StrSplit(catalog_before[0], '\t');
  std::vector<std::string> after = absl::StrSplit(catalog_after[0], '\t');
  ASSERT_EQ(before.size(), 4u);
  ASSERT_EQ(after.size(), 4u);
  EXPECT_EQ(after[0], before[0]);  // products
  EXPECT_EQ(after[1], before[1]);  // their versions
  EXPECT_EQ(after[2], before[2]);  // mappings
  int64_t revision_before = 0, revision_after = 0;
  ASSERT_TRUE(absl::SimpleAtoi(before[3], &revision_before));
  ASSERT_TRUE(absl::SimpleAtoi(after[3], &revision_after));
  EXPECT_EQ(revision_after, revision_before + 2);
  EXPECT_EQ(GetFreeze().version(), 1);
}

TEST_F(CatalogServiceTest, GeneratesMissingProductsOnceAndOnlyWhenAllowed) {
  v1::Product addon =
      Create(kSource, OwnSpec("GEN-ADDON", v1::PRODUCT_KIND_ADDON));
  v1::ProductSpec main_spec = OwnSpec("GEN-MAIN");
  main_spec.add_addon_product_ids(addon.product_id());
  v1::Product main = Create(kSource, main_spec);
  v1::GenerateMissingProductsRequest req;
  req.add_source_product_ids(main.product_id());
  req.set_reason("clone for the move");
  req.set_request_id(absl::StrCat("gen-", control_db_));
  Freeze(v1::FREEZE_STATE_FROZEN);
  v1::GenerateMissingProductsResponse response;
  EXPECT_EQ(
      stub_->GenerateMissingProducts(Ctx().get(), req, &response).error_code(),
      grpc::StatusCode::FAILED_PRECONDITION);
  Freeze(v1::FREEZE_STATE_FROZEN_TARGET_OPEN);
  grpc::Status status =
      stub_->GenerateMissingProducts(Ctx().get(), req, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.generated_size(), 2);  // the add-on came along
  const v1::GeneratedProduct& clone =
      response.generated(0).source_product_id() == main.product_id()
          ? response.generated(0)
          : response.generated(1);
  EXPECT_EQ(clone.target_product().spec().code(), main.spec().code());
  EXPECT_EQ(clone.mapping().origin(), v1::MAPPING_ORIGIN_GENERATED);
  EXPECT_TRUE(clone.mapping().comparison().clean());
  EXPECT_TRUE(clone.target_product().frozen());
  EXPECT_EQ(clone.target_product().cloned_from_product_id(), main.product_id());
  // The same request again returns the same clones; a new one clones none.
  v1::GenerateMissingProductsResponse again;
  ASSERT_TRUE(stub_->GenerateMissingProducts(Ctx().get(), req, &again).ok());
  EXPECT_EQ(again.generated(0).target_product().product_id(),
            response.generated(0).target_product().product_id());
  req.set_request_id(absl::StrCat("gen2-", control_db_));
  ASSERT_TRUE(stub_->GenerateMissingProducts(Ctx().get(), req, &again).ok());
  EXPECT_EQ(again.generated_size(), 0);
  ASSERT_EQ(again.skipped_size(), 1);
  EXPECT_THAT(again.skipped(0).reason(), HasSubstr("already mapped"));
  EXPECT_EQ(Audit(v1::AUDIT_KIND_PRODUCT_GENERATED).size(), 2u);
  // The clone is a mapping target: frozen although new on the target.
  v1::UpdateProductRequest update;
  update.set_system(kTarget);
  update.set_product_id(clone.target_product().product_id());
  update.set_expected_version(1);
  *update.mutable_spec() = clone.target_product().spec();
  update.mutable_spec()->set_name("renamed");
  v1::UpdateProductResponse updated;
  grpc::Status frozen = stub_->UpdateProduct(Ctx().get(), update, &updated);
  EXPECT_EQ(frozen.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(frozen.error_message(), HasSubstr("a mapping points at"));
  // A brand-new target product is free to change.
  v1::Product fresh = Create(kTarget, OwnSpec("FRESH"));
  update.set_product_id(fresh.product_id());
  *update.mutable_spec() = fresh.spec();
  update.mutable_spec()->mutable_pricing()->set_monthly_fee_micros(12345678);
  status = stub_->UpdateProduct(Ctx().get(), update, &updated);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(updated.product().version(), 2);
}

TEST_F(CatalogServiceTest, RefreshReportsFrozenProductsChangedBehindItsBack) {
  v1::Product product = Create(kTarget, OwnSpec("DRIFT"));
  Freeze(v1::FREEZE_STATE_FROZEN);
  ASSERT_TRUE(testbed_db->server
                  ->Query(absl::StrCat("UPDATE products SET "
                                       "monthly_fee_micros = 1 WHERE "
                                       "product_id = ",
                                       product.product_id()),
                          "billing_v2")
                  .ok());
  v1::RefreshProductsRequest req;
  req.set_system(kTarget);
  v1::RefreshProductsResponse response;
  ASSERT_TRUE(stub_->RefreshProducts(Ctx().get(), req, &response).ok());
  ASSERT_EQ(response.drift_size(), 1);
  EXPECT_EQ(response.drift(0).product_id(), product.product_id());
  EXPECT_EQ(response.drift(0).kind(), v1::CHANGE_KIND_UPDATE_PRICE);
  EXPECT_EQ(Audit(v1::AUDIT_KIND_DRIFT_DETECTED).size(), 1u);
  EXPECT_EQ(GetProduct(kTarget, product.spec().code())
                .spec()
                .pricing()
                .monthly_fee_micros(),
            1);
  // Idempotent: nothing new the second time.
  ASSERT_TRUE(stub_->RefreshProducts(Ctx().get(), req, &response).ok());
  EXPECT_EQ(response.drift_size(), 0);
  EXPECT_EQ(response.products_changed(), 0);
  // A product created, and one deleted, on the billing system while frozen.
  std::string code = absl::StrCat("SNEAKY-", control_db_);
  ASSERT_TRUE(
      testbed_db->server
          ->Query(absl::StrCat(
                      "INSERT INTO products (product_code, display_name, "
                      "category, contract_pool, is_addon, monthly_fee_micros, "
                      "currency, activation_params, updated_at) VALUES ('",
                      code, "', 'x', 'x', 'x', 0, 1, 'EUR', '{}', NOW(3))"),
                  "billing_v2")
          .ok());
  ASSERT_TRUE(testbed_db->server
                  ->Query(absl::StrCat("DELETE FROM products WHERE "
                                       "product_id = ",
                                       product.product_id()),
                          "billing_v2")
                  .ok());
  ASSERT_TRUE(stub_->RefreshProducts(Ctx().get(), req, &response).ok());
  ASSERT_EQ(response.drift_size(), 2) << response.DebugString();
  std::set<v1::ChangeKind> kinds = {response.drift(0).kind(),
                                    response.drift(1).kind()};
  EXPECT_EQ(kinds, (std::set<v1::ChangeKind>{v1::CHANGE_KIND_CREATE,
                                             v1::CHANGE_KIND_DELETE}));
  EXPECT_EQ(response.products_added(), 1);
  EXPECT_EQ(response.products_removed(), 1);
  EXPECT_EQ(Audit(v1::AUDIT_KIND_DRIFT_DETECTED).size(), 3u);
}

TEST_F(CatalogServiceTest, EveryMethodNeedsATokenAndMutationsNeedAnOperator) {
  // Each call with `token`; the requests are valid enough that only the
  // credentials can refuse them.
  using Call = std::function<grpc::Status(const std::string& token)>;
  struct Case {
    const char* name;
    bool mutation;
    Call run;
  };
  v1::SetFreezeRequest set_freeze;
  set_freeze.set_state(v1::FREEZE_STATE_FROZEN);
  set_freeze.set_reason("auth");
  v1::CheckChangeRequest check;
  check.set_system(kSource);
  check.set_kind(v1::CHANGE_KIND_CREATE);
  v1::GetProductRequest get_product;
  get_product.set_system(kSource);
  get_product.set_code("MOB-S");
  v1::CreateProductRequest create;
  create.set_system(kTarget);
  *create.mutable_spec() = OwnSpec("AUTH");
  v1::PlanCustomerRequest plan;
  plan.set_customer_id(1);
  v1::PlanCustomersRequest plans;
  plans.add_customer_ids(1);
  v1::UpdateSettingsRequest settings;
  settings.set_expected_version(1);
  settings.set_auto_lift(true);
  v1::SetMappingRequest mapping;
  mapping.set_source_product_id(1);
  mapping.set_target_product_id(1);
  v1::DeleteMappingRequest delete_mapping;
  delete_mapping.set_source_product_id(1);
  v1::UpdateProductRequest update;
  update.set_system(kSource);
  update.set_product_id(1);
  *update.mutable_spec() = OwnSpec("AUTH2");
  v1::DeleteProductRequest delete_product;
  delete_product.set_system(kSource);
  delete_product.set_product_id(1);
  auto* s = stub_.get();
#define TANDEM_CASE(Method, mutation, request)                                  \
  Case {                                                                        \
#Method, mutation, [s, req = request](const std::string& token) {             \
      v1::Method##Response response;                                        \
      return s->Method(Ctx(token).get(), req, &response);               \
    } \
  }
  std::vector<Case> cases = {
      TANDEM_CASE(GetFreeze, false, v1::GetFreezeRequest()),
      TANDEM_CASE(SetFreeze, true, set_freeze),
      TANDEM_CASE(CheckChange, false, check),
      TANDEM_CASE(ListFreezeAudit, false, v1::ListFreezeAuditRequest()),
      TANDEM_CASE(ListProducts, false, v1::ListProductsRequest()),
      TANDEM_CASE(GetProduct, false, get_product),
      TANDEM_CASE(RefreshProducts, true, v1::RefreshProductsRequest()),
      TANDEM_CASE(CreateProduct, true, create),
      TANDEM_CASE(UpdateProduct, true, update),
      TANDEM_CASE(DeleteProduct, true, delete_product),
      TANDEM_CASE(SetMapping, true, mapping),
      TANDEM_CASE(ListMappings, false, v1::ListMappingsRequest()),
      TANDEM_CASE(DeleteMapping, true, delete_mapping),
      TANDEM_CASE(ProposeMappings, false, v1::ProposeMappingsRequest()),
      TANDEM_CASE(GenerateMissingProducts, true,
                  v1::GenerateMissingProductsRequest()),
      TANDEM_CASE(GetSettings, false, v1::GetSettingsRequest()),
      TANDEM_CASE(UpdateSettings, true, settings),
      TANDEM_CASE(PlanCustomer, false, plan),
      TANDEM_CASE(PlanCustomers, false, plans),
  };
#undef TANDEM_CASE
  for (const Case& c : cases) {
    EXPECT_EQ(c.run("").error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << c.name;
    EXPECT_EQ(c.run("not-a-known-token-at-all").error_code(),
              grpc::StatusCode::UNAUTHENTICATED)
        << c.name;
    grpc::Status as_viewer = c.run(kViewer);
    if (c.mutation) {
      EXPECT_EQ(as_viewer.error_code(), grpc::StatusCode::PERMISSION_DENIED)
          << c.name;
    } else {
      EXPECT_TRUE(as_viewer.ok())
          << c.name << ": " << as_viewer.error_message();
    }
  }
  // Nothing changed: no audit entries, the freeze still OPEN at version 1.
  EXPECT_EQ(GetFreeze().version(), 1);
  for (v1::AuditKind kind :
       {v1::AUDIT_KIND_FREEZE_TRANSITION, v1::AUDIT_KIND_CHANGE_APPLIED,
        v1::AUDIT_KIND_MAPPING_CHANGED, v1::AUDIT_KIND_SETTINGS_CHANGED}) {
    EXPECT_TRUE(Audit(kind).empty()) << v1::AuditKind_Name(kind);
  }
}

}  // namespace
}  // namespace tandem::catalog
