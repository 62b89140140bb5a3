#include "testbed/datagen/datagen.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "testbed/base/schema.h"
#include "tests/testbed/testbed_fixture.h"

namespace tandem::testbed {
namespace {

DatagenOptions SmallOptions(uint64_t seed) {
  DatagenOptions o;
  o.seed = seed;
  o.customers = 200;
  o.accounts = 3000;
  o.xdrs = 20000;
  o.batch_rows = 500;
  return o;
}

const std::vector<std::string> kTables = {"customers",
                                          "accounts",
                                          "subscriptions",
                                          "subscription_usage",
                                          "xdrs",
                                          "balance_transactions",
                                          "invoices",
                                          "payment_methods",
                                          "api_tokens",
                                          "products",
                                          "product_resources",
                                          "product_addons"};

// CHECKSUM TABLE of every table of `db`.
std::map<std::string, std::string> Checksums(
    const tandem::testing::MariaDbServer& server, const std::string& db) {
  std::map<std::string, std::string> out;
  for (const std::string& t : kTables) {
    absl::StatusOr<std::vector<std::string>> rows =
        server.Query("CHECKSUM TABLE " + t, db);
    EXPECT_TRUE(rows.ok()) << rows.status();
    if (rows.ok() && !rows->empty()) out[t] = (*rows)[0];
  }
  return out;
}

int64_t Count(const tandem::testing::MariaDbServer& server,
              const std::string& sql) {
  absl::StatusOr<std::vector<std::string>> rows =
      server.Query(sql, "billing_v1");
  EXPECT_TRUE(rows.ok()) << rows.status();
  int64_t n = -1;
  if (rows.ok() && !rows->empty()) {
    EXPECT_TRUE(absl::SimpleAtoi((*rows)[0], &n)) << (*rows)[0];
  }
  return n;
}

// Loads `options` into a fresh database `db` of `server`.
void LoadInto(const tandem::testing::MariaDbServer& server,
              const std::string& db, const DatagenOptions& options) {
  ASSERT_TRUE(server.CreateDatabase(db).ok());
  auto pool = MysqlPool::Create(PoolOptions(server, db));
  ASSERT_TRUE(pool.ok()) << pool.status();
  ASSERT_TRUE(ApplySchema(**pool, SchemaVersion::kV1).ok());
  ASSERT_TRUE(LoadCatalog(**pool, SchemaVersion::kV1).ok());
  absl::StatusOr<DatagenReport> report = GenerateCustomers(**pool, options);
  ASSERT_TRUE(report.ok()) << report.status();
}

TEST(DatagenTest, SameSeedGivesIdenticalDataAndOtherSeedDoesNot) {
  auto server = tandem::testing::MariaDbServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  LoadInto(**server, "gen_a", SmallOptions(11));
  DatagenOptions one_writer = SmallOptions(11);
  one_writer.writers = 1;  // thread count must not matter
  LoadInto(**server, "gen_b", one_writer);
  LoadInto(**server, "gen_c", SmallOptions(12));
  std::map<std::string, std::string> a = Checksums(**server, "gen_a");
  std::map<std::string, std::string> b = Checksums(**server, "gen_b");
  std::map<std::string, std::string> c = Checksums(**server, "gen_c");
  ASSERT_EQ(a.size(), kTables.size());
  for (const std::string& t : kTables) {
    std::string checksum_a =
        std::vector<std::string>(absl::StrSplit(a[t], '\t'))[1];
    std::string checksum_b =
        std::vector<std::string>(absl::StrSplit(b[t], '\t'))[1];
    std::string checksum_c =
        std::vector<std::string>(absl::StrSplit(c[t], '\t'))[1];
    EXPECT_EQ(checksum_a, checksum_b) << t;
    if (t == "customers" || t == "accounts" || t == "xdrs") {
      EXPECT_NE(checksum_a, checksum_c) << t;
    }
  }
}

TEST(DatagenTest, TotalsAreExactAndAccountsAreLongTailed) {
  DatagenOptions o = SmallOptions(3);
  auto db = StartTestbedDb(o);
  ASSERT_TRUE(db.ok()) << db.status();
  auto& server = *db->server;
  EXPECT_EQ(Count(server, "SELECT COUNT(*) FROM customers"), o.customers);
  EXPECT_EQ(Count(server, "SELECT COUNT(*) FROM accounts"), o.accounts);
  EXPECT_EQ(Count(server, "SELECT COUNT(*) FROM xdrs"), o.xdrs);
  // Most customers hold 1-20 accounts, one holds hundreds.
  EXPECT_EQ(Count(server,
                  "SELECT COUNT(*) FROM (SELECT i_customer FROM accounts "
                  "GROUP BY i_customer HAVING COUNT(*) > 20) t"),
            1);
  EXPECT_GE(Count(server,
                  "SELECT MAX(n) FROM (SELECT COUNT(*) n FROM accounts "
                  "GROUP BY i_customer) t"),
            100);
  EXPECT_EQ(
      Count(server,
            "SELECT COUNT(*) FROM customers c WHERE NOT EXISTS "
            "(SELECT 1 FROM accounts a WHERE a.i_customer = c.i_customer)"),
      0);
  // Every account has its main subscription; every xDR belongs to its
  // account's customer.
  EXPECT_EQ(
      Count(server, "SELECT COUNT(*) FROM subscriptions WHERE is_addon = 0"),
      o.accounts);
  EXPECT_EQ(Count(server,
                  "SELECT COUNT(*) FROM xdrs x JOIN accounts a "
                  "ON a.i_account = x.i_account "
                  "WHERE a.i_customer <> x.i_customer"),
            0);
}

TEST(DatagenTest, SomeCustomersAreOverTheirNewLimits) {
  auto db = StartTestbedDb(SmallOptions(5));
  ASSERT_TRUE(db.ok()) << db.status();
  // MOB-S's data_mb limit is 2000 on v1 and 1500 on v2.
  EXPECT_GT(Count(*db->server,
                  "SELECT COUNT(*) FROM subscription_usage u "
                  "JOIN subscriptions s ON s.i_subscription = u.i_subscription "
                  "JOIN products p ON p.i_product = s.i_product "
                  "JOIN resource_types t "
                  "ON t.i_resource_type = u.i_resource_type "
                  "WHERE p.code = 'MOB-S' AND t.code = 'data_mb' "
                  "AND u.used_amount > 1500"),
            0);
  EXPECT_EQ(Count(*db->server,
                  "SELECT COUNT(*) FROM subscription_usage u "
                  "JOIN subscriptions s ON s.i_subscription = u.i_subscription "
                  "JOIN product_resources r ON r.i_product = s.i_product "
                  "AND r.i_resource_type = u.i_resource_type "
                  "WHERE u.used_amount > r.max_amount"),
            0);
}

TEST(DatagenTest, BothCatalogsShareCodesWithDifferentIds) {
  auto db = StartTestbedDb(SmallOptions(1), /*generate=*/false);
  ASSERT_TRUE(db.ok()) << db.status();
  absl::StatusOr<std::vector<std::string>> rows = db->server->Query(
      "SELECT COUNT(*), SUM(a.i_product = b.product_id) FROM "
      "billing_v1.products a JOIN billing_v2.products b "
      "ON b.product_code = a.code");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ((*rows)[0], "15\t0");
  const std::string csv = ProductCorrespondenceCsv();
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "v1_code,v1_product_id,v2_code,v2_product_id");
  EXPECT_NE(csv.find("\nMOB-S,1,MOB-S,5015\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\n,,MOB-5G,5100\n"), std::string::npos) << csv;
  // A v1-only product, and one renamed on v2 (same name, other code).
  EXPECT_NE(csv.find("\nFIX-ISDN,16,,\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\nBB-250,17,FIBER-250,5101\n"), std::string::npos) << csv;
  rows = db->server->Query(
      "SELECT a.name = b.display_name, a.code <> b.product_code FROM "
      "billing_v1.products a JOIN billing_v2.products b "
      "ON a.i_product = 17 AND b.product_id = 5101");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ((*rows)[0], "1\t1");
  auto map = ParseProductMap(csv);
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(map->size(), 18u);  // 17 v1 products and MOB-5G
}

TEST(DatagenTest, LargeCustomersFollowTheOptions) {
  DatagenOptions o = SmallOptions(4);
  o.customers = 40;
  o.accounts = 1200;
  o.xdrs = 6000;
  o.large_customers = 2;
  o.large_accounts = 200;
  o.huge_accounts = 500;
  auto db = StartTestbedDb(o);
  ASSERT_TRUE(db.ok()) << db.status();
  auto rows = db->server->Query(
      "SELECT n, COUNT(*) FROM (SELECT COUNT(*) n FROM accounts "
      "GROUP BY i_customer HAVING n > 20) t GROUP BY n ORDER BY n",
      "billing_v1");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(*rows, (std::vector<std::string>{"200\t2", "500\t1"}));
  // The big ones have their share of xDRs (spread evenly over accounts).
  EXPECT_GT(Count(*db->server,
                  "SELECT MAX(n) FROM (SELECT COUNT(*) n FROM xdrs "
                  "GROUP BY i_customer) t"),
            1000);
  // Sizes that cannot fit are refused.
  o.huge_accounts = 5000;
  EXPECT_EQ(GenerateCustomers(*db->v1, o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DatagenTest, EveryBalanceIsTheSumOfItsTransactions) {
  auto db = StartTestbedDb(SmallOptions(6));
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(Count(*db->server,
                  "SELECT COUNT(*) FROM accounts a WHERE a.balance <> "
                  "(SELECT COALESCE(SUM(t.amount), 0) FROM "
                  "balance_transactions t WHERE t.i_account = a.i_account)"),
            0);
  EXPECT_EQ(Count(*db->server,
                  "SELECT COUNT(*) FROM customers c WHERE c.balance <> "
                  "(SELECT COALESCE(SUM(t.amount), 0) FROM "
                  "balance_transactions t WHERE t.i_customer = c.i_customer "
                  "AND t.i_account IS NULL)"),
            0);
  // One opening transaction per account and per customer.
  EXPECT_EQ(Count(*db->server,
                  "SELECT COUNT(*) FROM balance_transactions "
                  "WHERE tx_type = 'opening'"),
            3000 + 200);
}

TEST(DatagenTest, DataHasTheHardShapes) {
  auto db = StartTestbedDb(SmallOptions(8));
  ASSERT_TRUE(db.ok()) << db.status();
  // Logins and names outside ASCII, stored intact.
  auto rows = db->server->Query(
      "SELECT login FROM customers WHERE i_customer IN (17, 53, 89) "
      "ORDER BY i_customer",
      "billing_v1");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(*rows, (std::vector<std::string>{DemoLogin(17), DemoLogin(53),
                                             DemoLogin(89)}));
  EXPECT_EQ(DemoLogin(53), "анна.53");
  EXPECT_GT(Count(*db->server,
                  "SELECT COUNT(*) FROM customers WHERE companyname <> "
                  "CONVERT(companyname USING ascii)"),
            0);
  // Usage exactly at a limit.
  EXPECT_GT(Count(*db->server,
                  "SELECT COUNT(*) FROM subscription_usage u "
                  "JOIN subscriptions s ON s.i_subscription = u.i_subscription "
                  "JOIN product_resources r ON r.i_product = s.i_product "
                  "AND r.i_resource_type = u.i_resource_type "
                  "WHERE u.used_amount = r.max_amount AND r.max_amount > 0"),
            0);
  // Accounts on the v1-only product and on the product renamed on v2.
  for (const char* code : {"FIX-ISDN", "BB-250"}) {
    EXPECT_GT(Count(*db->server,
                    absl::StrCat("SELECT COUNT(*) FROM accounts a JOIN "
                                 "products p ON p.i_product = a.i_product "
                                 "WHERE p.code = '",
                                 code, "'")),
              0)
        << code;
  }
}

TEST(DatagenTest, RefusesAPopulatedSourceAndImpossibleTotals) {
  DatagenOptions o = SmallOptions(1);
  auto db = StartTestbedDb(o);
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(GenerateCustomers(*db->v1, o).status().code(),
            absl::StatusCode::kFailedPrecondition);
  DatagenOptions bad = o;
  bad.accounts = bad.customers * 40;
  EXPECT_EQ(GenerateCustomers(*db->v1, bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  bad.accounts = bad.customers - 1;
  EXPECT_EQ(GenerateCustomers(*db->v1, bad).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::testbed
