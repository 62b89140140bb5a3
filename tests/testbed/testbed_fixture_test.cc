// The three-server testbed fixture the migrator's tests start: source,
// target and control on separate servers with the binlog on, the
// population in v1, both catalogs, the product map.
#include "tests/testbed/testbed_fixture.h"

#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/config.h"
#include "gtest/gtest.h"

namespace tandem::testbed {
namespace {

TestbedOptions Small() {
  TestbedOptions o;
  o.datagen.customers = 12;
  o.datagen.accounts = 60;
  o.datagen.xdrs = 200;
  o.datagen.password_iterations = 10;
  return o;
}

std::string One(const tandem::testing::MariaDbServer& server,
                const std::string& sql, const std::string& db = "") {
  auto rows = server.Query(sql, db);
  EXPECT_TRUE(rows.ok()) << rows.status() << " " << sql;
  return rows.ok() && !rows->empty() ? (*rows)[0] : "";
}

TEST(TestbedFixtureTest, ThreeServersWithBinlogHoldTheirDatabases) {
  auto tb = StartTestbed(Small());
  ASSERT_TRUE(tb.ok()) << tb.status();
  const Testbed& t = **tb;
  ASSERT_TRUE(t.separate_servers());
  std::set<int> ports = {t.source_server().port(), t.target_server().port(),
                         t.control_server().port()};
  EXPECT_EQ(ports.size(), 3u);
  std::set<uint32_t> ids = {t.source_server().server_id(),
                            t.target_server().server_id(),
                            t.control_server().server_id()};
  EXPECT_EQ(ids.size(), 3u);
  for (const auto* s :
       {&t.source_server(), &t.target_server(), &t.control_server()}) {
    EXPECT_EQ(One(*s, "SELECT @@log_bin, @@binlog_format"), "1\tROW");
  }
  // Each database lives on its own server only.
  EXPECT_EQ(One(t.source_server(), "SELECT COUNT(*) FROM customers",
                Testbed::kSourceDb),
            "12");
  EXPECT_EQ(One(t.target_server(), "SELECT COUNT(*) FROM customers",
                Testbed::kTargetDb),
            "0");
  EXPECT_EQ(One(t.target_server(), "SELECT COUNT(*) > 0 FROM products",
                Testbed::kTargetDb),
            "1");
  EXPECT_EQ(One(t.source_server(), "SHOW DATABASES LIKE 'billing_v2'"), "");
  EXPECT_EQ(One(t.target_server(), "SHOW DATABASES LIKE 'billing_v1'"), "");
  EXPECT_EQ(One(t.control_server(), "SHOW DATABASES LIKE 'tandem_control'"),
            "tandem_control");
  EXPECT_EQ(t.report().customers, 12);
  // Connection settings and password files services can use.
  EXPECT_EQ(t.SourceDb().url, t.source_server().url());
  EXPECT_EQ(t.TargetDb().database, "billing_v2");
  EXPECT_EQ(t.ControlDb().url, t.control_server().url());
  auto password = ReadSecretFile(t.target_password_file());
  ASSERT_TRUE(password.ok());
  EXPECT_EQ(*password, t.target_server().password());
  // The product map, as a file and parsed.
  EXPECT_TRUE(std::filesystem::exists(t.product_map_path()));
  bool renamed = false;
  for (const ProductMapEntry& e : t.product_map()) {
    renamed |= e.v1_code == "BB-250" && e.v2_code == "FIBER-250";
  }
  EXPECT_TRUE(renamed);
}

TEST(TestbedFixtureTest, TheTargetCanGoDownWhileTheSourceLives) {
  auto tb = StartTestbed(Small());
  ASSERT_TRUE(tb.ok()) << tb.status();
  auto probe = [](MysqlPool& pool) {
    return pool.Run("probe", [](sql::Connection& conn) {
      std::unique_ptr<sql::Statement> s(conn.createStatement());
      std::unique_ptr<sql::ResultSet> rs(s->executeQuery("SELECT 1"));
      return absl::OkStatus();
    });
  };
  (*tb)->target_server().Kill();
  EXPECT_EQ(probe((*tb)->v2()).code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(probe((*tb)->v1()).ok());
  ASSERT_TRUE((*tb)->target_server().Restart().ok());
}

TEST(TestbedFixtureTest, OneServerModeSharesIt) {
  TestbedOptions o = Small();
  o.separate_servers = false;
  o.generate = false;
  o.server.binlog = false;
  auto tb = StartTestbed(o);
  ASSERT_TRUE(tb.ok()) << tb.status();
  EXPECT_FALSE((*tb)->separate_servers());
  EXPECT_EQ(&(*tb)->source_server(), &(*tb)->target_server());
  EXPECT_EQ(One((*tb)->source_server(), "SELECT @@log_bin"), "0");
  EXPECT_EQ(One((*tb)->source_server(), "SHOW DATABASES LIKE 'billing_v2'"),
            "billing_v2");
  o.server.port = 1234;
  EXPECT_EQ(StartTestbed(o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::testbed
