// The tandem-catalog binary as operators run it: configuration from TANDEM_*
// environment variables and files, readiness, metrics, a WatchFreeze stream
// ended with UNAVAILABLE on SIGTERM, and a clean exit.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/auth.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "router/router_server.h"
#include "tandem/catalog/v1/catalog.grpc.pb.h"
#include "tests/testbed/services_fixture.h"
#include "tests/testbed/testbed_fixture.h"
#include "tests/testing/eventually.h"
#include "tests/testing/net.h"

namespace tandem::catalog {
namespace {

namespace v1 = ::tandem::catalog::v1;
using ::tandem::testing::FreePort;
using ::tandem::testing::HttpGet;

constexpr char kTokens[] =
    "alice operator operator-token-0123456789\n"
    "victor viewer viewer-token-0123456789ab\n";

using ::tandem::testing::Eventually;

pid_t Spawn(const std::vector<std::string>& env_in, const std::string& log) {
  std::vector<std::string> env = env_in;
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string binary = TANDEM_CATALOG_PATH;
  char* argv[] = {binary.data(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv, envp.data()),
            0);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

TEST(CatalogProcessTest, ConfiguredFromEnvironmentServesAndExitsOnSigterm) {
  testbed::DatagenOptions o;
  o.customers = 20;
  o.accounts = 60;
  o.xdrs = 60;
  o.password_iterations = 10;
  auto db = testbed::StartTestbedDb(o);
  ASSERT_TRUE(db.ok()) << db.status();
  ASSERT_TRUE(db->server->CreateDatabase("catalog").ok());
  auto router = testbed::StartRouter(*db->server, kTokens);
  ASSERT_TRUE(router.ok()) << router.status();

  const std::string dir = ::testing::TempDir();
  std::ofstream(dir + "/catalog-tokens") << kTokens;
  std::ofstream(dir + "/catalog-router-token") << "viewer-token-0123456789ab\n";
  const int grpc_port = FreePort();
  const int metrics_port = FreePort();
  const std::string log = dir + "/catalog-process.log";
  const tandem::testing::MariaDbServer& server = *db->server;
  std::vector<std::string> env = {
      absl::StrCat("TANDEM_LISTEN=127.0.0.1:", grpc_port),
      absl::StrCat("TANDEM_METRICS_LISTEN=127.0.0.1:", metrics_port),
      absl::StrCat("TANDEM_AUTH_TOKENS_FILE=", dir, "/catalog-tokens"),
      absl::StrCat("TANDEM_ROUTER=127.0.0.1:", (*router)->port()),
      absl::StrCat("TANDEM_ROUTER_TOKEN_FILE=", dir, "/catalog-router-token"),
      "TANDEM_DB_NAME=catalog",
      "TANDEM_SOURCE_DB_NAME=billing_v1",
      "TANDEM_TARGET_DB_NAME=billing_v2",
      "TANDEM_LOG_LEVEL=debug"};
  for (const char* prefix : {"DB", "SOURCE_DB", "TARGET_DB"}) {
    env.push_back(absl::StrCat("TANDEM_", prefix, "_URL=", server.url()));
    env.push_back(absl::StrCat("TANDEM_", prefix, "_USER=", server.user()));
    env.push_back(absl::StrCat("TANDEM_", prefix,
                               "_PASSWORD_FILE=", server.password_file()));
  }
  pid_t pid = Spawn(env, log);
  ASSERT_GT(pid, 0);

  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 100);
  auto channel =
      grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", grpc_port),
                                grpc::InsecureChannelCredentials(), args);
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("tandem.catalog.v1.CatalogService");
  bool ready = Eventually(
      [&] {
        grpc::ClientContext context;
        context.set_wait_for_ready(true);
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(5));
        grpc::health::v1::HealthCheckResponse response;
        return health->Check(&context, request, &response).ok() &&
               response.status() ==
                   grpc::health::v1::HealthCheckResponse::SERVING;
      },
      absl::Seconds(30));
  ASSERT_TRUE(ready);

  // It read both catalogs at start-up.
  auto stub = v1::CatalogService::NewStub(channel);
  grpc::ClientContext list_context;
  AttachBearerToken(list_context, "viewer-token-0123456789ab");
  v1::ListProductsResponse products;
  ASSERT_TRUE(stub->ListProducts(&list_context, {}, &products).ok());
  EXPECT_EQ(products.products_size(), 34);  // 17 on v1, 17 on v2
  std::string metrics = HttpGet(metrics_port, "/metrics");
  EXPECT_NE(metrics.find("tandem_catalog_freeze_state 1"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("process_resident_memory_bytes"), std::string::npos);

  grpc::ClientContext watch_context;
  AttachBearerToken(watch_context, "viewer-token-0123456789ab");
  auto reader = stub->WatchFreeze(&watch_context, {});
  v1::WatchFreezeResponse event;
  ASSERT_TRUE(reader->Read(&event));
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
  EXPECT_NE(logged.find("event=stopped"), std::string::npos) << logged;
  EXPECT_EQ(logged.find(server.password()), std::string::npos);
}

}  // namespace
}  // namespace tandem::catalog
