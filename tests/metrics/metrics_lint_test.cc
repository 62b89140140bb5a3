// Every service's /metrics, after some traffic, passes `promtool check
// metrics`: Prometheus' own lint (names, units, _total suffixes, HELP and
// TYPE lines).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/wait.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "catalog/catalog_server.h"
#include "common/auth.h"
#include "common/metrics.h"
#include "portal-proxy/catalog_client.h"
#include "portal-proxy/proxy_server.h"
#include "portal-proxy/routing_cookie.h"
#include "router/router_server.h"
#include "tandem/catalog/v1/catalog.grpc.pb.h"
#include "tandem/router/v1/router.grpc.pb.h"
#include "tests/portal-proxy/fake_routes.h"
#include "tests/portal-proxy/http_test_client.h"
#include "tests/portal-proxy/test_backend.h"
#include "tests/testbed/services_fixture.h"
#include "tests/testbed/testbed_fixture.h"
#include "tests/testing/net.h"

namespace tandem {
namespace {

constexpr char kToken[] = "operator-token-0123456789";
constexpr char kTokens[] = "alice operator operator-token-0123456789\n";

// Runs promtool on `metrics`; returns its exit status and what it printed.
std::pair<int, std::string> Promtool(const std::string& metrics) {
  std::string input = ::testing::TempDir() + "/metrics.txt";
  std::ofstream(input) << metrics;
  std::string command =
      absl::StrCat(TANDEM_PROMTOOL_PATH, " check metrics < ", input, " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  std::string output;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    output.append(buffer, n);
  }
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token = kToken) {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) AttachBearerToken(*context, token);
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(30));
  return context;
}

TEST(MetricsLintTest, PromtoolFindsWhatItShould) {
  // The lint is only worth something if it complains: a counter without
  // the _total suffix.
  auto [code, output] = Promtool(
      "# HELP tandem_bad_things A counter named wrongly.\n"
      "# TYPE tandem_bad_things counter\n"
      "tandem_bad_things 1\n");
  EXPECT_NE(output.find("_total"), std::string::npos) << code << output;
}

TEST(MetricsLintTest, RouterCatalogAndProxyMetricsPassPromtool) {
  testbed::DatagenOptions o;
  o.customers = 20;
  o.accounts = 60;
  o.xdrs = 60;
  o.password_iterations = 10;
  auto db = testbed::StartTestbedDb(o);
  ASSERT_TRUE(db.ok()) << db.status();
  auto router = testbed::StartRouter(*db->server, kTokens,
                                     /*with_metrics=*/true);
  ASSERT_TRUE(router.ok()) << router.status();
  auto catalog = testbed::StartCatalog(*db->server, (*router)->port(), kTokens,
                                       kToken, /*with_metrics=*/true);
  ASSERT_TRUE(catalog.ok()) << catalog.status();

  // Traffic, so that labelled families have samples: good and bad calls.
  auto router_stub = router::v1::RouterService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*router)->port()),
                          grpc::InsecureChannelCredentials()));
  router::v1::ImportRoutesRequest import;
  import.mutable_customers()->add_customers()->set_customer_id(1);
  router::v1::ImportRoutesResponse imported;
  ASSERT_TRUE(router_stub->ImportRoutes(Ctx().get(), import, &imported).ok());
  router::v1::LookupRequest lookup;
  lookup.mutable_key()->set_kind(router::v1::KEY_KIND_CUSTOMER_ID);
  lookup.mutable_key()->set_value("1");
  router::v1::LookupResponse found;
  ASSERT_TRUE(router_stub->Lookup(Ctx().get(), lookup, &found).ok());
  EXPECT_FALSE(router_stub->Lookup(Ctx("").get(), lookup, &found).ok());
  auto stub = catalog::v1::CatalogService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*catalog)->port()),
                          grpc::InsecureChannelCredentials()));
  catalog::v1::SetFreezeRequest freeze;
  freeze.set_state(catalog::v1::FREEZE_STATE_FROZEN);
  freeze.set_reason("lint");
  catalog::v1::SetFreezeResponse frozen;
  ASSERT_TRUE(stub->SetFreeze(Ctx().get(), freeze, &frozen).ok());
  catalog::v1::CheckChangeRequest check;
  check.set_system(common::v1::SYSTEM_SOURCE);
  check.set_kind(catalog::v1::CHANGE_KIND_CREATE);
  catalog::v1::CheckChangeResponse checked;
  ASSERT_TRUE(stub->CheckChange(Ctx().get(), check, &checked).ok());
  catalog::v1::PlanCustomerRequest plan;
  plan.set_customer_id(1);
  catalog::v1::PlanCustomerResponse planned;
  ASSERT_TRUE(stub->PlanCustomer(Ctx().get(), plan, &planned).ok());

  // The proxy, following the catalog, with traffic of every kind: forwarded,
  // refused by the freeze, malformed.
  auto backend = proxy::testing::TestBackend::Start("v1");
  ASSERT_NE(backend, nullptr);
  proxy::testing::FakeRoutes routes;
  auto proxy_registry = std::make_shared<prometheus::Registry>();
  auto proxy_metrics = MetricsExposer::Start("127.0.0.1:0", proxy_registry);
  ASSERT_TRUE(proxy_metrics.ok());
  proxy::ProxyServerOptions proxy_options;
  proxy_options.http.listen = "127.0.0.1:0";
  proxy_options.http.source_backend = backend->address();
  proxy_options.http.target_backend = backend->address();
  proxy_options.catalog = absl::StrCat("127.0.0.1:", (*catalog)->port());
  proxy_options.catalog_token = kToken;
  proxy_options.cookie_key = "test-cookie-key-0123456789";
  proxy::ProxyServerDeps deps;
  deps.routes = &routes;
  deps.registry = proxy_registry;
  auto proxy = proxy::ProxyServer::Start(proxy_options, deps);
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  proxy::CatalogClient* client = (*proxy)->catalog();
  ASSERT_TRUE(
      client->WaitForVersion(frozen.freeze().version(), absl::Seconds(10)));
  {
    proxy::testing::HttpClient http((*proxy)->port());
    EXPECT_EQ(http.Send("GET", "/healthz").status, 200);
    EXPECT_EQ(http.Send("PUT", "/admin/products/1", {}, "{}").status, 423);
    EXPECT_TRUE(http.WriteRaw("NOT HTTP\r\n\r\n"));
  }

  for (auto [name, port] : {std::pair{"router", (*router)->metrics_port()},
                            std::pair{"catalog", (*catalog)->metrics_port()},
                            std::pair{"proxy", (*proxy_metrics)->port()}}) {
    std::string response = testing::HttpGet(port, "/metrics");
    size_t body = response.find("\r\n\r\n");
    ASSERT_NE(body, std::string::npos) << name;
    std::string metrics = response.substr(body + 4);
    ASSERT_NE(metrics.find("# TYPE"), std::string::npos) << name;
    auto [code, output] = Promtool(metrics);
    EXPECT_EQ(code, 0) << name << ":\n" << output;
    EXPECT_EQ(output, "") << name << ":\n" << output;
  }
}

}  // namespace
}  // namespace tandem
