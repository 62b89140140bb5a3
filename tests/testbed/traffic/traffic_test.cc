// The traffic generators against a real MariaDB and a real simulator, in the
// single-system mode (no router: every write to the source): the ledger
// checks out, and both generators are deterministic for a seed. The
// dispatcher's routing and the checker's discrepancies are in
// dispatcher_test.cc and ledger_check_test.cc.
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "testbed/base/json.h"
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
  SourceOnlyRouteView routes;
  ChargingTargets targets{db_.v1.get(), nullptr, &routes};
  absl::StatusOr<TrafficReport> report = RunCharging(targets, Charging(200));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->requests, 200);
  EXPECT_EQ(report->by_status["ok"], 200) << report->ToText();
  EXPECT_EQ(report->by_system["source"], 200);
  EXPECT_GT(report->by_operation["xdr"], 0);
  EXPECT_GT(report->by_operation["adjust"], 0);
  EXPECT_EQ(LedgerLines().size(), 201u);  // a start line and 200 writes
  SourceOnlyHolders holders;
  absl::StatusOr<LedgerCheckResult> check =
      CheckLedger(ledger_, *db_.v1, nullptr, holders);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_TRUE(check->ok()) << absl::StrJoin(check->problems, "\n");
  EXPECT_EQ(check->entries, 200);
  EXPECT_EQ(check->on_source, 200);
}

TEST_F(TrafficTest, ChargingWithoutARouterRefusesExportedCustomers) {
  const int64_t exported = OpenCustomers()[0];
  ASSERT_TRUE(db_.server
                  ->Execute(absl::StrCat("UPDATE customers SET status = "
                                         "'exported' WHERE i_customer = ",
                                         exported),
                            "billing_v1")
                  .ok());
  SourceOnlyRouteView routes;
  ChargingTargets targets{db_.v1.get(), nullptr, &routes};
  ChargingOptions o = Charging(10);
  o.customers = {exported};
  absl::StatusOr<TrafficReport> report = RunCharging(targets, o);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->by_status["refused_stuck"], 10) << report->ToText();
  EXPECT_EQ(report->events["refused_exported"], 10);
  EXPECT_EQ(LedgerLines().size(), 1u) << "only the start line";
}

// The ledger without the values the database or the clock assigns.
std::vector<std::string> Content(const std::vector<JsonValue>& lines) {
  std::vector<std::string> out;
  for (const JsonValue& l : lines) {
    std::string s;
    for (const char* f :
         {"kind", "seq", "customer_id", "account_id", "duration_ms",
          "charged_micros", "cli", "cld", "amount_micros", "setting", "value",
          "resource_type", "delta"}) {
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
  SourceOnlyRouteView routes;
  ChargingTargets targets{db_.v1.get(), nullptr, &routes};
  ASSERT_TRUE(RunCharging(targets, o).ok());
  std::vector<std::string> first = Content(LedgerLines());
  std::remove(ledger_.c_str());
  ASSERT_TRUE(RunCharging(targets, o).ok());
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
    EXPECT_EQ(a.kind, b.kind);
    EXPECT_EQ(a.setting, b.setting);
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
