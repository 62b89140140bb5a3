// tandem-traffic and tandem-ledger-check as an operator runs them (real
// processes): bad flags and unreachable databases or routers get a clear
// message and exit status; a ledger's verdict shows in the exit status; and
// `compare` finds what changed for a customer between two fetches through
// a URL.
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testbed/reference/v1_to_v2.h"
#include "testbed/sim/sim_server.h"
#include "testbed/traffic/compare.h"
#include "testbed/traffic/ledger.h"
#include "tests/testbed/testbed_fixture.h"
#include "tests/testing/subprocess.h"

namespace tandem::testbed {
namespace {

using ::testing::HasSubstr;

struct Ran {
  int code = -1;
  std::string out, err;
};

Ran Tool(const char* binary, std::vector<std::string> args) {
  args.insert(args.begin(), binary);
  absl::StatusOr<tandem::testing::RunResult> r =
      tandem::testing::Run(std::move(args), "", 120'000);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return {};
  return {WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1, r->out, r->err};
}

Ran Traffic(std::vector<std::string> args) {
  return Tool(TANDEM_TRAFFIC, std::move(args));
}
Ran LedgerCheck(std::vector<std::string> args) {
  return Tool(TANDEM_LEDGER_CHECK, std::move(args));
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestbedOptions o;
    o.datagen.customers = 12;
    o.datagen.accounts = 60;
    o.datagen.xdrs = 120;
    o.datagen.password_iterations = 10;
    auto tb = StartTestbed(o);
    ASSERT_TRUE(tb.ok()) << tb.status();
    tb_ = *std::move(tb);
    ledger_ = tb_->source_server().dir() + "/ledger.jsonl";
  }

  std::vector<std::string> SourceFlags() {
    return {"--source_db_url=" + tb_->source_server().url(),
            "--source_db_password_file=" + tb_->source_password_file()};
  }

  std::unique_ptr<Testbed> tb_;
  std::string ledger_;
};

TEST_F(CliTest, ChargingRefusesBadFlagsClearly) {
  Ran r = Traffic({"charging"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("--ledger is required"));
  r = Traffic({"charging", "--ledger=" + ledger_, "--route_blind_share=2"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("route_blind_share must be between 0 and 1"));
  r = Traffic({"charging", "--ledger=" + ledger_, "--adjust_share=0.5",
               "--topup_share=0.6"});
  EXPECT_THAT(r.err, HasSubstr("must not exceed 1"));
  r = Traffic(
      {"charging", "--ledger=" + ledger_, "--router_address=127.0.0.1:1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("--router_address needs --target_db_url"));
  r = Traffic({"charging", "--ledger=" + ledger_, "--customers=5-1"});
  EXPECT_EQ(r.code, 1);
  r = Traffic({"frobnicate"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("usage: tandem-traffic"));
}

TEST_F(CliTest, ChargingNamesTheDatabaseOrRouterItCannotReach) {
  Ran r = Traffic({"charging", "--ledger=" + ledger_,
                   "--source_db_url=tcp://127.0.0.1:1",
                   "--source_db_password_file=" + tb_->source_password_file()});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("the source database billing_v1 at "
                               "tcp://127.0.0.1:1"));
  std::vector<std::string> args = SourceFlags();
  for (const std::string& a : std::vector<std::string>{
           "charging", "--ledger=" + ledger_,
           "--target_db_url=" + tb_->target_server().url(),
           "--target_db_password_file=/nonexistent/password"}) {
    args.push_back(a);
  }
  r = Traffic(args);
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("--target_db_password_file"));
  std::ofstream(tb_->source_server().dir() + "/router-token") << "t0k3n";
  args = SourceFlags();
  for (const std::string& a : std::vector<std::string>{
           "charging", "--ledger=" + ledger_,
           "--target_db_url=" + tb_->target_server().url(),
           "--router_address=127.0.0.1:1", "--router_sync_timeout_ms=300",
           "--router_token_file=" + tb_->source_server().dir() +
               "/router-token"}) {
    args.push_back(a);
  }
  r = Traffic(args);
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("the router at 127.0.0.1:1 sent no routes "
                               "within 300 ms"));
}

TEST_F(CliTest, LedgerCheckExitsByItsVerdict) {
  std::vector<std::string> args = SourceFlags();
  for (const std::string& a :
       std::vector<std::string>{"charging", "--ledger=" + ledger_, "--max=30",
                                "--rate=0", "--connections=2"}) {
    args.push_back(a);
  }
  Ran r = Traffic(args);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("by system: source=30"));
  args = SourceFlags();
  args.push_back("--ledger=" + ledger_);
  args.push_back("--all_on_source");
  r = LedgerCheck(args);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("OK: 30 writes"));
  EXPECT_THAT(r.out, HasSubstr("balances equal opening + transactions"));
  // Break the balance of a customer the ledger wrote for.
  std::ifstream in(ledger_);
  std::string line;
  int64_t customer = 0;
  for (int n = 1; customer == 0 && std::getline(in, line); ++n) {
    auto v = ParseLedgerLine(line, n);
    ASSERT_TRUE(v.ok()) << v.status();
    if (v->entry) customer = v->entry->customer_id;
  }
  ASSERT_GT(customer, 0);
  ASSERT_TRUE(tb_->source_server()
                  .Execute(absl::StrCat("UPDATE customers SET balance = "
                                        "balance + 1 WHERE i_customer = ",
                                        customer),
                           Testbed::kSourceDb)
                  .ok());
  std::vector<std::string> all = args;
  all.push_back("--balances=all");
  r = LedgerCheck(all);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("FAILED"));
  EXPECT_THAT(r.out, HasSubstr("wrong_balances=1"));
  EXPECT_THAT(r.out,
              HasSubstr(absl::StrCat("BAD customer ", customer, " on source")));
}

TEST_F(CliTest, LedgerCheckRefusesBadFlagsAndUnreachableDatabases) {
  Ran r = LedgerCheck({});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--ledger is required"));
  r = LedgerCheck({"--ledger=" + ledger_});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--router_address"));
  r = LedgerCheck(
      {"--ledger=" + ledger_, "--all_on_source", "--balances=some"});
  EXPECT_EQ(r.code, 2);
  r = LedgerCheck({"--ledger=" + ledger_, "--all_on_source",
                   "--source_db_url=tcp://127.0.0.1:1",
                   "--source_db_password_file=" + tb_->source_password_file()});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("the source database billing_v1 at "
                               "tcp://127.0.0.1:1"));
  std::vector<std::string> args = SourceFlags();
  args.push_back("--ledger=" + ledger_ + ".missing");
  args.push_back("--all_on_source");
  r = LedgerCheck(args);
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("cannot read"));
}

TEST_F(CliTest, CompareFindsWhatChangedForAMovedCustomer) {
  // The two simulators stand in for the one URL before and after a move.
  std::unique_ptr<SimServer> sims[2];
  for (int i = 0; i < 2; ++i) {
    SimOptions s;
    s.version = i == 0 ? SchemaVersion::kV1 : SchemaVersion::kV2;
    s.db = i == 0 ? tb_->SourceDb() : tb_->TargetDb();
    s.http.address = "127.0.0.1";
    auto sim = SimServer::Start(s);
    ASSERT_TRUE(sim.ok()) << sim.status();
    sims[i] = *std::move(sim);
  }
  auto rows = tb_->source_server().Query(
      "SELECT c.i_customer FROM customers c JOIN accounts a USING "
      "(i_customer) JOIN products p USING (i_product) WHERE c.status = "
      "'open' GROUP BY 1 HAVING SUM(p.code IN ('FIX-ISDN', 'BB-250')) = 0 "
      "ORDER BY 1 LIMIT 2",
      Testbed::kSourceDb);
  ASSERT_TRUE(rows.ok() && rows->size() == 2u);
  const std::string ids = absl::StrCat((*rows)[0], ",", (*rows)[1]);
  const std::string snapshot = tb_->source_server().dir() + "/snapshot.json";
  const std::string v1_url =
      absl::StrCat("--url=http://127.0.0.1:", sims[0]->port());
  const std::string v2_url =
      absl::StrCat("--url=http://127.0.0.1:", sims[1]->port());
  Ran r = Traffic(
      {"compare", v1_url, "--customers=" + ids, "--save_snapshot=" + snapshot});
  ASSERT_EQ(r.code, 0) << r.err;
  for (const std::string& c : *rows) {
    ASSERT_TRUE(CopyCustomerV1ToV2(tb_->v1(), tb_->v2(), std::stoll(c)).ok());
  }
  r = Traffic(
      {"compare", v2_url, "--customers=" + ids, "--snapshot=" + snapshot});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("served by v1 -> v2"));
  EXPECT_THAT(r.out, HasSubstr(": 0 differences"));
  // A change on the target shows, value by value.
  ASSERT_TRUE(tb_->target_server()
                  .Execute(absl::StrCat("UPDATE customers SET balance_micros "
                                        "= balance_micros + 10000 WHERE "
                                        "customer_id = ",
                                        (*rows)[0]),
                           Testbed::kTargetDb)
                  .ok());
  r = Traffic(
      {"compare", v2_url, "--customers=" + ids, "--snapshot=" + snapshot});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("customer ", (*rows)[0],
                                            ": me.balance: ")));
  EXPECT_THAT(r.out, HasSubstr(": 1 differences"));
  r = Traffic({"compare", v2_url, "--customers=" + ids});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("exactly one of --save_snapshot and "
                               "--snapshot"));
}

}  // namespace
}  // namespace tandem::testbed
