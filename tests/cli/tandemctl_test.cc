// The real tandemctl binary, run as a subprocess against a real router
// (in-process, on a throwaway MariaDB): exit codes, stdout and stderr.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tests/router/router_fixture.h"

extern char** environ;

namespace tandem::router::testing {
namespace {

namespace v1 = ::tandem::router::v1;
using ::tandem::common::v1::SYSTEM_SOURCE;
using ::tandem::common::v1::SYSTEM_TARGET;
using ::testing::HasSubstr;
using v1::ROUTE_STATE_MIGRATING;
using v1::ROUTE_STATE_STABLE;

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `path` with `args` and exactly `env` as its environment; returns its
// exit code and everything it wrote. Reads both pipes until they close, so a
// chatty child cannot block.
Result RunProcess(const std::string& path, const std::vector<std::string>& args,
                  const std::vector<std::string>& env) {
  Result result;
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return result;
  }
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(path.c_str()));
  for (const std::string& arg : args) {
    argv.push_back(const_cast<char*>(arg.c_str()));
  }
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& entry : env) {
    envp.push_back(const_cast<char*>(entry.c_str()));
  }
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                   O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  pid_t pid = 0;
  int spawned = posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(),
                            envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (spawned != 0) {
    ADD_FAILURE() << "posix_spawn " << path << ": " << std::strerror(spawned);
    close(out_pipe[0]);
    close(err_pipe[0]);
    return result;
  }
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      ADD_FAILURE() << "poll: " << std::strerror(errno);
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[4096];
      ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// The environment of this test without any TANDEM_* variable, so the
// developer's shell cannot leak into tandemctl.
std::vector<std::string> CleanEnvironment() {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (!absl::StartsWith(*entry, "TANDEM_")) {
      env.emplace_back(*entry);
    }
  }
  return env;
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream file(path, std::ios::trunc);
  file << contents;
  ASSERT_TRUE(file.good()) << path;
}

template <typename Message>
Message FromJson(const std::string& json) {
  Message message;
  auto status = google::protobuf::util::JsonStringToMessage(json, &message);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  return message;
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

class TandemctlTest : public RouterTest {
 protected:
  void SetUp() override {
    RouterTest::SetUp();
    server_ = StartRouter();
    ASSERT_NE(server_, nullptr);
    stub_ = Stub(server_->port());
    ImportCustomers(*stub_, 1, 5);

    std::string pattern = ::testing::TempDir() + "tandemctl_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    dir_ = pattern;
    operator_token_file_ = dir_ + "/operator.token";
    viewer_token_file_ = dir_ + "/viewer.token";
    WriteFile(operator_token_file_, absl::StrCat(kOperatorToken, "\n"));
    WriteFile(viewer_token_file_, absl::StrCat(kViewerToken, "\n"));
  }

  std::string RouterAddress() const {
    return absl::StrCat("127.0.0.1:", server_->port());
  }

  // tandemctl against this test's router with the operator token.
  Result Tandemctl(const std::vector<std::string>& args) {
    std::vector<std::string> full = {"--router", RouterAddress(),
                                     "--token_file=" + operator_token_file_};
    full.insert(full.end(), args.begin(), args.end());
    return RunWithEnv(full, {});
  }

  // tandemctl with exactly `args`, and `extra_env` added to a clean
  // environment.
  Result RunWithEnv(const std::vector<std::string>& args,
                    const std::vector<std::string>& extra_env) {
    std::vector<std::string> env = CleanEnvironment();
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    return RunProcess(TANDEMCTL_PATH, args, env);
  }

  v1::Route GetRoute(int64_t customer) {
    v1::GetRouteRequest request;
    request.set_customer_id(customer);
    v1::GetRouteResponse response;
    grpc::Status status = stub_->GetRoute(Ctx().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.route();
  }

  int64_t Revision() {
    v1::GetStatsResponse stats;
    EXPECT_TRUE(
        stub_->GetStats(Ctx().get(), v1::GetStatsRequest(), &stats).ok());
    return stats.revision();
  }

  std::unique_ptr<RouterServer> server_;
  std::unique_ptr<v1::RouterService::Stub> stub_;
  std::string dir_;
  std::string operator_token_file_;
  std::string viewer_token_file_;
};

TEST_F(TandemctlTest, LookupByLoginPrintsTable) {
  Result r = Tandemctl({"route", "lookup", "login", "user3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  std::vector<std::string> header =
      absl::StrSplit(lines[0], ' ', absl::SkipEmpty());
  std::vector<std::string> row =
      absl::StrSplit(lines[1], ' ', absl::SkipEmpty());
  EXPECT_EQ(header,
            (std::vector<std::string>{"KIND", "VALUE", "FOUND", "CUSTOMER_ID",
                                      "SYSTEM", "STATE", "VERSION"}));
  ASSERT_EQ(row.size(), header.size()) << r.out;
  EXPECT_EQ(row[0], "login");
  EXPECT_EQ(row[1], "user3");
  EXPECT_EQ(row[2], "yes");
  EXPECT_EQ(row[3], "3");
  EXPECT_EQ(row[4], "SOURCE");
  EXPECT_EQ(row[5], "STABLE");
  EXPECT_EQ(row[6], absl::StrCat(GetRoute(3).version()));
  // Columns are aligned: every column starts where its header does.
  EXPECT_EQ(lines[0].find("CUSTOMER_ID"), lines[1].find(" 3 ") + 1) << r.out;
  EXPECT_EQ(r.err, "");
}

TEST_F(TandemctlTest, LookupByLoginPrintsJson) {
  Result r = Tandemctl({"-o", "json", "route", "lookup", "login", "user3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // snake_case field names, as in the .proto.
  EXPECT_THAT(r.out, HasSubstr("\"customer_id\""));
  EXPECT_THAT(r.out, HasSubstr("\"default_system\""));
  auto response = FromJson<v1::LookupResponse>(r.out);
  EXPECT_TRUE(response.found());
  EXPECT_EQ(response.route().customer_id(), 3);
  EXPECT_EQ(response.route().system(), SYSTEM_SOURCE);
  EXPECT_EQ(response.route().state(), ROUTE_STATE_STABLE);
}

TEST_F(TandemctlTest, LookupOfUnknownKeySaysWhereItGoes) {
  Result r = Tandemctl({"route", "lookup", "account_id", "999999"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("SOURCE (default)"));
  EXPECT_THAT(r.err, HasSubstr("unknown keys go to the default system SOURCE"));
}

TEST_F(TandemctlTest, StartMoveThenFlipMovesCustomerToTarget) {
  Result start = Tandemctl({"route", "start-move", "2", "--reason", "demo"});
  ASSERT_EQ(start.exit_code, 0) << start.err;
  EXPECT_THAT(start.err, HasSubstr("SOURCE/STABLE -> SOURCE/MIGRATING"));

  Result migrating = Tandemctl({"route", "get", "2", "-o", "json"});
  ASSERT_EQ(migrating.exit_code, 0) << migrating.err;
  auto during = FromJson<v1::GetRouteResponse>(migrating.out);
  EXPECT_EQ(during.route().system(), SYSTEM_SOURCE);
  EXPECT_EQ(during.route().state(), ROUTE_STATE_MIGRATING);
  EXPECT_EQ(during.route().updated_by(), "alice");

  Result flip = Tandemctl({"route", "flip", "2"});
  ASSERT_EQ(flip.exit_code, 0) << flip.err;
  EXPECT_THAT(flip.err, HasSubstr("SOURCE/MIGRATING -> TARGET/STABLE"));

  Result moved = Tandemctl({"route", "get", "2", "-o", "json"});
  ASSERT_EQ(moved.exit_code, 0) << moved.err;
  auto after = FromJson<v1::GetRouteResponse>(moved.out);
  EXPECT_EQ(after.route().system(), SYSTEM_TARGET);
  EXPECT_EQ(after.route().state(), ROUTE_STATE_STABLE);
  EXPECT_GT(after.route().version(), during.route().version());
  // The router agrees.
  EXPECT_EQ(GetRoute(2).system(), SYSTEM_TARGET);
}

TEST_F(TandemctlTest, IllegalTransitionExitsOneWithFailedPrecondition) {
  v1::Route before = GetRoute(4);
  // SOURCE/STABLE -> TARGET/STABLE skips MIGRATING.
  Result r = Tandemctl({"route", "set", "4", "--expected_version",
                        absl::StrCat(before.version()), "--system", "target",
                        "--state", "stable"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("tandemctl: FAILED_PRECONDITION: illegal route "
                               "transition"));
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(GetRoute(4).version(), before.version());
}

TEST_F(TandemctlTest, FlipOfStableRouteExitsOneWithFailedPrecondition) {
  v1::Route before = GetRoute(1);
  Result r = Tandemctl({"route", "flip", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("tandemctl: FAILED_PRECONDITION: customer 1 "
                               "is SOURCE/STABLE, not MIGRATING"));
  EXPECT_EQ(GetRoute(1).version(), before.version());
}

TEST_F(TandemctlTest, StaleExpectedVersionExitsOneWithAborted) {
  v1::Route before = GetRoute(5);
  Result r = Tandemctl({"route", "set", "5", "--expected_version",
                        absl::StrCat(before.version() + 1000), "--system",
                        "source", "--state", "migrating"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("tandemctl: ABORTED:"));
  EXPECT_EQ(GetRoute(5).version(), before.version());
}

TEST_F(TandemctlTest, MissingTokenExitsOneWithUnauthenticated) {
  Result r = RunWithEnv({"--router", RouterAddress(), "router", "stats"}, {});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("tandemctl: UNAUTHENTICATED:"));
  EXPECT_THAT(r.err, HasSubstr("no token given"));
  EXPECT_EQ(r.out, "");
}

TEST_F(TandemctlTest, ViewerTokenCannotChangeRoutes) {
  v1::Route before = GetRoute(3);
  Result r = RunWithEnv({"--router", RouterAddress(), "--token_file",
                         viewer_token_file_, "route", "start-move", "3"},
                        {});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("tandemctl: PERMISSION_DENIED:"));
  EXPECT_EQ(GetRoute(3).version(), before.version());
}

TEST_F(TandemctlTest, UsageErrorsExitTwoAndSendNothing) {
  int64_t revision = Revision();
  const std::vector<std::vector<std::string>> invocations = {
      {"route", "lookup", "phone", "123"},          // unknown key kind
      {"route", "frobnicate", "1"},                 // unknown verb
      {"route"},                                    // no verb
      {"route", "get"},                             // missing argument
      {"route", "get", "abc"},                      // not a customer id
      {"route", "get", "1", "--bogus"},             // unknown flag
      {"-o", "xml", "router", "stats"},             // unknown output format
      {"route", "set", "1", "--system", "target"},  // required flags missing
      {"route", "start-move", "1", "--timeout", "soon"},
      {"keys", "put", "1", "login"},           // not kind:value
      {"router", "default", "set", "target"},  // --reason is required
  };
  for (const auto& args : invocations) {
    Result r = Tandemctl(args);
    EXPECT_EQ(r.exit_code, 2) << absl::StrJoin(args, " ") << "\n" << r.err;
    EXPECT_THAT(r.err, HasSubstr("--help' for usage"))
        << absl::StrJoin(args, " ");
    EXPECT_EQ(r.out, "") << absl::StrJoin(args, " ");
  }
  EXPECT_EQ(Revision(), revision);
}

TEST_F(TandemctlTest, HelpForEachNounExitsZero) {
  for (std::string noun : {"route", "keys", "router", "health"}) {
    Result r = Tandemctl({noun, "--help"});
    EXPECT_EQ(r.exit_code, 0) << noun << ": " << r.err;
    EXPECT_THAT(r.out, HasSubstr("Usage:")) << noun;
    EXPECT_THAT(r.out, HasSubstr(absl::StrCat(noun, " "))) << noun;
  }
  Result top = Tandemctl({"--help"});
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_THAT(top.out, HasSubstr("route start-move <customer_id>"));
}

TEST_F(TandemctlTest, DryRunSendsNothing) {
  v1::Route before = GetRoute(5);
  int64_t revision = Revision();

  Result move = Tandemctl({"route", "start-move", "5", "--dry-run"});
  ASSERT_EQ(move.exit_code, 0) << move.err;
  EXPECT_THAT(move.out, HasSubstr("EXPECTED_VERSION"));
  EXPECT_THAT(move.out, HasSubstr("MIGRATING"));
  EXPECT_THAT(move.err, HasSubstr("nothing was sent"));

  Result set =
      Tandemctl({"-o", "json", "route", "set", "5", "--expected_version",
                 absl::StrCat(before.version()), "--system", "source",
                 "--state", "migrating", "--dry_run", "--request_id", "req-1"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  auto request = FromJson<v1::SetRouteRequest>(set.out);
  EXPECT_EQ(request.customer_id(), 5);
  EXPECT_EQ(request.expected_version(), before.version());
  EXPECT_EQ(request.state(), ROUTE_STATE_MIGRATING);
  EXPECT_EQ(request.request_id(), "req-1");

  Result keys = Tandemctl({"keys", "put", "5", "login:dry", "--dry-run"});
  ASSERT_EQ(keys.exit_code, 0) << keys.err;

  v1::Route after = GetRoute(5);
  EXPECT_EQ(after.version(), before.version());
  EXPECT_EQ(after.state(), ROUTE_STATE_STABLE);
  EXPECT_EQ(Revision(), revision);
}

TEST_F(TandemctlTest, ImportFromCsvCreatesRoutes) {
  std::string csv = dir_ + "/customers.csv";
  WriteFile(csv,
            "customer_id,keys\n"
            "# two new customers and one that exists already\n"
            "100,login:alice,account_id:4915550100\n"
            "101,login:bob,api_token:tok-101\n"
            "3,login:user3\n");
  Result r = Tandemctl({"-o", "json", "route", "import", "--file", csv,
                        "--reason", "initial load"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto response = FromJson<v1::ImportRoutesResponse>(r.out);
  EXPECT_EQ(response.customers_seen(), 3);
  EXPECT_EQ(response.routes_created(), 2);
  EXPECT_EQ(response.key_conflicts(), 0);

  Result lookup = Tandemctl({"-o", "json", "route", "lookup", "login", "bob"});
  ASSERT_EQ(lookup.exit_code, 0) << lookup.err;
  auto bob = FromJson<v1::LookupResponse>(lookup.out);
  EXPECT_TRUE(bob.found());
  EXPECT_EQ(bob.route().customer_id(), 101);
  EXPECT_EQ(bob.route().system(), SYSTEM_SOURCE);
  EXPECT_EQ(GetRoute(100).state(), ROUTE_STATE_STABLE);
}

TEST_F(TandemctlTest, ImportDryRunChecksFileAndSendsNothing) {
  int64_t revision = Revision();
  std::string good = dir_ + "/good.csv";
  WriteFile(good, "200,login:carol\n201,login:dave,account_id:201\n");
  Result ok = Tandemctl({"route", "import", "--file", good, "--dry-run"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  std::vector<std::string> row =
      absl::StrSplit(Lines(ok.out).at(1), ' ', absl::SkipEmpty());
  EXPECT_EQ(row, (std::vector<std::string>{good, "2", "3", "SOURCE"}));

  std::string bad = dir_ + "/bad.csv";
  WriteFile(bad, "200,login:carol\n201,phone:123\n");
  Result fails = Tandemctl({"route", "import", "--file", bad, "--dry-run"});
  EXPECT_EQ(fails.exit_code, 1);
  EXPECT_THAT(fails.err, HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(fails.err, HasSubstr("line 2: unknown key kind `phone`"));

  EXPECT_EQ(Revision(), revision);
  Result lookup =
      Tandemctl({"-o", "json", "route", "lookup", "login", "carol"});
  EXPECT_FALSE(FromJson<v1::LookupResponse>(lookup.out).found());
}

TEST_F(TandemctlTest, RouterStatsPrintsJson) {
  Result r = Tandemctl({"--output=json", "router", "stats"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Zero counts are printed too, so scripts can rely on every key.
  EXPECT_THAT(r.out, HasSubstr("\"target_stable\""));
  auto stats = FromJson<v1::GetStatsResponse>(r.out);
  EXPECT_EQ(stats.source_stable(), 5);
  EXPECT_EQ(stats.source_migrating(), 0);
  EXPECT_EQ(stats.target_stable(), 0);
  EXPECT_EQ(stats.keys(), 10);
  EXPECT_EQ(stats.revision(), Revision());
  EXPECT_EQ(stats.default_system(), SYSTEM_SOURCE);
}

TEST_F(TandemctlTest, RouteGetWithKeysPrintsYaml) {
  Result r = Tandemctl({"-o", "yaml", "route", "get", "3", "--keys"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("route:\n  customer_id: 3\n  system: "
                               "SYSTEM_SOURCE\n  state: ROUTE_STATE_STABLE\n"));
  EXPECT_THAT(r.out, HasSubstr("keys:\n  - kind: KEY_KIND_LOGIN\n    value: "
                               "user3\n"));
  // A numeric-looking string stays a string.
  EXPECT_THAT(r.out, HasSubstr("value: \"5553\""));
}

TEST_F(TandemctlTest, RouteListAllFollowsEveryPage) {
  Result one = Tandemctl({"route", "list", "--page_size", "2"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(Lines(one.out).size(), 3u) << one.out;  // header + 2
  EXPECT_THAT(one.err, HasSubstr("--page_token="));

  Result all =
      Tandemctl({"-o", "json", "route", "list", "--page_size", "2", "--all"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  auto routes = FromJson<v1::ListRoutesResponse>(all.out);
  ASSERT_EQ(routes.routes_size(), 5);
  EXPECT_EQ(routes.routes(4).customer_id(), 5);
  EXPECT_EQ(routes.next_page_token(), "");
}

TEST_F(TandemctlTest, KeysPutAndDeleteChangeWhatResolves) {
  Result put = Tandemctl({"keys", "put", "2", "login:erin", "api_token:t-2"});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  Result found = Tandemctl({"-o", "json", "route", "lookup", "login", "erin"});
  EXPECT_EQ(FromJson<v1::LookupResponse>(found.out).route().customer_id(), 2);

  Result del = Tandemctl({"keys", "delete", "2", "login:erin"});
  ASSERT_EQ(del.exit_code, 0) << del.err;
  Result gone = Tandemctl({"-o", "json", "route", "lookup", "login", "erin"});
  EXPECT_FALSE(FromJson<v1::LookupResponse>(gone.out).found());
}

TEST_F(TandemctlTest, KeyOfAnotherCustomerExitsOneWithAlreadyExists) {
  Result taken = Tandemctl({"keys", "put", "3", "login:user2"});
  EXPECT_EQ(taken.exit_code, 1);
  EXPECT_THAT(taken.err, HasSubstr("tandemctl: ALREADY_EXISTS:"));
  Result owner = Tandemctl({"-o", "json", "route", "lookup", "login", "user2"});
  EXPECT_EQ(FromJson<v1::LookupResponse>(owner.out).route().customer_id(), 2);
}

TEST_F(TandemctlTest, WatchPrintsOneJsonLinePerChange) {
  int64_t from = Revision();
  ASSERT_EQ(Tandemctl({"route", "start-move", "1"}).exit_code, 0);
  ASSERT_EQ(Tandemctl({"route", "abort", "1"}).exit_code, 0);
  Result r = Tandemctl({"-o", "json", "route", "watch", "--from",
                        absl::StrCat(from), "--count", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  auto first = FromJson<v1::RouteChange>(lines[0]);
  auto second = FromJson<v1::RouteChange>(lines[1]);
  EXPECT_EQ(first.route_update().route().customer_id(), 1);
  EXPECT_EQ(first.route_update().route().state(), ROUTE_STATE_MIGRATING);
  EXPECT_EQ(second.route_update().route().state(), ROUTE_STATE_STABLE);
  EXPECT_EQ(second.stamp().reason(), "tandemctl route abort");
  EXPECT_LT(first.revision(), second.revision());
}

TEST_F(TandemctlTest, DefaultSetChangesWhereUnknownKeysGo) {
  Result set = Tandemctl(
      {"router", "default", "set", "target", "--reason", "switchover"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  Result get = Tandemctl({"-o", "json", "router", "default", "get"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  auto response = FromJson<v1::GetDefaultSystemResponse>(get.out);
  EXPECT_EQ(response.system(), SYSTEM_TARGET);
  EXPECT_EQ(response.stamp().reason(), "switchover");
  EXPECT_EQ(response.stamp().actor(), "alice");
}

TEST_F(TandemctlTest, HealthReportsServing) {
  Result r = Tandemctl({"health", "--service", kRouterHealthService});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("SERVING"));
}

TEST_F(TandemctlTest, HealthOfUnknownServiceExitsOneWithNotFound) {
  Result r = Tandemctl({"health", "--service", "no.such.Service"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("tandemctl: NOT_FOUND:"));
}

TEST_F(TandemctlTest, GlobalFlagsComeFromEnvironmentUnlessGiven) {
  // No flags at all: router, output and token all from TANDEM_*.
  Result r = RunWithEnv(
      {"router", "stats"},
      {absl::StrCat("TANDEM_ROUTER=", RouterAddress()), "TANDEM_OUTPUT=json",
       absl::StrCat("TANDEM_TOKEN=", kViewerToken)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(FromJson<v1::GetStatsResponse>(r.out).source_stable(), 5);

  // The command line wins over the environment.
  Result table = RunWithEnv(
      {"-o", "table", "router", "stats"},
      {absl::StrCat("TANDEM_ROUTER=", RouterAddress()), "TANDEM_OUTPUT=json",
       absl::StrCat("TANDEM_TOKEN_FILE=", viewer_token_file_)});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("SOURCE_STABLE"));
}

TEST_F(TandemctlTest, UnreachableRouterExitsOneWithUnavailable) {
  server_->Shutdown(absl::ZeroDuration());
  Result r = Tandemctl({"--timeout", "5s", "router", "stats"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("tandemctl: UNAVAILABLE:"));
  EXPECT_THAT(r.err, HasSubstr(RouterAddress()));
}

}  // namespace
}  // namespace tandem::router::testing
