// The MySQL pool and schema migrations against a real, throwaway MariaDB.
#include "common/mysql_pool.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <gtest/gtest.h>
#include <mysql_connection.h>

#include "absl/time/clock.h"
#include "common/schema_migrations.h"
#include "tests/testing/mariadb_server.h"

namespace tandem {
namespace {

class MysqlPoolTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto server = ::tandem::testing::MariaDbServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    db_ = server->release();
    ASSERT_TRUE(db_->CreateDatabase("pooltest").ok());
  }
  static void TearDownTestSuite() { delete db_; }

  MysqlOptions Options() {
    MysqlOptions options;
    options.url = db_->url();
    options.user = db_->user();
    options.password = db_->password();
    options.database = "pooltest";
    options.pool_size = 2;
    options.acquire_timeout = absl::Milliseconds(300);
    options.health_interval = absl::Milliseconds(50);
    return options;
  }

  static ::tandem::testing::MariaDbServer* db_;
};

::tandem::testing::MariaDbServer* MysqlPoolTest::db_ = nullptr;

TEST_F(MysqlPoolTest, WrongPasswordIsUnavailableAndNeverLogged) {
  MysqlOptions options = Options();
  options.password = "wrong-password-xyz";
  auto pool = MysqlPool::Create(options);
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(pool.status().message().find("wrong-password-xyz"),
            std::string::npos);
}

TEST_F(MysqlPoolTest, BadUrlIsInvalidArgument) {
  MysqlOptions options = Options();
  options.url = "127.0.0.1:3306";
  EXPECT_EQ(MysqlPool::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(MysqlPoolTest, DuplicateKeyIsAlreadyExistsAndTransactionsRollBack) {
  auto pool = MysqlPool::Create(Options());
  ASSERT_TRUE(pool.ok()) << pool.status();
  ASSERT_TRUE((*pool)
                  ->Run("create",
                        [](sql::Connection& conn) {
                          std::unique_ptr<sql::Statement> s(
                              conn.createStatement());
                          s->execute(
                              "CREATE TABLE IF NOT EXISTS t (id INT PRIMARY "
                              "KEY) ENGINE=InnoDB");
                          s->execute("DELETE FROM t");
                          return absl::OkStatus();
                        })
                  .ok());
  auto insert = [](int id) {
    return [id](sql::Connection& conn) {
      std::unique_ptr<sql::PreparedStatement> s(
          conn.prepareStatement("INSERT INTO t VALUES (?)"));
      s->setInt(1, id);
      s->executeUpdate();
      return absl::OkStatus();
    };
  };
  ASSERT_TRUE((*pool)->Run("insert", insert(1)).ok());
  EXPECT_EQ((*pool)->Run("insert", insert(1)).code(),
            absl::StatusCode::kAlreadyExists);
  // A failing transaction leaves nothing behind.
  absl::Status status =
      (*pool)->Transaction("two inserts", [&](sql::Connection& conn) {
        EXPECT_TRUE(insert(2)(conn).ok());
        EXPECT_TRUE(insert(1)(conn).ok());  // Throws: duplicate.
        return absl::OkStatus();
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  auto count = db_->Query("SELECT COUNT(*) FROM t", "pooltest");
  ASSERT_TRUE(count.ok());
  EXPECT_EQ((*count)[0], "1");
}

TEST_F(MysqlPoolTest, ExhaustedPoolSaysSoAfterTheAcquireTimeout) {
  auto pool = MysqlPool::Create(Options());
  ASSERT_TRUE(pool.ok());
  auto a = (*pool)->Acquire();
  auto b = (*pool)->Acquire();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*pool)->Acquire().status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(MysqlPoolTest, ServerLossIsUnavailableThenThePoolRecovers) {
  auto pool = MysqlPool::Create(Options());
  ASSERT_TRUE(pool.ok());
  auto ping = [&] {
    return (*pool)->Run("ping", [](sql::Connection& conn) {
      std::unique_ptr<sql::Statement> s(conn.createStatement());
      std::unique_ptr<sql::ResultSet> r(s->executeQuery("SELECT 1"));
      return absl::OkStatus();
    });
  };
  ASSERT_TRUE(ping().ok());
  EXPECT_TRUE((*pool)->healthy());
  db_->Kill();
  EXPECT_EQ(ping().code(), absl::StatusCode::kUnavailable);
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while ((*pool)->healthy() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));  // Polling with a deadline.
  }
  EXPECT_FALSE((*pool)->healthy());
  ASSERT_TRUE(db_->Restart().ok());
  deadline = absl::Now() + absl::Seconds(15);
  absl::Status status = ping();
  while (!status.ok() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));  // Backoff is the pool's own.
    status = ping();
  }
  EXPECT_TRUE(status.ok()) << status;
  deadline = absl::Now() + absl::Seconds(5);
  while (!(*pool)->healthy() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE((*pool)->healthy());
}

TEST_F(MysqlPoolTest, HealthChecksLeaveTheConnectionUsable) {
  MysqlOptions options = Options();
  options.pool_size = 1;  // The health check and the caller share it.
  auto pool = MysqlPool::Create(options);
  ASSERT_TRUE(pool.ok());
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while ((*pool)->health_checks() < 3 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));  // Polling with a deadline.
  }
  ASSERT_GE((*pool)->health_checks(), 3);
  absl::Status status = (*pool)->Run("query", [](sql::Connection& conn) {
    std::unique_ptr<sql::Statement> s(conn.createStatement());
    std::unique_ptr<sql::ResultSet> r(s->executeQuery("SELECT 2"));
    r->next();
    EXPECT_EQ(r->getInt(1), 2);
    return absl::OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_TRUE((*pool)->healthy());
}

TEST_F(MysqlPoolTest, MigrationsApplyOnceAndRefuseDowngrades) {
  auto pool = MysqlPool::Create(Options());
  ASSERT_TRUE(pool.ok());
  std::vector<SchemaMigration> v2 = {
      {1, "one", {"CREATE TABLE IF NOT EXISTS m1 (id INT)"}},
      {2, "two", {"INSERT INTO m1 VALUES (1)"}},
  };
  ASSERT_TRUE(ApplySchemaMigrations(**pool, "demo", v2).ok());
  ASSERT_TRUE(ApplySchemaMigrations(**pool, "demo", v2).ok());
  auto rows = db_->Query("SELECT COUNT(*) FROM m1", "pooltest");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ((*rows)[0], "1");  // Migration 2 ran once.
  std::vector<SchemaMigration> v1 = {v2[0]};
  EXPECT_EQ(ApplySchemaMigrations(**pool, "demo", v1).code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace tandem
