// The tail's probe (BillingDb::ColumnDigests) against a real MariaDB: many
// customers in one statement read the same digests as one at a time, and a
// digest moves exactly when the tail has something to carry (a new row of
// an append-only table, a changed balance), not when a column the tail
// does not carry changes.
#include <gtest/gtest.h>
#include <mysql_connection.h>

#include "absl/strings/str_cat.h"
#include "common/mysql_results.h"
#include "tests/migrator/migrator_fixture.h"

namespace tandem::migrator::testing {
namespace {

class MigratorTailProbeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    EnvOptions o;
    o.datagen.customers = 10;
    o.datagen.accounts = 40;
    o.datagen.xdrs = 400;
    o.datagen.large_customers = 0;
    o.datagen.huge_accounts = 0;
    env_ = MigratorEnv::StartForSuite(o, setup_error_);
  }
  static void TearDownTestSuite() { delete env_; }
  void SetUp() override { ASSERT_NE(env_, nullptr) << *setup_error_; }

  static void Source(const std::string& sql) {
    absl::StatusOr<std::vector<std::string>> rows =
        env_->testbed().source_server().Query(sql, testbed::Testbed::kSourceDb);
    ASSERT_TRUE(rows.ok()) << sql << ": " << rows.status();
  }

  static inline MigratorEnv* env_ = nullptr;
  static inline std::string* setup_error_ = new std::string("not started");
};

using Digests = std::map<int64_t, std::map<std::string, HashTotal>>;

TEST_F(MigratorTailProbeTest,
       DigestsMoveExactlyWhenTheTailHasSomethingToCarry) {
  auto server = env_->StartMigrator(
      [](MigratorServerOptions& o) { o.backend.parallelism = 0; });
  ASSERT_TRUE(server.ok()) << server.status();
  BillingDb& source = (*server)->db(kSourceSide);
  const std::vector<int64_t> customers = env_->MovableCustomers(3);
  ASSERT_EQ(customers.size(), 3u);
  const std::map<std::string, std::vector<std::string>> columns = {
      {"xdrs", {}}, {"accounts", {"balance"}}};
  auto read = [&](const std::vector<int64_t>& of) {
    return RunReturning(source.pool(), "test digests",
                        [&](sql::Connection& conn) {
                          return source.ColumnDigests(conn, of, columns);
                        });
  };
  absl::StatusOr<Digests> all = read(customers);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  for (int64_t c : customers) {
    absl::StatusOr<Digests> one = read({c});
    ASSERT_TRUE(one.ok()) << one.status();
    EXPECT_EQ(one->at(c), all->at(c)) << "customer " << c;
    EXPECT_GT(all->at(c).at("xdrs").rows, 0) << "customer " << c;
  }
  const int64_t a = customers[0];
  const int64_t b = customers[1];
  // A column the tail does not carry: nothing moves.
  Source(
      absl::StrCat("UPDATE accounts SET status = CONCAT(status, '') , "
                   "creation_date = creation_date + INTERVAL 1 SECOND "
                   "WHERE i_customer = ",
                   a));
  absl::StatusOr<Digests> after = read(customers);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, *all);
  // A route-blind charge: a new xDR and a changed balance of `a` only.
  Source(absl::StrCat(
      "INSERT INTO xdrs (i_account, i_customer, connect_time, duration, "
      "charged_amount, CLI, CLD) SELECT i_account, i_customer, NOW(), 60, "
      "0.5, '1', '2' FROM accounts WHERE i_customer = ",
      a, " ORDER BY i_account LIMIT 1"));
  after = read(customers);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->at(a).at("xdrs").rows, all->at(a).at("xdrs").rows + 1);
  EXPECT_EQ(after->at(a).at("accounts"), all->at(a).at("accounts"));
  EXPECT_EQ(after->at(b), all->at(b));
  Source(absl::StrCat(
      "UPDATE accounts SET balance = balance - 0.5 WHERE i_customer = ", a,
      " ORDER BY i_account LIMIT 1"));
  absl::StatusOr<Digests> charged = read(customers);
  ASSERT_TRUE(charged.ok()) << charged.status();
  EXPECT_NE(charged->at(a).at("accounts"), after->at(a).at("accounts"));
  EXPECT_EQ(charged->at(a).at("accounts").rows,
            after->at(a).at("accounts").rows);
  EXPECT_EQ(charged->at(b), all->at(b));
  // A customer with no rows at all gets zeros, not an absence.
  absl::StatusOr<Digests> nobody = read({987654321});
  ASSERT_TRUE(nobody.ok()) << nobody.status();
  EXPECT_EQ(nobody->at(987654321).at("xdrs"), HashTotal{});
}

}  // namespace
}  // namespace tandem::migrator::testing
