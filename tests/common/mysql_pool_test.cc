// The MySQL pool, schema migrations and the request log against a real,
// throwaway MariaDB.
#include "common/mysql_pool.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <mysql_connection.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/request_log.h"
#include "common/schema_migrations.h"
#include "google/protobuf/wrappers.pb.h"
#include "tests/testing/eventually.h"
#include "tests/testing/mariadb_server.h"

namespace tandem {
namespace {

class MysqlPoolTest : public ::testing::Test {
 protected:
  // No ASSERT in SetUpTestSuite: gtest would mark every test SKIPPED.
  // SetUp fails each test with the reason instead.
  static void SetUpTestSuite() {
    auto server = ::tandem::testing::MariaDbServer::Start();
    if (!server.ok()) {
      db_error_ = new absl::Status(server.status());
      return;
    }
    db_ = server->release();
    absl::Status created = db_->CreateDatabase("pooltest");
    if (!created.ok()) db_error_ = new absl::Status(created);
  }
  static void TearDownTestSuite() {
    delete db_;
    db_ = nullptr;
    delete db_error_;
    db_error_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(db_ != nullptr && db_error_ == nullptr)
        << "the suite's MariaDB did not start: "
        << (db_error_ != nullptr ? db_error_->ToString() : "?");
  }

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
  static absl::Status* db_error_;
};

::tandem::testing::MariaDbServer* MysqlPoolTest::db_ = nullptr;
absl::Status* MysqlPoolTest::db_error_ = nullptr;

// Sends this process's stderr (where the log goes) to a file until Finish,
// which returns what was written.
class StderrCapture {
 public:
  StderrCapture() : path_(::testing::TempDir() + "/mysql_pool_test.stderr") {
    fflush(stderr);
    saved_ = dup(STDERR_FILENO);
    int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, STDERR_FILENO);
    close(fd);
  }
  ~StderrCapture() { Finish(); }
  std::string Finish() {
    if (saved_ >= 0) {
      fflush(stderr);
      dup2(saved_, STDERR_FILENO);
      close(saved_);
      saved_ = -1;
    }
    std::ifstream in(path_);
    return std::string(std::istreambuf_iterator<char>(in),
                       std::istreambuf_iterator<char>());
  }

 private:
  const std::string path_;
  int saved_ = -1;
};

TEST_F(MysqlPoolTest, WrongPasswordIsUnavailableAndNeverLogged) {
  InitLogging("mysql_pool_test", LogLevel::kDebug);
  StderrCapture captured;
  MysqlOptions wrong = Options();
  wrong.password = "wrong-password-xyz";
  auto refused = MysqlPool::Create(wrong);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("Access denied"), std::string::npos)
      << refused.status();
  EXPECT_EQ(refused.status().message().find("wrong-password-xyz"),
            std::string::npos);
  // A pool with the right password logs that its database is up.
  auto pool = MysqlPool::Create(Options());
  ASSERT_TRUE(pool.ok()) << pool.status();
  pool->reset();
  const std::string log = captured.Finish();
  InitLogging("mysql_pool_test", LogLevel::kInfo);
  // The log was written (so reading it proves something)...
  EXPECT_NE(log.find("event=db_up"), std::string::npos) << log;
  // ...and holds neither password.
  EXPECT_EQ(log.find("wrong-password-xyz"), std::string::npos) << log;
  EXPECT_EQ(log.find(db_->password()), std::string::npos) << log;
}

TEST(PlaceholdersTest, RepeatsOneMarkOrRowCommaSeparated) {
  EXPECT_EQ(Placeholders(0), "");
  EXPECT_EQ(Placeholders(1), "?");
  EXPECT_EQ(Placeholders(3), "?,?,?");
  EXPECT_EQ(Placeholders(2, "(?,?)"), "(?,?),(?,?)");
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

TEST_F(MysqlPoolTest, ReconnectBackoffRunsOnTheInjectedClock) {
  SimulatedClock clock;
  MysqlOptions options = Options();
  options.pool_size = 1;
  options.health_interval = absl::Hours(1);  // no health check meanwhile
  options.clock = &clock;
  auto pool = MysqlPool::Create(options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  auto ping = [&] {
    return (*pool)->Run("ping", [](sql::Connection& conn) {
      std::unique_ptr<sql::Statement> s(conn.createStatement());
      std::unique_ptr<sql::ResultSet> r(s->executeQuery("SELECT 1"));
      return absl::OkStatus();
    });
  };
  auto waiting = [](const absl::Status& status) {
    return status.code() == absl::StatusCode::kUnavailable &&
           absl::StrContains(status.message(), "(retrying)");
  };
  ASSERT_TRUE(ping().ok());
  db_->Kill();
  // The idle connection breaks and is dropped; connecting again fails.
  EXPECT_EQ(ping().code(), absl::StatusCode::kUnavailable);
  absl::Status failed = ping();
  EXPECT_EQ(failed.code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(waiting(failed)) << failed;
  // Until the clock has moved 100 ms, no call connects.
  EXPECT_TRUE(waiting(ping()));
  clock.Advance(absl::Milliseconds(99));
  EXPECT_TRUE(waiting(ping()));
  clock.Advance(absl::Milliseconds(1));
  failed = ping();  // connects, fails: the pause doubles to 200 ms
  EXPECT_FALSE(waiting(failed)) << failed;
  ASSERT_TRUE(db_->Restart().ok());
  clock.Advance(absl::Milliseconds(199));
  // The server is back, but the pool keeps its pause by its clock.
  EXPECT_TRUE(waiting(ping()));
  clock.Advance(absl::Milliseconds(1));
  absl::Status back = ping();
  EXPECT_TRUE(back.ok()) << back;
}

TEST_F(MysqlPoolTest, AcquireTimeoutAndHealthChecksRunOnTheInjectedClock) {
  SimulatedClock clock;
  const absl::Time start = clock.Now();
  MysqlOptions options = Options();
  options.pool_size = 1;
  options.acquire_timeout = absl::Seconds(2);
  options.health_interval = absl::Seconds(10);
  options.clock = &clock;
  auto pool = MysqlPool::Create(options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  absl::StatusOr<MysqlPool::Lease> held = (*pool)->Acquire();
  ASSERT_TRUE(held.ok()) << held.status();
  std::atomic<bool> done{false};
  absl::Status waited;
  std::thread waiter([&] {
    waited = (*pool)->Acquire().status();
    done = true;
  });
  // The second caller waits for the held connection until the pool's clock
  // says the acquire timeout has passed, however long that takes for real.
  ASSERT_TRUE(::tandem::testing::Eventually(
      [&] { return clock.EarliestWaiter() == start + absl::Seconds(2); }));
  clock.Advance(absl::Milliseconds(1999));
  EXPECT_FALSE(done.load());
  clock.Advance(absl::Milliseconds(1));
  ASSERT_TRUE(::tandem::testing::Eventually([&] { return done.load(); }));
  waiter.join();
  EXPECT_EQ(waited.code(), absl::StatusCode::kResourceExhausted) << waited;
  // No health check before the clock reaches the interval, one when it does.
  EXPECT_EQ((*pool)->health_checks(), 0);
  { MysqlPool::Lease returned = *std::move(held); }
  clock.Advance(absl::Seconds(8));
  ASSERT_TRUE(::tandem::testing::Eventually(
      [&] { return (*pool)->health_checks() == 1; }));
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

TEST_F(MysqlPoolTest, RequestLogReplaysRefusesAnotherMethodReplacesAndPrunes) {
  auto pool = MysqlPool::Create(Options());
  ASSERT_TRUE(pool.ok());
  const RequestLog log("pooltest_requests");
  ASSERT_TRUE((*pool)
                  ->Run("create",
                        [&](sql::Connection& conn) {
                          std::unique_ptr<sql::Statement> s(
                              conn.createStatement());
                          s->execute(log.CreateTableStatement());
                          // Safe to run again, as a migration must be.
                          s->execute(log.CreateTableStatement());
                          return absl::OkStatus();
                        })
                  .ok());
  google::protobuf::StringValue first;
  first.set_value("first answer");
  google::protobuf::StringValue found;
  int64_t version = 0;
  absl::Status status =
      (*pool)->Transaction("record", [&](sql::Connection& conn) {
        // Nothing recorded yet, and an empty id is never recorded.
        EXPECT_FALSE(*log.Find(conn, "r-1", "Set", &found));
        log.Save(conn, "", "Set", first, 7, 1000);
        EXPECT_FALSE(*log.Find(conn, "", "Set", &found));
        log.Save(conn, "r-1", "Set", first, 7, 1000);
        return absl::OkStatus();
      });
  ASSERT_TRUE(status.ok()) << status;
  status = (*pool)->Transaction("replay", [&](sql::Connection& conn) {
    absl::StatusOr<bool> again = log.Find(conn, "r-1", "Set", &found, &version);
    EXPECT_TRUE(again.ok() && *again);
    EXPECT_EQ(found.value(), "first answer");
    EXPECT_EQ(version, 7);
    // The same id for another method is the caller's mistake.
    absl::StatusOr<bool> other = log.Find(conn, "r-1", "Delete", &found);
    EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(other.status().message(), "Set"));
    // A record no longer current is replaced by the request's new answer.
    google::protobuf::StringValue second;
    second.set_value("second answer");
    log.Save(conn, "r-1", "Set", second, 9, 2000);
    log.Save(conn, "r-2", "Set", second, kAnyVersion, 3000);
    return absl::OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status;
  status = (*pool)->Transaction("prune", [&](sql::Connection& conn) {
    absl::StatusOr<bool> replaced =
        log.Find(conn, "r-1", "Set", &found, &version);
    EXPECT_TRUE(replaced.ok() && *replaced);
    EXPECT_EQ(found.value(), "second answer");
    EXPECT_EQ(version, 9);
    // Records made before 2500 go; the one made at 3000 stays.
    EXPECT_EQ(log.Prune(conn, 2500, 100), 1);
    EXPECT_FALSE(*log.Find(conn, "r-1", "Set", &found));
    EXPECT_TRUE(*log.Find(conn, "r-2", "Set", &found, &version));
    EXPECT_EQ(version, kAnyVersion);
    return absl::OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(ValidateRequestId(std::string(64, 'x')).code(),
            absl::StatusCode::kOk);
  EXPECT_EQ(ValidateRequestId(std::string(65, 'x')).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem
