// Customers moved while the charging dispatcher (following routes) and a
// legacy rating job (route-blind, 10 % of the writes) write to them: the
// ledger checker, asking the router who holds each customer, finds every
// write exactly once on that system and every balance equal to its opening
// plus its transactions; nothing extra (the move booked no financial rows of
// its own); VerifyCustomer is equal once the tail ended.
#include <gtest/gtest.h>

#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "prometheus/registry.h"
#include "router/client/route_cache.h"
#include "testbed/traffic/charging.h"
#include "testbed/traffic/ledger_check.h"
#include "testbed/traffic/route_view.h"
#include "tests/migrator/migrator_fixture.h"
#include "tests/testing/eventually.h"

namespace tandem::migrator::testing {
namespace {

TEST(MigratorTrafficTest,
     MovedUnderChargingAndBlindWritesNothingIsLostOrDoubled) {
  EnvOptions options;
  options.datagen.customers = 80;
  options.datagen.accounts = 500;
  options.datagen.xdrs = 5000;
  options.datagen.large_customers = 0;
  options.datagen.huge_accounts = 0;
  auto env = MigratorEnv::Start(options);
  ASSERT_TRUE(env.ok()) << env.status();
  auto migrator = (*env)->StartMigrator([](MigratorServerOptions& o) {
    o.mover.tail_window = absl::Seconds(6);
    o.mover.tail_interval = absl::Milliseconds(200);
    o.backend.parallelism = 3;
  });
  ASSERT_TRUE(migrator.ok()) << migrator.status();
  auto stub = MigratorStub((*migrator)->port());
  std::vector<int64_t> moving = (*env)->MovableCustomers(6);
  ASSERT_GE(moving.size(), 6u);

  // The dispatcher follows the router's Watch, like the proxy does.
  router::RouteCacheOptions cache_options;
  cache_options.target = absl::StrCat("127.0.0.1:", (*env)->router().port());
  cache_options.token = kViewerToken;
  auto cache = router::RouteCache::Start(cache_options);
  ASSERT_TRUE(cache->WaitForSync(absl::Seconds(10)));
  testbed::CacheRouteView routes(cache.get());
  testbed::ChargingTargets targets{&(*env)->testbed().v1(),
                                   &(*env)->testbed().v2(), &routes};
  const std::string ledger =
      absl::StrCat((*env)->testbed().control_server().dir(), "/ledger.jsonl");
  testbed::ChargingOptions charging;
  charging.rate = 150;
  charging.duration = absl::Seconds(5);
  charging.focus_customers = moving;
  charging.focus_share = 0.7;
  charging.route_blind_share = 0.1;
  charging.connections = 3;
  charging.ledger_path = ledger;
  absl::StatusOr<testbed::TrafficReport> report;
  std::thread load([&] { report = testbed::RunCharging(targets, charging); });

  // Moves while the load runs: each customer is held, flipped, released.
  std::vector<int64_t> batches;
  for (int64_t c : moving) {
    v1::MoveCustomerRequest request;
    request.set_customer_id(c);
    request.set_request_id(absl::StrCat("traffic-", c));
    v1::MoveCustomerResponse response;
    grpc::Status s =
        stub->MoveCustomer(MigratorEnv::Ctx().get(), request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    batches.push_back(response.batch().batch_id());
  }
  load.join();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->Failures(), 0) << report->ToText();
  EXPECT_GT(report->by_operation["blind"], 0) << report->ToText();
  EXPECT_GT(report->by_system["target"], 0) << report->ToText();

  // Every move finished, its tail window over.
  for (int64_t b : batches) {
    EXPECT_TRUE(
        AwaitBatchState(*stub, b, v1::BATCH_STATE_COMPLETED, absl::Seconds(90)))
        << "batch " << b;
  }
  int64_t carried = 0;
  for (size_t i = 0; i < moving.size(); ++i) {
    auto item = (*migrator)->store().GetItem(batches[i], moving[i]);
    ASSERT_TRUE(item.ok()) << item.status();
    EXPECT_EQ(item->item.state(), v1::ITEM_STATE_DONE)
        << item->item.DebugString();
    carried += item->item.late_writes_carried();
    EXPECT_EQ((*env)->Route(moving[i]).system(),
              ::tandem::common::v1::SYSTEM_TARGET);
  }
  // The legacy job wrote to moved customers on the source after their flip:
  // the tail carried it.
  EXPECT_GT(carried, 0);

  auto holders = testbed::RouterHolders(
      absl::StrCat("127.0.0.1:", (*env)->router().port()), kViewerToken);
  auto check = testbed::CheckLedger(ledger, (*env)->testbed().v1(),
                                    &(*env)->testbed().v2(), *holders);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_TRUE(check->ok()) << absl::StrJoin(check->problems, "\n");
  EXPECT_GT(check->on_target, 0);

  for (int64_t c : moving) {
    v1::VerifyCustomerRequest request;
    request.set_customer_id(c);
    v1::VerifyCustomerResponse verified;
    ASSERT_TRUE(stub->VerifyCustomer(MigratorEnv::Ctx(kViewerToken).get(),
                                     request, &verified)
                    .ok());
    EXPECT_TRUE(verified.verification().equal())
        << c << ": " << verified.verification().DebugString();
  }
}

// The tail's round count, from the migrator's phase histogram.
uint64_t TailRounds(prometheus::Registry& registry) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != "tandem_migrator_phase_seconds") continue;
    for (const prometheus::ClientMetric& m : family.metric) {
      for (const prometheus::ClientMetric::Label& l : m.label) {
        if (l.name == "phase" && l.value == "tail_round") {
          return m.histogram.sample_count;
        }
      }
    }
  }
  return 0;
}

TEST(MigratorTrafficTest, AQuietTailIsProbedLessAndStillCarriesALateWrite) {
  auto env = MigratorEnv::Start(SmallPopulation(10, 50, 500));
  ASSERT_TRUE(env.ok()) << env.status();
  auto migrator = (*env)->StartMigrator([](MigratorServerOptions& o) {
    o.mover.tail_window = absl::Seconds(10);
    o.mover.tail_interval = absl::Milliseconds(200);
    o.backend.tail_quiet_backoff = 8;
  });
  ASSERT_TRUE(migrator.ok()) << migrator.status();
  const std::vector<int64_t> movable = (*env)->MovableCustomers(1);
  ASSERT_FALSE(movable.empty());
  const int64_t c = movable[0];
  auto stub = MigratorStub((*migrator)->port());
  v1::MoveCustomerRequest request;
  request.set_customer_id(c);
  request.set_reason("quiet tail");
  v1::MoveCustomerResponse response;
  ASSERT_TRUE(
      stub->MoveCustomer(MigratorEnv::Ctx().get(), request, &response).ok());
  MoveStore& store = (*migrator)->store();
  auto item = [&]() -> std::optional<ItemRecord> {
    absl::StatusOr<std::optional<ItemRecord>> r = store.LatestItem(c);
    return r.ok() ? *r : std::nullopt;
  };
  ASSERT_TRUE(::tandem::testing::Eventually([&] {
    std::optional<ItemRecord> r = item();
    return r.has_value() && r->item.state() == v1::ITEM_STATE_TAIL;
  }));
  prometheus::Registry& registry = (*migrator)->registry();
  ASSERT_TRUE(
      ::tandem::testing::Eventually([&] { return TailRounds(registry) >= 1; }));
  // Nothing is written: the probes come 2, 4, 8 intervals apart, so four
  // more rounds take 0.4 + 0.8 + 1.6 + 1.6 s, not four intervals (0.8 s).
  const uint64_t first = TailRounds(registry);
  const absl::Time quiet_from = absl::Now();
  ASSERT_TRUE(::tandem::testing::Eventually(
      [&] { return TailRounds(registry) >= first + 4; }, absl::Seconds(15)));
  EXPECT_GE(absl::Now() - quiet_from, absl::Milliseconds(2500));
  // A route-blind write on the old side is still carried before the window
  // ends, once.
  ASSERT_TRUE(
      (*env)
          ->testbed()
          .source_server()
          .Execute(
              absl::StrCat(
                  "INSERT INTO xdrs (i_account, i_customer, connect_time, "
                  "duration, charged_amount, CLI, CLD) SELECT i_account, "
                  "i_customer, NOW(), 60, 0.5, '1', '2' FROM accounts WHERE "
                  "i_customer = ",
                  c, " ORDER BY i_account LIMIT 1"),
              testbed::Testbed::kSourceDb)
          .ok());
  ASSERT_TRUE(::tandem::testing::Eventually([&] {
    std::optional<ItemRecord> r = item();
    return r.has_value() && r->item.late_writes_carried() == 1;
  }));
  ASSERT_TRUE(::tandem::testing::Eventually(
      [&] {
        std::optional<ItemRecord> r = item();
        return r.has_value() && r->item.state() == v1::ITEM_STATE_DONE;
      },
      absl::Seconds(30)));
  EXPECT_EQ(item()->item.late_writes_carried(), 1);
}

}  // namespace
}  // namespace tandem::migrator::testing
