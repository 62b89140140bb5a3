// tandem-traffic charging as a dispatcher, against three real servers and a
// real router: where each write goes for each route state (SOURCE, TARGET,
// MIGRATING then the flip, refused as exported then re-routed, blind), calls
// that started before a flip, and the ledger checker agreeing.
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "testbed/reference/v1_to_v2.h"
#include "testbed/traffic/charging.h"
#include "testbed/traffic/ledger.h"
#include "tests/testbed/traffic/charging_world.h"
#include "tests/testing/eventually.h"

namespace tandem::testbed {
namespace {

using tandem::testing::Eventually;

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestbedOptions o;
    o.datagen.seed = 11;
    o.datagen.customers = 24;
    o.datagen.accounts = 150;
    o.datagen.xdrs = 600;
    o.datagen.password_iterations = 10;
    auto world = ChargingWorld::Start(o);
    ASSERT_TRUE(world.ok()) << world.status();
    world_ = *std::move(world);
    view_ = std::make_unique<CacheRouteView>(&world_->cache());
    counting_ = std::make_unique<CountingRouteView>(view_.get());
    ledger_ = world_->tb().source_server().dir() + "/ledger.jsonl";
    movable_ = world_->MovableCustomers(4);
    ASSERT_GE(movable_.size(), 4u);
  }

  void TearDown() override {
    counting_.reset();
    view_.reset();
    world_.reset();
  }

  // Writes for `customer` only, unthrottled.
  ChargingOptions Options(int64_t customer, int64_t writes) {
    ChargingOptions o;
    o.rate = 0;
    o.duration = absl::Minutes(5);
    o.max_writes = writes;
    o.connections = 2;
    o.seed = 5;
    o.customers = {customer};
    o.ledger_path = ledger_;
    return o;
  }

  // No charged calls: writes made "now", which follow the current route.
  static void NoCalls(ChargingOptions& o) {
    o.adjust_share = 0.25;
    o.topup_share = 0.25;
    o.usage_share = 0.25;
    o.settings_share = 0.25;
  }

  ChargingTargets Targets() {
    ChargingTargets t;
    t.source = &world_->tb().v1();
    t.target = &world_->tb().v2();
    t.routes = counting_.get();
    return t;
  }

  std::vector<LedgerEntry> Entries() {
    std::ifstream in(ledger_);
    std::vector<LedgerEntry> out;
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      auto v = ParseLedgerLine(line, ++n);
      EXPECT_TRUE(v.ok()) << v.status();
      if (v.ok() && v->entry) out.push_back(*v->entry);
    }
    return out;
  }

  absl::Status CopyCustomerToTarget(int64_t c) {
    return CopyCustomerV1ToV2(world_->tb().v1(), world_->tb().v2(), c);
  }

  void ExpectLedgerChecksOut() {
    auto check = CheckLedger(ledger_, world_->tb().v1(), &world_->tb().v2(),
                             world_->holders());
    ASSERT_TRUE(check.ok()) << check.status();
    EXPECT_TRUE(check->ok()) << absl::StrJoin(check->problems, "\n");
    EXPECT_GT(check->rows_checked, 0);
  }

  std::unique_ptr<ChargingWorld> world_;
  std::unique_ptr<CacheRouteView> view_;
  std::unique_ptr<CountingRouteView> counting_;
  std::string ledger_;
  std::vector<int64_t> movable_;
};

TEST_F(DispatcherTest, SourceRouteWritesV1RowsOfEveryKind) {
  const int64_t c = movable_[0];
  auto report = RunCharging(Targets(), Options(c, 120));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->by_status["ok"], 120) << report->ToText();
  EXPECT_EQ(report->by_system["source"], 120);
  for (const char* kind : {"xdr", "adjust", "topup", "usage", "settings"}) {
    EXPECT_GT(report->by_operation[kind], 0) << kind;
  }
  for (const LedgerEntry& e : Entries()) {
    EXPECT_FALSE(e.on_target);
    EXPECT_FALSE(e.blind);
    EXPECT_EQ(e.attempts, 1);
    if (e.kind == WriteKind::kXdr) {
      EXPECT_EQ(e.duration_ms % 1000, 0) << "v1 holds whole seconds";
      EXPECT_EQ(e.charged_micros % 10, 0) << "v1 holds 5 decimals";
    }
  }
  ExpectLedgerChecksOut();
}

TEST_F(DispatcherTest, TargetRouteWritesV2RowsSomeFinerThanV1Holds) {
  const int64_t c = movable_[0];
  absl::Status moved = world_->MoveToTarget(c);
  ASSERT_TRUE(moved.ok()) << moved.ToString();
  ChargingOptions o = Options(c, 120);
  o.inexact_share = 0.5;
  auto report = RunCharging(Targets(), o);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->by_status["ok"], 120) << report->ToText();
  EXPECT_EQ(report->by_system["target"], 120);
  int finer = 0;
  for (const LedgerEntry& e : Entries()) {
    EXPECT_TRUE(e.on_target);
    if (e.kind == WriteKind::kXdr) {
      finer += e.duration_ms % 1000 != 0 || e.charged_micros % 10 != 0;
      EXPECT_GE(e.xdr_id, 1000000000) << "v2's own id range";
    }
  }
  EXPECT_GT(finer, 0) << "some CDRs do not convert back to v1 exactly";
  ExpectLedgerChecksOut();
}

TEST_F(DispatcherTest, MigratingRouteHoldsWritesUntilTheFlip) {
  const int64_t c = movable_[1];
  ASSERT_TRUE(world_->StartMove(c).ok());
  ChargingOptions o = Options(c, 40);
  NoCalls(o);
  o.hold_timeout = absl::Seconds(60);
  absl::StatusOr<TrafficReport> report;
  std::thread run([&] { report = RunCharging(Targets(), o); });
  // Both writer threads are held; nothing is written meanwhile.
  EXPECT_TRUE(Eventually([&] { return counting_->settle_waits.load() >= 2; },
                         absl::Seconds(30)));
  EXPECT_TRUE(Entries().empty());
  // The migrator's cutover: copy, flip, mark exported on the source.
  EXPECT_TRUE(CopyCustomerToTarget(c).ok());
  EXPECT_TRUE(world_->Flip(c).ok());
  EXPECT_TRUE(world_->SetExported(false, c, true).ok());
  run.join();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->by_status["ok"], 40) << report->ToText();
  EXPECT_EQ(report->by_system["target"], 40);
  EXPECT_GE(report->events["held"], 2);
  ExpectLedgerChecksOut();
}

TEST_F(DispatcherTest, RefusedAsExportedWritesAreRetriedWhereTheRouteMoves) {
  const int64_t c = movable_[2];
  // The source marked the customer exported; the route still says SOURCE
  // (as when a dispatcher's cache lags behind the migrator's cutover).
  ASSERT_TRUE(CopyCustomerToTarget(c).ok());
  ASSERT_TRUE(world_->SetExported(false, c, true).ok());
  ChargingOptions o = Options(c, 30);
  NoCalls(o);
  o.hold_timeout = absl::Seconds(60);
  absl::StatusOr<TrafficReport> report;
  std::thread run([&] { report = RunCharging(Targets(), o); });
  EXPECT_TRUE(Eventually([&] { return counting_->past_waits.load() >= 1; },
                         absl::Seconds(30)));
  EXPECT_TRUE(world_->StartMove(c).ok());
  EXPECT_TRUE(world_->Flip(c).ok());
  run.join();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->by_status["ok"], 30) << report->ToText();
  EXPECT_EQ(report->by_system["target"], 30);
  EXPECT_GE(report->events["refused_exported"], 1);
  EXPECT_GE(report->events["retried"], 1);
  int retried = 0;
  for (const LedgerEntry& e : Entries()) retried += e.attempts > 1;
  EXPECT_GE(retried, 1);
  ExpectLedgerChecksOut();
}

TEST_F(DispatcherTest, WritesThatCannotGoAnywhereAreCountedNotDropped) {
  const int64_t stuck = movable_[0];
  const int64_t held = movable_[1];
  // Exported on the source, and the route never moves.
  ASSERT_TRUE(world_->SetExported(false, stuck, true).ok());
  ChargingOptions o = Options(stuck, 6);
  NoCalls(o);
  o.hold_timeout = absl::Milliseconds(200);
  auto report = RunCharging(Targets(), o);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->by_status["refused_stuck"], 6) << report->ToText();
  EXPECT_EQ(report->Failures(), 6);
  // MIGRATING past the hold timeout.
  ASSERT_TRUE(world_->StartMove(held).ok());
  o = Options(held, 6);
  NoCalls(o);
  o.hold_timeout = absl::Milliseconds(200);
  report = RunCharging(Targets(), o);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->by_status["hold_timeout"], 6) << report->ToText();
  EXPECT_TRUE(Entries().empty());
}

TEST_F(DispatcherTest, BlindWritesGoToV1WhateverTheRouteAndStatus) {
  const int64_t c = movable_[3];
  absl::Status moved = world_->MoveToTarget(c);
  ASSERT_TRUE(moved.ok()) << moved.ToString();
  ChargingOptions o = Options(c, 40);
  o.route_blind_share = 1;
  // The legacy job only rates: calls, adjustments and usage.
  o.topup_share = 0;
  o.settings_share = 0;
  auto report = RunCharging(Targets(), o);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->by_status["ok"], 40) << report->ToText();
  EXPECT_EQ(report->by_system["source"], 40);
  EXPECT_EQ(report->by_operation["blind"], 40);
  for (const LedgerEntry& e : Entries()) {
    EXPECT_TRUE(e.blind);
    EXPECT_FALSE(e.on_target);
    EXPECT_EQ(e.route_version, 0);
  }
  // Nobody carried them to the target (that is the migrator's tail): the
  // checker, asking the router, finds every one missing there.
  auto check = CheckLedger(ledger_, world_->tb().v1(), &world_->tb().v2(),
                           world_->holders());
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_FALSE(check->ok());
  EXPECT_GT(check->missing, 0);
  EXPECT_EQ(check->on_target, 40);
}

TEST_F(DispatcherTest, CallsThatStartedBeforeTheFlipLandOnV1AfterIt) {
  const int64_t c = movable_[0];
  view_->Track({c});  // the dispatcher's route history starts here
  const std::string before_move = LedgerTime(absl::Now());
  ASSERT_TRUE(world_->StartMove(c).ok());
  ASSERT_TRUE(CopyCustomerToTarget(c).ok());
  ASSERT_TRUE(world_->Flip(c).ok());
  const std::string after_flip = LedgerTime(absl::Now());
  // Between the flip and the export mark: calls that started before the
  // flip are written to v1 (late writes for the tail); the rest to v2.
  ChargingOptions o = Options(c, 40);
  o.adjust_share = 0.5;  // half calls, half adjustments
  o.topup_share = o.usage_share = o.settings_share = 0;
  ASSERT_TRUE(RunCharging(Targets(), o).ok());
  int late = 0, now_on_target = 0;
  for (const LedgerEntry& e : Entries()) {
    if (e.kind == WriteKind::kXdr && !e.on_target) {
      EXPECT_LE(e.connect_time, after_flip);
      ++late;
    } else if (e.kind == WriteKind::kXdr) {
      EXPECT_GE(e.connect_time, before_move) << "started after the move";
    } else {
      EXPECT_TRUE(e.on_target);
      ++now_on_target;
    }
  }
  EXPECT_GT(late, 0);
  EXPECT_GT(now_on_target, 0);
  // Once the source marks the customer exported, such a call is refused
  // there and re-sent to the target, still dated before the flip.
  ASSERT_TRUE(world_->SetExported(false, c, true).ok());
  std::remove(ledger_.c_str());
  o.adjust_share = 0;
  o.max_writes = 10;
  auto report = RunCharging(Targets(), o);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->by_system["target"], 10) << report->ToText();
  EXPECT_GE(report->events["refused_exported"], 1);
  for (const LedgerEntry& e : Entries()) {
    EXPECT_TRUE(e.on_target);
    if (e.connect_time < before_move) {
      EXPECT_EQ(e.attempts, 2);
    }
  }
}

TEST_F(DispatcherTest, BadOptionsAreRefused) {
  ChargingOptions o = Options(movable_[0], 1);
  o.route_blind_share = 1.5;
  EXPECT_EQ(RunCharging(Targets(), o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options(movable_[0], 1);
  o.adjust_share = o.topup_share = o.usage_share = 0.4;
  EXPECT_EQ(RunCharging(Targets(), o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options(movable_[0], 1);
  o.ledger_path = "/nonexistent-dir/ledger";
  EXPECT_EQ(RunCharging(Targets(), o).status().code(),
            absl::StatusCode::kPermissionDenied);
  o = Options(987654, 1);
  EXPECT_EQ(RunCharging(Targets(), o).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace tandem::testbed
