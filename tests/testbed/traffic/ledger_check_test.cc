// tandem-ledger-check's rules against three real servers and a real router:
// it passes when every write is where the router says its customer is, and
// catches each kind of discrepancy - a missing row, a duplicate, a wrong
// conversion, a wrong balance, an extra row, a lost setting or usage
// increment, a customer still migrating - on both systems.
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "testbed/base/model.h"
#include "testbed/reference/v1_to_v2.h"
#include "testbed/traffic/charging.h"
#include "testbed/traffic/ledger.h"
#include "tests/testbed/traffic/charging_world.h"

namespace tandem::testbed {
namespace {

class LedgerCheckTest : public ::testing::Test {
 protected:
  // A on the source throughout; B moved to the target before the writes
  // (v2-native rows); C written on the source, then moved (rows converted).
  void SetUp() override {
    TestbedOptions o;
    o.datagen.seed = 13;
    o.datagen.customers = 24;
    o.datagen.accounts = 150;
    o.datagen.xdrs = 600;
    o.datagen.password_iterations = 10;
    auto world = ChargingWorld::Start(o);
    ASSERT_TRUE(world.ok()) << world.status();
    world_ = *std::move(world);
    std::vector<int64_t> movable = world_->MovableCustomers(3);
    ASSERT_EQ(movable.size(), 3u);
    a_ = movable[0];
    b_ = movable[1];
    c_ = movable[2];
    ledger_ = world_->tb().source_server().dir() + "/ledger.jsonl";
    ASSERT_TRUE(world_->MoveToTarget(b_).ok());
    CacheRouteView routes(&world_->cache());
    ChargingOptions charging;
    charging.rate = 0;
    charging.duration = absl::Minutes(5);
    charging.max_writes = 240;
    charging.connections = 2;
    charging.seed = 3;
    charging.customers = {a_, b_, c_};
    charging.inexact_share = 0.5;
    charging.ledger_path = ledger_;
    ChargingTargets targets{&world_->tb().v1(), &world_->tb().v2(), &routes};
    auto report = RunCharging(targets, charging);
    ASSERT_TRUE(report.ok()) << report.status();
    ASSERT_EQ(report->by_status["ok"], 240) << report->ToText();
    ASSERT_TRUE(world_->MoveToTarget(c_).ok());
    std::ifstream in(ledger_);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      auto v = ParseLedgerLine(line, ++n);
      ASSERT_TRUE(v.ok()) << v.status();
      if (v->entry) entries_.push_back(*v->entry);
    }
  }

  LedgerCheckResult Check() {
    auto check = CheckLedger(ledger_, world_->tb().v1(), &world_->tb().v2(),
                             world_->holders());
    EXPECT_TRUE(check.ok()) << check.status();
    return check.ok() ? *check : LedgerCheckResult();
  }

  // The first ledger entry of `customer` of `kind`.
  const LedgerEntry& First(int64_t customer, WriteKind kind) {
    for (const LedgerEntry& e : entries_) {
      if (e.customer_id == customer && e.kind == kind) return e;
    }
    ADD_FAILURE() << "no " << WriteKindName(kind) << " of " << customer;
    static const LedgerEntry none;
    return none;
  }

  void OnSource(const std::string& sql) {
    ASSERT_TRUE(
        world_->tb().source_server().Execute(sql, Testbed::kSourceDb).ok())
        << sql;
  }
  void OnTarget(const std::string& sql) {
    ASSERT_TRUE(
        world_->tb().target_server().Execute(sql, Testbed::kTargetDb).ok())
        << sql;
  }

  static std::string Problems(const LedgerCheckResult& r) {
    return absl::StrJoin(r.problems, "\n");
  }

  std::unique_ptr<ChargingWorld> world_;
  int64_t a_ = 0, b_ = 0, c_ = 0;
  std::string ledger_;
  std::vector<LedgerEntry> entries_;
};

TEST_F(LedgerCheckTest, PassesWhenEveryWriteIsWhereTheRouterSays) {
  LedgerCheckResult r = Check();
  EXPECT_TRUE(r.ok()) << Problems(r);
  EXPECT_EQ(r.entries, 240);
  EXPECT_EQ(r.customers, 3);
  EXPECT_GT(r.on_source, 0);  // A
  EXPECT_GT(r.on_target, r.on_source) << "B and C";
  EXPECT_GT(r.written_on_target, 0);
  // Every balance of the three customers and their accounts adds up.
  int customers = 0, accounts = 0;
  for (const BalanceLine& b : r.balances) {
    EXPECT_TRUE(b.ok()) << b.customer_id;
    (b.account_id ? accounts : customers)++;
    EXPECT_EQ(b.on_target, b.customer_id != a_);
  }
  EXPECT_EQ(customers, 3);
  EXPECT_GE(accounts, 6);
}

TEST_F(LedgerCheckTest, CatchesAMissingRowOnEitherSystem) {
  const LedgerEntry& xdr = First(a_, WriteKind::kXdr);
  const LedgerEntry& topup = First(b_, WriteKind::kTopUp);
  OnSource(absl::StrCat("DELETE FROM xdrs WHERE i_xdr = ", xdr.xdr_id));
  OnTarget(
      absl::StrCat("DELETE FROM balance_transactions WHERE "
                   "transaction_id = ",
                   topup.transaction_id));
  LedgerCheckResult r = Check();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.missing, 2) << Problems(r);
  EXPECT_EQ(r.wrong_balances, 1) << "the top-up's balance lost it too";
  const std::string p = Problems(r);
  EXPECT_TRUE(absl::StrContains(
      p, absl::StrCat("xDR ", xdr.xdr_id, " missing on source")))
      << p;
  EXPECT_TRUE(absl::StrContains(
      p,
      absl::StrCat("transaction ", topup.transaction_id, " missing on target")))
      << p;
}

TEST_F(LedgerCheckTest, CatchesADuplicateOnEitherSystem) {
  const LedgerEntry& xdr = First(a_, WriteKind::kXdr);
  const LedgerEntry& adjust = First(c_, WriteKind::kAdjust);
  OnSource(absl::StrCat(
      "INSERT INTO xdrs (i_account, i_customer, connect_time, duration, "
      "charged_amount, CLI, CLD) SELECT i_account, i_customer, connect_time, "
      "duration, charged_amount, CLI, CLD FROM xdrs WHERE i_xdr = ",
      xdr.xdr_id));
  // C's rows came over from v1; a tail that copies one twice duplicates it.
  OnTarget(absl::StrCat(
      "INSERT INTO balance_transactions (customer_id, account_id, "
      "amount_micros, kind, created_at) SELECT customer_id, account_id, "
      "amount_micros, kind, created_at FROM balance_transactions "
      "WHERE transaction_id = ",
      adjust.transaction_id));
  LedgerCheckResult r = Check();
  EXPECT_EQ(r.duplicates, 2) << Problems(r);
  EXPECT_EQ(r.extra, 0);
  EXPECT_TRUE(absl::StrContains(Problems(r),
                                absl::StrCat("duplicates xDR ", xdr.xdr_id)));
  EXPECT_TRUE(absl::StrContains(
      Problems(r),
      absl::StrCat("duplicates transaction ", adjust.transaction_id)));
}

TEST_F(LedgerCheckTest, CatchesAWrongConversionOnEitherSystem) {
  // C's call, written on v1 in seconds, copied to v2 without x1000.
  const LedgerEntry& copied = First(c_, WriteKind::kXdr);
  ASSERT_FALSE(copied.on_target);
  OnTarget(
      absl::StrCat("UPDATE cdrs SET duration_ms = duration_ms / 1000 "
                   "WHERE cdr_id = ",
                   copied.xdr_id));
  // A's charge off by the smallest v1 unit.
  const LedgerEntry& charged = First(a_, WriteKind::kXdr);
  OnSource(
      absl::StrCat("UPDATE xdrs SET charged_amount = charged_amount + "
                   "0.00001 WHERE i_xdr = ",
                   charged.xdr_id));
  LedgerCheckResult r = Check();
  EXPECT_EQ(r.wrong_values, 2) << Problems(r);
  EXPECT_TRUE(absl::StrContains(
      Problems(r), absl::StrCat("xDR ", copied.xdr_id, " differs on target")));
}

TEST_F(LedgerCheckTest, CatchesAWrongBalanceOnEitherSystem) {
  OnSource(absl::StrCat(
      "UPDATE customers SET balance = balance + 1 WHERE i_customer = ", a_));
  OnTarget(absl::StrCat(
      "UPDATE accounts SET balance_micros = balance_micros - 7 WHERE "
      "customer_id = ",
      b_, " ORDER BY account_id LIMIT 1"));
  LedgerCheckResult r = Check();
  EXPECT_EQ(r.wrong_balances, 2) << Problems(r);
  EXPECT_EQ(r.missing + r.extra + r.duplicates + r.wrong_values, 0);
  EXPECT_TRUE(absl::StrContains(
      Problems(r), absl::StrCat("customer ", a_, " on source: balance")));
}

TEST_F(LedgerCheckTest, CatchesAnExtraRowOnEitherSystem) {
  const LedgerEntry& xdr = First(b_, WriteKind::kXdr);
  OnTarget(absl::StrCat(
      "INSERT INTO cdrs (account_id, customer_id, started_at, duration_ms, "
      "charged_micros, calling_number, called_number) VALUES (",
      *xdr.account_id, ", ", b_,
      ", '2026-01-01 00:00:00', 60000, 5000000, 'x', 'y')"));
  OnSource(absl::StrCat(
      "INSERT INTO balance_transactions (i_customer, i_account, amount, "
      "tx_type, tx_time) VALUES (",
      a_, ", NULL, 0, 'adjustment', '2026-01-01 00:00:00')"));
  LedgerCheckResult r = Check();
  EXPECT_EQ(r.extra, 2) << Problems(r);
  EXPECT_EQ(r.duplicates, 0);
  EXPECT_TRUE(r.wrong_balances == 0) << "a zero amount keeps the balance";
  EXPECT_TRUE(absl::StrContains(Problems(r), "is in no ledger line"));
}

TEST_F(LedgerCheckTest, CatchesALostSettingAndUsageIncrement) {
  const LedgerEntry& setting = First(b_, WriteKind::kSettings);
  const LedgerEntry& usage = First(a_, WriteKind::kUsage);
  OnTarget(absl::StrCat(
      "DELETE FROM account_service_settings WHERE account_id = ",
      *setting.account_id, " AND setting_name = '", setting.setting, "';",
      "INSERT INTO account_service_settings VALUES (", *setting.account_id,
      ", '", setting.setting, "', 'tampered')"));
  OnSource(absl::StrCat(
      "UPDATE subscription_usage SET used_amount = used_amount - ", usage.delta,
      " WHERE i_subscription = ", usage.subscription_id,
      " AND i_resource_type = (SELECT i_resource_type FROM resource_types "
      "WHERE code = '",
      usage.resource_type, "')"));
  LedgerCheckResult r = Check();
  EXPECT_EQ(r.wrong_values, 2) << Problems(r);
  EXPECT_TRUE(absl::StrContains(Problems(r), "'tampered'"));
  EXPECT_TRUE(absl::StrContains(
      Problems(r), absl::StrCat(usage.resource_type, " usage of subscription ",
                                usage.subscription_id)));
}

TEST_F(LedgerCheckTest, ACustomerStillMigratingIsReportedNotChecked) {
  ASSERT_TRUE(world_->StartMove(a_).ok());
  LedgerCheckResult r = Check();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.unsettled, 1);
  EXPECT_EQ(r.on_source, 0);
  EXPECT_TRUE(absl::StrContains(Problems(r), "is MIGRATING"));
}

TEST_F(LedgerCheckTest, TheRouterNotV1StatusDecidesWhereToLook) {
  // C's route goes back to the source while v1 still marks C exported, and
  // the target loses C's calls: the router says the source holds C, so the
  // checker looks there (where the source kept C's rows) and passes; going
  // by v1's status it would have looked on the target and found them gone.
  ASSERT_TRUE(world_->StartRollback(c_).ok());
  ASSERT_TRUE(world_->FlipBack(c_).ok());
  OnTarget(absl::StrCat("DELETE FROM cdrs WHERE customer_id = ", c_));
  LedgerCheckResult r = Check();
  EXPECT_TRUE(r.ok()) << Problems(r);
  int c_balances = 0;
  for (const BalanceLine& b : r.balances) {
    if (b.customer_id != c_) continue;
    EXPECT_FALSE(b.on_target);
    ++c_balances;
  }
  EXPECT_GT(c_balances, 0);
}

TEST_F(LedgerCheckTest, RowsRolledBackToV1WithinItsPrecisionPass) {
  // B's rows were written on v2, some finer than v1 holds. Roll B back as
  // the migrator would with rounding allowed: each row to v1 cut to v1's
  // precision, balances re-summed (the leftovers booked), usage and
  // settings as v2 has them; then the route back to the source.
  int finer = 0;
  std::map<std::pair<int64_t, std::string>, std::optional<std::string>> last;
  for (const LedgerEntry& e : entries_) {
    if (e.customer_id != b_) continue;
    ASSERT_TRUE(e.on_target);
    if (e.kind == WriteKind::kXdr) {
      finer += e.duration_ms % 1000 != 0 || e.charged_micros % 10 != 0;
      OnSource(absl::StrCat(
          "INSERT INTO xdrs (i_xdr, i_account, i_customer, connect_time, "
          "duration, charged_amount, CLI, CLD) VALUES (",
          e.xdr_id, ", ", *e.account_id, ", ", b_, ", '", e.connect_time, "', ",
          e.duration_ms / 1000, ", ",
          *MicrosToV1Decimal(e.charged_micros / 10 * 10), ", '", e.cli, "', '",
          e.cld, "')"));
    }
    if (e.has_transaction()) {
      OnSource(absl::StrCat(
          "INSERT INTO balance_transactions (i_transaction, i_customer, "
          "i_account, amount, tx_type, tx_time) VALUES (",
          e.transaction_id, ", ", b_, ", ",
          e.account_id ? absl::StrCat(*e.account_id) : "NULL", ", ",
          *MicrosToV1Decimal(e.amount_micros / 10 * 10), ", '", e.tx_type,
          "', '", e.tx_time, "')"));
    }
    if (e.kind == WriteKind::kUsage) {
      auto used = world_->tb().target_server().Query(
          absl::StrCat("SELECT u.used_quantity FROM subscription_usage u "
                       "JOIN resource_types t USING (resource_type_id) "
                       "WHERE u.subscription_id = ",
                       e.subscription_id, " AND t.type_code = '",
                       e.resource_type, "'"),
          Testbed::kTargetDb);
      ASSERT_TRUE(used.ok() && used->size() == 1u);
      OnSource(absl::StrCat(
          "UPDATE subscription_usage u JOIN resource_types t USING "
          "(i_resource_type) SET u.used_amount = ",
          (*used)[0], " WHERE u.i_subscription = ", e.subscription_id,
          " AND t.code = '", e.resource_type, "'"));
    }
    if (e.kind == WriteKind::kSettings) {
      last[{*e.account_id, e.setting}] = e.value;
    }
  }
  ASSERT_GT(finer, 0) << "some rows do not convert back exactly";
  for (const auto& [key, value] : last) {
    OnSource(absl::StrCat(
        "UPDATE accounts SET service_settings = JSON_SET(service_settings, "
        "'$.",
        key.second, "', ", value ? absl::StrCat("'", *value, "'") : "NULL",
        ") WHERE i_account = ", key.first));
  }
  OnSource(absl::StrCat(
      "UPDATE accounts a SET balance = (SELECT COALESCE(SUM(t.amount), 0) "
      "FROM balance_transactions t WHERE t.i_customer = a.i_customer AND "
      "t.i_account = a.i_account) WHERE a.i_customer = ",
      b_, ";",
      "UPDATE customers c SET balance = (SELECT COALESCE(SUM(t.amount), 0) "
      "FROM balance_transactions t WHERE t.i_customer = c.i_customer AND "
      "t.i_account IS NULL) WHERE c.i_customer = ",
      b_));
  ASSERT_TRUE(world_->StartRollback(b_).ok());
  ASSERT_TRUE(world_->FlipBack(b_).ok());
  LedgerCheckResult r = Check();
  EXPECT_TRUE(r.ok()) << Problems(r);
  EXPECT_GT(r.rounded, 0);
  // Cut by more than v1's precision, a row is wrong, not rounded.
  const LedgerEntry* call = nullptr;
  for (const LedgerEntry& e : entries_) {
    if (e.customer_id == b_ && e.kind == WriteKind::kXdr) call = &e;
  }
  ASSERT_NE(call, nullptr);
  OnSource(
      absl::StrCat("UPDATE xdrs SET duration = duration - 1 WHERE "
                   "i_xdr = ",
                   call->xdr_id));
  r = Check();
  EXPECT_EQ(r.wrong_values, 1) << Problems(r);
}

TEST_F(LedgerCheckTest, MalformedLedgersAreRefusedWithTheLineNumber) {
  std::ofstream(ledger_, std::ios::app) << "{\"kind\":\"xdr\",\"seq\":1}\n";
  auto check = CheckLedger(ledger_, world_->tb().v1(), &world_->tb().v2(),
                           world_->holders());
  EXPECT_EQ(check.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(check.status().message(),
                                absl::StrCat("ledger line ", 242)))
      << check.status();
  std::ofstream(ledger_) << "";
  EXPECT_EQ(CheckLedger(ledger_, world_->tb().v1(), &world_->tb().v2(),
                        world_->holders())
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckLedger(ledger_ + ".nope", world_->tb().v1(),
                        &world_->tb().v2(), world_->holders())
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tandem::testbed
