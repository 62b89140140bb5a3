#include "tests/testing/mariadb_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tandem::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::unique_ptr<MariaDbServer> StartOrDie() {
  const auto begin = std::chrono::steady_clock::now();
  absl::StatusOr<std::unique_ptr<MariaDbServer>> server =
      MariaDbServer::Start();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - begin)
                      .count();
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) {
    return nullptr;
  }
  ::testing::Test::RecordProperty("start_ms", static_cast<int>(ms));
  std::cerr << "MariaDbServer::Start() took " << ms << " ms\n";
  return *std::move(server);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

bool TcpPortAccepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok =
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

TEST(MariaDbServerTest, StartGivesAReadyServerWithItsConnectionDetails) {
  std::unique_ptr<MariaDbServer> db = StartOrDie();
  ASSERT_NE(db, nullptr);

  EXPECT_TRUE(db->running());
  EXPECT_GT(db->port(), 0);
  EXPECT_EQ(db->url(), absl::StrCat("tcp://127.0.0.1:", db->port()));
  EXPECT_EQ(db->socket_path(), db->dir() + "/sock");
  EXPECT_THAT(std::filesystem::path(db->dir()).filename().string(),
              ::testing::StartsWith("tandem-mariadb-"));
  EXPECT_TRUE(std::filesystem::is_socket(db->socket_path()));
  EXPECT_TRUE(TcpPortAccepts(db->port()));
  EXPECT_EQ(db->user(), "tandem");
  EXPECT_FALSE(db->password().empty());
  EXPECT_EQ(ReadFile(db->password_file()), db->password());
  struct stat st;
  ASSERT_EQ(stat(db->password_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);

  EXPECT_THAT(*db->Query("SELECT @@port, @@socket, @@character_set_server"),
              ElementsAre(absl::StrCat(db->port(), "\t", db->socket_path(),
                                       "\tutf8mb4")));
}

TEST(MariaDbServerTest, StartCreatesTandemUsersWithThePasswordAndAllGrants) {
  std::unique_ptr<MariaDbServer> db = StartOrDie();
  ASSERT_NE(db, nullptr);

  absl::StatusOr<std::vector<std::string>> users = db->Query(absl::StrCat(
      "SELECT host, authentication_string = PASSWORD('", db->password(),
      "') FROM mysql.user WHERE user = 'tandem' ORDER BY host"));
  ASSERT_TRUE(users.ok()) << users.status();
  EXPECT_THAT(*users, ElementsAre("127.0.0.1\t1", "localhost\t1"));
  for (const char* host : {"127.0.0.1", "localhost"}) {
    absl::StatusOr<std::vector<std::string>> grants =
        db->Query(absl::StrCat("SHOW GRANTS FOR 'tandem'@'", host, "'"));
    ASSERT_TRUE(grants.ok()) << grants.status();
    ASSERT_FALSE(grants->empty());
    EXPECT_THAT(grants->front(), HasSubstr("GRANT ALL PRIVILEGES ON *.*"));
    EXPECT_THAT(grants->front(), HasSubstr("WITH GRANT OPTION"));
  }
}

TEST(MariaDbServerTest, CreateDatabaseThenExecuteAndQueryRoundTrip) {
  std::unique_ptr<MariaDbServer> db = StartOrDie();
  ASSERT_NE(db, nullptr);

  ASSERT_TRUE(db->CreateDatabase("routes").ok());
  EXPECT_TRUE(db->CreateDatabase("routes").ok()) << "IF NOT EXISTS";
  EXPECT_THAT(*db->Query("SHOW DATABASES LIKE 'routes'"),
              ElementsAre("routes"));

  absl::Status created = db->Execute(
      "CREATE TABLE kv (k INT PRIMARY KEY, v VARCHAR(20));"
      "INSERT INTO kv VALUES (1, 'one'), (2, 'two\\tq'), (3, NULL);",
      "routes");
  ASSERT_TRUE(created.ok()) << created;
  EXPECT_THAT(*db->Query("SELECT k, v FROM kv ORDER BY k", "routes"),
              ElementsAre("1\tone", "2\ttwo\\tq", "3\tNULL"));
  EXPECT_THAT(*db->Query("SELECT k FROM kv WHERE k > 10", "routes"), IsEmpty());
  EXPECT_THAT(*db->Query("SELECT ''"), ElementsAre(""));
}

TEST(MariaDbServerTest, ExecuteReportsErrorsWithMatchingCodes) {
  std::unique_ptr<MariaDbServer> db = StartOrDie();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->CreateDatabase("d").ok());
  ASSERT_TRUE(db->Execute("CREATE TABLE t (k INT PRIMARY KEY)", "d").ok());

  absl::Status missing = db->Execute("SELECT * FROM nope", "d");
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;
  EXPECT_THAT(missing.message(), HasSubstr("ERROR 1146"));
  EXPECT_THAT(missing.message(), HasSubstr("d.nope"));

  absl::Status duplicate =
      db->Execute("INSERT INTO t VALUES (1); INSERT INTO t VALUES (1);", "d");
  EXPECT_EQ(duplicate.code(), absl::StatusCode::kAlreadyExists) << duplicate;
  EXPECT_THAT(*db->Query("SELECT k FROM t", "d"), ElementsAre("1"))
      << "statements before the failing one stay applied";

  absl::Status syntax = db->Execute("SELEKT 1");
  EXPECT_EQ(syntax.code(), absl::StatusCode::kInvalidArgument) << syntax;
  EXPECT_THAT(syntax.message(), HasSubstr("ERROR 1064"));

  EXPECT_EQ(db->Execute("SELECT 1", "no_such_db").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(db->CreateDatabase("bad`name").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MariaDbServerTest, ExecuteIgnoresMysqlEnvironmentVariables) {
  std::unique_ptr<MariaDbServer> db = StartOrDie();
  ASSERT_NE(db, nullptr);
  // The client would otherwise go to this host, or log in with this password.
  setenv("MYSQL_HOST", "192.0.2.1", 1);
  setenv("MYSQL_PWD", "wrong", 1);

  absl::StatusOr<std::vector<std::string>> rows = db->Query("SELECT 1");

  unsetenv("MYSQL_HOST");
  unsetenv("MYSQL_PWD");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_THAT(*rows, ElementsAre("1"));
}

TEST(MariaDbServerTest, TwoServersRunSideBySideOnDifferentPorts) {
  std::unique_ptr<MariaDbServer> a = StartOrDie();
  std::unique_ptr<MariaDbServer> b = StartOrDie();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);

  EXPECT_NE(a->port(), b->port());
  EXPECT_NE(a->socket_path(), b->socket_path());
  EXPECT_NE(a->dir(), b->dir());
  EXPECT_THAT(*a->Query("SELECT @@port"), ElementsAre(absl::StrCat(a->port())));
  EXPECT_THAT(*b->Query("SELECT @@port"), ElementsAre(absl::StrCat(b->port())));

  ASSERT_TRUE(a->CreateDatabase("only_in_a").ok());
  EXPECT_THAT(*a->Query("SHOW DATABASES LIKE 'only_in_a'"),
              ElementsAre("only_in_a"));
  EXPECT_THAT(*b->Query("SHOW DATABASES LIKE 'only_in_a'"), IsEmpty());
}

TEST(MariaDbServerTest, EachServerStartsWithPristineData) {
  // The first server may make the cached template; what it writes must not
  // reach the servers started after it.
  std::unique_ptr<MariaDbServer> first = StartOrDie();
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(first->CreateDatabase("leftover").ok());
  ASSERT_TRUE(first
                  ->Execute("CREATE TABLE t (k INT); INSERT INTO t VALUES (1)",
                            "leftover")
                  .ok());
  ASSERT_TRUE(first->Execute("CREATE USER 'extra'@'%'").ok());
  first.reset();

  for (int i = 0; i < 2; ++i) {
    std::unique_ptr<MariaDbServer> db = StartOrDie();
    ASSERT_NE(db, nullptr);
    EXPECT_THAT(*db->Query("SHOW DATABASES"),
                ElementsAre("information_schema", "mysql", "performance_schema",
                            "sys"));
    EXPECT_THAT(*db->Query("SELECT COUNT(*) FROM mysql.user WHERE user IN "
                           "('extra', 'tandem')"),
                ElementsAre("2"));
  }
}

TEST(MariaDbServerTest, KillAndRestartKeepCommittedData) {
  std::unique_ptr<MariaDbServer> db = StartOrDie();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->CreateDatabase("d").ok());
  ASSERT_TRUE(
      db->Execute("CREATE TABLE t (k INT PRIMARY KEY) ENGINE=InnoDB;"
                  "INSERT INTO t VALUES (1), (2);"
                  "START TRANSACTION; INSERT INTO t VALUES (3); COMMIT;",
                  "d")
          .ok());
  const int port = db->port();

  db->Kill();
  EXPECT_FALSE(db->running());
  EXPECT_FALSE(TcpPortAccepts(port));
  absl::Status down = db->Execute("SELECT 1");
  EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable) << down;
  EXPECT_TRUE(std::filesystem::exists(db->dir() + "/data/d"));

  const auto begin = std::chrono::steady_clock::now();
  absl::Status restarted = db->Restart();
  ASSERT_TRUE(restarted.ok()) << restarted;
  std::cerr << "Restart() took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - begin)
                   .count()
            << " ms\n";
  EXPECT_TRUE(db->running());
  EXPECT_EQ(db->port(), port);
  EXPECT_THAT(*db->Query("SELECT @@port"), ElementsAre(absl::StrCat(port)));
  EXPECT_THAT(*db->Query("SELECT k FROM t ORDER BY k", "d"),
              ElementsAre("1", "2", "3"));
}

TEST(MariaDbServerTest, RestartWhileRunningIsAFailedPrecondition) {
  std::unique_ptr<MariaDbServer> db = StartOrDie();
  ASSERT_NE(db, nullptr);

  EXPECT_EQ(db->Restart().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(db->Execute("SELECT 1").ok());
}

TEST(MariaDbServerTest, DestructorStopsTheServerAndRemovesTheDir) {
  std::unique_ptr<MariaDbServer> db = StartOrDie();
  ASSERT_NE(db, nullptr);
  const std::string dir = db->dir();
  const int port = db->port();
  ASSERT_TRUE(std::filesystem::is_directory(dir));

  db.reset();

  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_FALSE(TcpPortAccepts(port));
}

TEST(MariaDbServerTest, DestructorAfterKillRemovesTheDir) {
  std::unique_ptr<MariaDbServer> db = StartOrDie();
  ASSERT_NE(db, nullptr);
  const std::string dir = db->dir();
  db->Kill();

  db.reset();

  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(MariaDbServerTest, StartRemovesStaleDirsOfDeadOwnersOnly) {
  // A pid that is surely gone: a child we have reaped.
  const pid_t dead = fork();
  ASSERT_GE(dead, 0);
  if (dead == 0) {
    _exit(0);
  }
  int status;
  ASSERT_EQ(waitpid(dead, &status, 0), dead);

  const char* tmpdir = getenv("TMPDIR");
  const std::filesystem::path root =
      tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
  const std::string ns =
      std::filesystem::read_symlink("/proc/self/ns/pid").string();
  auto make_dir = [&](const std::string& name, pid_t owner) {
    const std::filesystem::path dir = root / name;
    std::filesystem::create_directories(dir / "data");
    std::ofstream(dir / "owner.pid") << owner << "\n" << ns << "\n";
    return dir;
  };
  const std::string suffix = absl::StrCat(getpid());
  const std::filesystem::path stale =
      make_dir("tandem-mariadb-stale" + suffix, dead);
  const std::filesystem::path alive =
      make_dir("tandem-mariadb-alive" + suffix, getppid());
  const std::filesystem::path unowned = root / ("tandem-mariadb-new" + suffix);
  std::filesystem::create_directories(unowned);

  std::unique_ptr<MariaDbServer> db = StartOrDie();
  ASSERT_NE(db, nullptr);

  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_TRUE(std::filesystem::exists(alive));
  EXPECT_TRUE(std::filesystem::exists(unowned)) << "no owner.pid yet";
  EXPECT_EQ(ReadFile(db->dir() + "/owner.pid"),
            absl::StrCat(getpid(), "\n", ns, "\n"));
  std::filesystem::remove_all(alive);
  std::filesystem::remove_all(unowned);
}

}  // namespace
}  // namespace tandem::testing
