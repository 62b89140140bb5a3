// The traffic generators and the ledger checker against a real MariaDB and
// a real simulator: the checker passes on untouched data, catches deleted
// and altered rows, follows customers that moved to v2, and both
// generators are deterministic for a seed.
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "testbed/base/json.h"
#include "testbed/reference/v1_to_v2.h"
#include "testbed/sim/sim_server.h"
#include "testbed/traffic/charging.h"
#include "testbed/traffic/id_list.h"
#include "testbed/traffic/ledger_check.h"
#include "testbed/traffic/portal_traffic.h"
#include "tests/testbed/testbed_fixture.h"

namespace tandem::testbed {
namespace {

class TrafficTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatagenOptions o;
    o.seed = 21;
    o.customers = 30;
    o.accounts = 200;
    o.xdrs = 1000;
    o.password_iterations = 100;
    auto db = StartTestbedDb(o);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    ledger_ = db_.server->dir() + "/ledger.jsonl";
  }

  ChargingOptions Charging(int64_t writes) {
    ChargingOptions o;
    o.rate = 0;  // as fast as the database goes
    o.duration = absl::Minutes(5);
    o.max_writes = writes;
    o.connections = 2;
    o.seed = 5;
    o.ledger_path = ledger_;
    return o;
  }

  std::vector<JsonValue> LedgerLines() {
    std::ifstream in(ledger_);
    std::vector<JsonValue> out;
    std::string line;
    while (std::getline(in, line)) out.push_back(*JsonValue::Parse(line));
    return out;
  }

  // Starts a v1 billing simulator on the shared database.
  std::unique_ptr<SimServer> StartV1Sim() {
    SimOptions sim_options;
    sim_options.version = SchemaVersion::kV1;
    sim_options.db = PoolOptions(*db_.server, "billing_v1");
    sim_options.http.address = "127.0.0.1";
    auto sim = SimServer::Start(std::move(sim_options));
    EXPECT_TRUE(sim.ok()) << sim.status();
    return sim.ok() ? *std::move(sim) : nullptr;
  }

  // Portal traffic against `sim`, unthrottled, stopping after `requests`.
  PortalTrafficOptions PortalOptions(const SimServer& sim, int requests,
                                     int connections) {
    PortalTrafficOptions o;
    o.port = sim.port();
    o.rate = 0;
    o.duration = absl::Minutes(5);
    o.max_requests = requests;
    o.connections = connections;
    o.customers = OpenCustomers();
    return o;
  }

  std::vector<int64_t> OpenCustomers() {
    auto rows = db_.server->Query(
        "SELECT i_customer FROM customers WHERE status = 'open' "
        "ORDER BY i_customer",
        "billing_v1");
    EXPECT_TRUE(rows.ok());
    std::vector<int64_t> out;
    for (const std::string& r : *rows) out.push_back(std::stoll(r));
    return out;
  }

  TestbedDb db_;
  std::string ledger_;
};

TEST_F(TrafficTest, LedgerOfChargingChecksOutOnTheSource) {
  absl::StatusOr<TrafficReport> report = RunCharging(*db_.v1, Charging(200));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->requests, 200);
  EXPECT_EQ(report->by_status["ok"], 200);
  EXPECT_GT(report->by_operation["xdr"], 0);
  EXPECT_GT(report->by_operation["adjust"], 0);
  EXPECT_EQ(LedgerLines().size(), 200u);
  absl::StatusOr<LedgerCheckResult> check =
      CheckLedger(ledger_, *db_.v1, db_.v2.get());
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_TRUE(check->ok());
  EXPECT_EQ(check->entries, 200);
  EXPECT_EQ(check->on_source, 200);
  EXPECT_EQ(check->rows_checked, 200 + report->by_operation["xdr"]);
}

TEST_F(TrafficTest, CheckerCatchesDeletedAndAlteredRows) {
  ASSERT_TRUE(RunCharging(*db_.v1, Charging(100)).ok());
  std::string xdr_id, tx_deleted, tx_altered;
  for (const JsonValue& line : LedgerLines()) {
    if (line.Find("kind")->text() == "xdr" && xdr_id.empty()) {
      xdr_id = line.Find("xdr_id")->text();
    } else if (tx_deleted.empty()) {
      tx_deleted = line.Find("transaction_id")->text();
    } else if (tx_altered.empty()) {
      tx_altered = line.Find("transaction_id")->text();
    }
  }
  ASSERT_FALSE(xdr_id.empty() || tx_deleted.empty() || tx_altered.empty());
  ASSERT_TRUE(
      db_.server
          ->Execute(
              absl::StrCat(
                  "DELETE FROM xdrs WHERE i_xdr = ", xdr_id, ";",
                  "DELETE FROM balance_transactions WHERE i_transaction = ",
                  tx_deleted, ";",
                  "UPDATE balance_transactions SET amount = amount + "
                  "0.00001 WHERE i_transaction = ",
                  tx_altered),
              "billing_v1")
          .ok());
  absl::StatusOr<LedgerCheckResult> check =
      CheckLedger(ledger_, *db_.v1, nullptr);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_FALSE(check->ok());
  EXPECT_EQ(check->missing, 2);
  EXPECT_EQ(check->altered, 1);
  std::string problems = absl::StrJoin(check->problems, "\n");
  EXPECT_NE(problems.find(absl::StrCat("xDR ", xdr_id, " ")), std::string::npos)
      << problems;
  EXPECT_NE(problems.find(absl::StrCat("transaction ", tx_altered, " ")),
            std::string::npos)
      << problems;
}

TEST_F(TrafficTest, CheckerFollowsCustomersThatMovedToTheTarget) {
  const int64_t moved = OpenCustomers()[0];
  ChargingOptions o = Charging(60);
  o.focus_customers = {moved};
  o.focus_share = 0.5;
  absl::StatusOr<TrafficReport> report = RunCharging(*db_.v1, o);
  ASSERT_TRUE(report.ok()) << report.status();
  // Move the customer the way the migrator will: copy, then mark exported.
  ASSERT_TRUE(CopyCustomerV1ToV2(*db_.v1, *db_.v2, moved).ok());
  ASSERT_TRUE(db_.server
                  ->Execute(absl::StrCat("UPDATE customers SET status = "
                                         "'exported' WHERE i_customer = ",
                                         moved),
                            "billing_v1")
                  .ok());
  EXPECT_EQ(CheckLedger(ledger_, *db_.v1, nullptr).status().code(),
            absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<LedgerCheckResult> check =
      CheckLedger(ledger_, *db_.v1, db_.v2.get());
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_TRUE(check->ok()) << absl::StrJoin(check->problems, "\n");
  EXPECT_GT(check->on_target, 0);
  EXPECT_EQ(check->on_source + check->on_target, 60);
  // A lost write on the target is caught, even though v1 still has it.
  ASSERT_TRUE(
      db_.server
          ->Execute(absl::StrCat("DELETE FROM cdrs WHERE customer_id = ", moved,
                                 " ORDER BY cdr_id DESC LIMIT 1"),
                    "billing_v2")
          .ok());
  check = CheckLedger(ledger_, *db_.v1, db_.v2.get());
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(check->missing, 1);
  // So is a changed duration (units matter: milliseconds on v2).
  ASSERT_TRUE(
      db_.server
          ->Execute(absl::StrCat("UPDATE cdrs SET duration_ms = "
                                 "duration_ms + 1 WHERE customer_id = ",
                                 moved, " ORDER BY cdr_id DESC LIMIT 1"),
                    "billing_v2")
          .ok());
  check = CheckLedger(ledger_, *db_.v1, db_.v2.get());
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(check->missing, 1);
  EXPECT_EQ(check->altered, 1);
}

// The ledger without the values the database or the clock assigns.
std::vector<std::string> Content(const std::vector<JsonValue>& lines) {
  std::vector<std::string> out;
  for (const JsonValue& l : lines) {
    std::string s;
    for (const char* f : {"kind", "seq", "customer_id", "account_id",
                          "duration_s", "charged", "cli", "cld", "amount"}) {
      const JsonValue* v = l.Find(f);
      absl::StrAppend(&s, f, "=", v ? v->text() : "-", " ");
    }
    out.push_back(s);
  }
  return out;
}

TEST_F(TrafficTest, ChargingIsDeterministicForASeed) {
  ChargingOptions o = Charging(40);
  o.connections = 1;
  ASSERT_TRUE(RunCharging(*db_.v1, o).ok());
  std::vector<std::string> first = Content(LedgerLines());
  std::remove(ledger_.c_str());
  ASSERT_TRUE(RunCharging(*db_.v1, o).ok());
  EXPECT_EQ(Content(LedgerLines()), first);
  std::vector<int64_t> customers = {1, 2, 3, 4, 5};
  ChargingOptions other = o;
  other.seed = 6;
  int differing = 0;
  for (int k = 0; k < 20; ++k) {
    PlannedWrite a = PlanWrite(o, k, customers);
    PlannedWrite b = PlanWrite(o, k, customers);
    PlannedWrite c = PlanWrite(other, k, customers);
    EXPECT_EQ(a.cld, b.cld);
    EXPECT_EQ(a.charged_micros, b.charged_micros);
    differing += a.cld != c.cld;
  }
  EXPECT_GT(differing, 15);
}

TEST_F(TrafficTest, PortalTrafficReportsStatusesAndServingSystem) {
  auto sim = StartV1Sim();
  ASSERT_NE(sim, nullptr);
  PortalTrafficOptions o = PortalOptions(*sim, 120, 2);
  absl::StatusOr<TrafficReport> report = RunPortalTraffic(o);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->requests, 120);
  EXPECT_EQ(report->by_system["v1"], 120);
  EXPECT_EQ(report->Failures(), 0) << report->ToText();
  EXPECT_GT(report->by_operation["login"], 0);
  EXPECT_GT(report->by_operation["xdrs"], 0);
  EXPECT_GT(report->PercentileMs(0.99), 0);
  // Unknown customers are refused and counted per status code.
  o.customers = {999999};
  o.max_requests = 10;
  report = RunPortalTraffic(o);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->by_status["401"], 10);
  EXPECT_EQ(report->Failures(), 0);
}

TEST_F(TrafficTest, PortalTrafficIsDeterministicForASeed) {
  auto sim = StartV1Sim();
  ASSERT_NE(sim, nullptr);
  PortalTrafficOptions o = PortalOptions(*sim, 80, 1);
  o.seed = 9;
  auto first = RunPortalTraffic(o);
  auto second = RunPortalTraffic(o);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->by_operation, second->by_operation);
  EXPECT_EQ(first->by_status, second->by_status);
  for (int64_t k = 0; k < 20; ++k) {
    PortalVisit a = PlanVisit(9, k, o.customers);
    PortalVisit b = PlanVisit(9, k, o.customers);
    EXPECT_EQ(a.customer_id, b.customer_id);
    EXPECT_EQ(a.amount, b.amount);
    EXPECT_EQ(a.top_up, b.top_up);
  }
}

TEST(IdListTest, ParsesRangesAndRejectsGarbage) {
  EXPECT_EQ(*ParseIdList("1-3,7"), (std::vector<int64_t>{1, 2, 3, 7}));
  EXPECT_TRUE(ParseIdList("")->empty());
  for (const char* bad : {"0", "3-1", "a", "1-2-3", "1,,2", "-5"}) {
    EXPECT_FALSE(ParseIdList(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace tandem::testbed
