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
#include "testbed/traffic/portal_traffic.h"
#include "tests/migrator/migrator_fixture.h"
#include "tests/testing/eventually.h"

namespace tandem::migrator::testing {
namespace {

using ::tandem::common::v1::SYSTEM_SOURCE;
using ::tandem::common::v1::SYSTEM_TARGET;

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
  auto portal = (*env)->StartPortal(absl::Seconds(30));
  ASSERT_TRUE(portal.ok()) << portal.status();

  const std::vector<int64_t> moving = (*env)->MovableCustomers(4);
  ASSERT_EQ(moving.size(), 4u);

  // Visits run in rounds until every move is over, so the moves always
  // happen under traffic whatever the machine's speed.
  std::atomic<bool> moves_over{false};
  testbed::TrafficReport traffic;
  absl::Status traffic_status;
  std::thread visits([&] {
    testbed::PortalTrafficOptions o;
    o.port = (*portal)->proxy->port();
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
}

}  // namespace
}  // namespace tandem::migrator::testing
