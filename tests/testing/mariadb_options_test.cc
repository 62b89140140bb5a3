// MariaDbServerOptions (the row-based binary log, server ids, a directory of
// the caller's choosing, detached servers) and tandem-mariadb-throwaway, the
// tool scripts/mariadb-throwaway wraps, run as a real process.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/eventually.h"
#include "tests/testing/mariadb_server.h"
#include "tests/testing/subprocess.h"

namespace tandem::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

namespace fs = std::filesystem;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

// A directory for a test's own use, removed at the end.
class ScratchDir {
 public:
  ScratchDir() {
    const char* tmpdir = getenv("TMPDIR");
    path_ = absl::StrCat(tmpdir != nullptr && *tmpdir ? tmpdir : "/tmp",
                         "/tandem-throwaway-test-XXXXXX");
    if (mkdtemp(path_.data()) == nullptr) path_.clear();
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(MariaDbServerOptionsTest, BinlogIsOnByDefaultRowBasedWithUniqueIds) {
  auto a = MariaDbServer::Start();
  auto b = MariaDbServer::Start();
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  for (const auto* server : {&*a, &*b}) {
    auto rows = (*server)->Query(
        "SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@server_id, "
        "@@log_bin_basename");
    ASSERT_TRUE(rows.ok()) << rows.status();
    EXPECT_THAT(*rows, ElementsAre(absl::StrCat(
                           "1\tROW\tFULL\t", (*server)->server_id(), "\t",
                           (*server)->dir(), "/binlog/mariadb-bin")));
    EXPECT_TRUE((*server)->binlog());
  }
  EXPECT_NE((*a)->server_id(), (*b)->server_id());
  // A write is logged as a row event, with the row's image.
  ASSERT_TRUE((*a)->CreateDatabase("d").ok());
  ASSERT_TRUE((*a)->Execute("CREATE TABLE t (id INT PRIMARY KEY, v TEXT);"
                            "INSERT INTO t VALUES (1, 'x')",
                            "d")
                  .ok());
  auto events = (*a)->Query("SHOW BINLOG EVENTS IN 'mariadb-bin.000001'");
  ASSERT_TRUE(events.ok()) << events.status();
  bool write_rows = false;
  for (const std::string& e : *events) {
    write_rows |= absl::StrContains(e, "Write_rows");
  }
  EXPECT_TRUE(write_rows) << absl::StrJoin(*events, "\n");
}

TEST(MariaDbServerOptionsTest, BinlogCanBeSkippedAndServerIdChosen) {
  MariaDbServerOptions options;
  options.binlog = false;
  options.server_id = 4242;
  auto server = MariaDbServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto rows = (*server)->Query("SELECT @@log_bin, @@server_id");
  ASSERT_TRUE(rows.ok());
  EXPECT_THAT(*rows, ElementsAre("0\t4242"));
  EXPECT_FALSE((*server)->binlog());
  EXPECT_EQ((*server)->server_id(), 4242u);
}

TEST(MariaDbServerOptionsTest, AGivenDirIsKeptAndServesItsDataAgain) {
  ScratchDir scratch;
  ASSERT_FALSE(scratch.path().empty());
  const std::string dir = scratch.path() + "/db";
  MariaDbServerOptions options;
  options.dir = dir;
  int port = 0;
  {
    auto server = MariaDbServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    EXPECT_EQ((*server)->dir(), fs::canonical(dir).string());
    port = (*server)->port();
    ASSERT_TRUE((*server)->CreateDatabase("kept").ok());
  }
  EXPECT_TRUE(fs::is_directory(dir + "/data/kept"));
  EXPECT_FALSE(fs::exists(dir + "/sock")) << "the server was stopped";
  auto again = MariaDbServer::Start(options);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->port(), port);
  auto rows = (*again)->Query("SHOW DATABASES LIKE 'kept'");
  ASSERT_TRUE(rows.ok());
  EXPECT_THAT(*rows, ElementsAre("kept"));
}

TEST(MariaDbServerOptionsTest, BadPortIsRefused) {
  MariaDbServerOptions options;
  options.port = 70000;
  EXPECT_EQ(MariaDbServer::Start(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MariaDbServerOptionsTest, ADetachedServerOutlivesItsObject) {
  ScratchDir scratch;
  MariaDbServerOptions options;
  options.dir = scratch.path() + "/db";
  options.detached = true;
  pid_t pid = -1;
  {
    auto server = MariaDbServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    pid = (*server)->pid();
  }
  ASSERT_GT(pid, 0);
  EXPECT_EQ(kill(pid, 0), 0) << "still running";
  kill(pid, SIGTERM);
  EXPECT_TRUE(Eventually([&] { return !fs::exists(options.dir + "/sock"); },
                         absl::Seconds(30)));
}

// Runs the tool; returns its exit status, stdout and stderr.
RunResult Tool(std::vector<std::string> args, const std::string& input = "") {
  args.insert(args.begin(), TANDEM_MARIADB_THROWAWAY);
  absl::StatusOr<RunResult> r = Run(std::move(args), input, 120'000);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : RunResult{};
}

int ExitCode(const RunResult& r) {
  return WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1;
}

TEST(ThrowawayToolTest, StartSqlRestartAndStop) {
  ScratchDir scratch;
  const std::string dir = scratch.path() + "/db";
  RunResult started = Tool({"start", dir});
  ASSERT_EQ(ExitCode(started), 0) << started.err;
  std::vector<std::string> env = absl::StrSplit(started.out, '\n');
  ASSERT_GE(env.size(), 5u) << started.out;
  int port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(
      absl::StripPrefix(env[0], "export TANDEM_DB_PORT="), &port))
      << env[0];
  const std::string real = fs::canonical(dir).string();
  EXPECT_EQ(
      started.out,
      absl::StrCat("export TANDEM_DB_PORT=", port, "\n",
                   "export TANDEM_DB_SOCKET=", real, "/sock\n",
                   "export TANDEM_DB_URL=tcp://127.0.0.1:", port, "\n",
                   "export TANDEM_DB_USER=tandem\n",
                   "export TANDEM_DB_PASSWORD_FILE=", real, "/password\n"));
  EXPECT_EQ(ReadFile(dir + "/env"), started.out);
  EXPECT_THAT(started.err, HasSubstr("binlog on"));
  // Starting a running server only prints its env.
  RunResult again = Tool({"start", dir});
  EXPECT_EQ(ExitCode(again), 0);
  EXPECT_EQ(again.out, started.out);
  RunResult sql = Tool({"sql", dir, "", "-N"},
                       "CREATE DATABASE d; SELECT @@log_bin, @@server_id;");
  EXPECT_EQ(ExitCode(sql), 0) << sql.err;
  EXPECT_EQ(sql.out, absl::StrCat("1\t", port, "\n"));
  // A server that died comes back on its data and port.
  const std::string pid_text = ReadFile(dir + "/server.pid");
  int pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripSuffix(pid_text, "\n"), &pid));
  kill(pid, SIGKILL);
  ASSERT_TRUE(Eventually([&] { return kill(pid, 0) != 0; }, absl::Seconds(30)));
  RunResult restarted = Tool({"start", dir});
  ASSERT_EQ(ExitCode(restarted), 0) << restarted.err;
  EXPECT_EQ(restarted.out, started.out);
  sql = Tool({"sql", dir, "d", "-N"}, "SELECT DATABASE();");
  EXPECT_EQ(sql.out, "d\n");
  RunResult stopped = Tool({"stop", dir});
  EXPECT_EQ(ExitCode(stopped), 0) << stopped.err;
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_EQ(ExitCode(Tool({"stop", dir})), 0) << "stopping twice is fine";
}

TEST(ThrowawayToolTest, RefusesForeignDirsAndBadArguments) {
  ScratchDir scratch;
  std::ofstream(scratch.path() + "/precious") << "x";
  RunResult r = Tool({"start", scratch.path()});
  EXPECT_EQ(ExitCode(r), 1);
  EXPECT_THAT(r.err, HasSubstr("was not made by mariadb-throwaway"));
  r = Tool({"stop", scratch.path()});
  EXPECT_EQ(ExitCode(r), 1);
  EXPECT_TRUE(fs::exists(scratch.path() + "/precious"));
  r = Tool({"start", scratch.path() + "/db", "notaport"});
  EXPECT_EQ(ExitCode(r), 1);
  EXPECT_THAT(r.err, HasSubstr("PORT must be a number"));
  EXPECT_EQ(ExitCode(Tool({"start"})), 2);
  EXPECT_EQ(ExitCode(Tool({"frobnicate", "x"})), 2);
  r = Tool({"sql", scratch.path() + "/nothing"});
  EXPECT_EQ(ExitCode(r), 1);
  EXPECT_THAT(r.err, HasSubstr("is it started?"));
}

}  // namespace
}  // namespace tandem::testing
