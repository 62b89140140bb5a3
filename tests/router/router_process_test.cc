// The tandem-router binary as operators run it: configuration from
// TANDEM_* environment variables and files, readiness, metrics, and a
// graceful exit on SIGTERM.
#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/router/router_fixture.h"
#include "tests/testing/net.h"

namespace tandem::router::testing {
namespace {

using ::tandem::testing::FreePort;
using ::tandem::testing::HttpGet;

class RouterProcessTest : public RouterTest {};

TEST_F(RouterProcessTest, ConfiguredFromEnvironmentServesAndExitsOnSigterm) {
  std::string tokens = ::testing::TempDir() + "/process-tokens";
  std::ofstream(tokens) << kTokensFile;
  int grpc_port = FreePort();
  int metrics_port = FreePort();
  std::string log = ::testing::TempDir() + "/router-process.log";
  // Everything from the environment; secrets from files.
  std::vector<std::string> env = {
      absl::StrCat("TANDEM_LISTEN=127.0.0.1:", grpc_port),
      absl::StrCat("TANDEM_METRICS_LISTEN=127.0.0.1:", metrics_port),
      absl::StrCat("TANDEM_DB_URL=", db()->url()),
      absl::StrCat("TANDEM_DB_USER=", db()->user()),
      absl::StrCat("TANDEM_DB_PASSWORD_FILE=", db()->password_file()),
      absl::StrCat("TANDEM_DB_NAME=", database()),
      absl::StrCat("TANDEM_AUTH_TOKENS_FILE=", tokens),
      "TANDEM_LOG_LEVEL=debug"};
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string binary = TANDEM_ROUTER_PATH;
  char* argv[] = {binary.data(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv, envp.data()),
            0);
  posix_spawn_file_actions_destroy(&actions);

  // Short reconnect backoff: the channel is created before the port opens.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 100);
  auto channel =
      grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", grpc_port),
                                grpc::InsecureChannelCredentials(), args);
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(kRouterHealthService);
  grpc::health::v1::HealthCheckResponse response;
  // Waits for the port to open (wait_for_ready), then for readiness.
  bool ready = Eventually(
      [&] {
        grpc::ClientContext context;
        context.set_wait_for_ready(true);
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(5));
        return health->Check(&context, request, &response).ok() &&
               response.status() ==
                   grpc::health::v1::HealthCheckResponse::SERVING;
      },
      absl::Seconds(20));
  ASSERT_TRUE(ready);

  auto stub = v1::RouterService::NewStub(channel);
  ImportCustomers(*stub, 1, 3);
  std::string metrics = HttpGet(metrics_port, "/metrics");
  EXPECT_NE(metrics.find(
                "tandem_router_routes{state=\"stable\",system=\"source\"} 3"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("process_resident_memory_bytes"), std::string::npos);

  // A Watch stream open at SIGTERM ends with UNAVAILABLE, and the process
  // exits cleanly.
  auto context = Ctx(kViewerToken);
  auto reader = stub->Watch(context.get(), v1::WatchRequest());
  v1::WatchResponse event;
  while (reader->Read(&event) && !event.snapshot_done()) {
  }
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  while (reader->Read(&event)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  int status = 0;
  bool exited = Eventually(
      [&] { return waitpid(pid, &status, WNOHANG) == pid; }, absl::Seconds(15));
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  ASSERT_TRUE(exited);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::ifstream in(log);
  std::string logged((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
  EXPECT_NE(logged.find("event=shutting_down signal=SIGTERM"),
            std::string::npos)
      << logged;
  EXPECT_NE(logged.find("event=stopped"), std::string::npos);
  // The database password never reaches the log.
  EXPECT_EQ(logged.find(db()->password()), std::string::npos);
}

TEST_F(RouterProcessTest, AWrongDatabasePasswordFailsTheStartAndIsNeverLogged) {
  const std::string secret = "wrong-secret-for-the-log-9876";
  std::string password_file = ::testing::TempDir() + "/wrong-password";
  std::ofstream(password_file) << secret;
  std::string tokens = ::testing::TempDir() + "/process-tokens-2";
  std::ofstream(tokens) << kTokensFile;
  std::string log = ::testing::TempDir() + "/router-wrong-password.log";
  std::vector<std::string> env = {
      absl::StrCat("TANDEM_LISTEN=127.0.0.1:", FreePort()),
      absl::StrCat("TANDEM_METRICS_LISTEN=127.0.0.1:", FreePort()),
      absl::StrCat("TANDEM_DB_URL=", db()->url()),
      absl::StrCat("TANDEM_DB_USER=", db()->user()),
      absl::StrCat("TANDEM_DB_PASSWORD_FILE=", password_file),
      absl::StrCat("TANDEM_DB_NAME=", database()),
      absl::StrCat("TANDEM_AUTH_TOKENS_FILE=", tokens),
      "TANDEM_LOG_LEVEL=debug"};
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string binary = TANDEM_ROUTER_PATH;
  char* argv[] = {binary.data(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv, envp.data()),
            0);
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  bool exited = Eventually(
      [&] { return waitpid(pid, &status, WNOHANG) == pid; }, absl::Seconds(30));
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  ASSERT_TRUE(exited);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0);
  std::ifstream in(log);
  std::string logged((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
  // The failure is logged with the database's reason...
  EXPECT_NE(logged.find("event=startup_failed"), std::string::npos) << logged;
  EXPECT_NE(logged.find("Access denied"), std::string::npos) << logged;
  // ...and the password it tried is not.
  EXPECT_EQ(logged.find(secret), std::string::npos) << logged;
}

TEST_F(RouterProcessTest, RefusesToStartWithoutCredentials) {
  std::string binary = TANDEM_ROUTER_PATH;
  std::string db_url = absl::StrCat("--db_url=", db()->url());
  std::string listen = absl::StrCat("--listen=127.0.0.1:", FreePort());
  char* argv[] = {binary.data(), db_url.data(), listen.data(), nullptr};
  char* envp[] = {nullptr};
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv, envp), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace tandem::router::testing
