// The story of one customer at the one URL, with every real part: the two
// testbed billing simulators (v1 and v2 over MariaDB) behind the proxy, a
// real router and its Watch-fed cache. The customer logs in with its real
// password and lands on the source; its data is copied to the target (by the
// testbed's reference copier, standing in for the migrator) while its route
// is MIGRATING; after the flip the same browser session reads the same
// answers from the target.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/auth.h"
#include "portal-proxy/freeze_policy.h"
#include "portal-proxy/proxy_server.h"
#include "portal-proxy/route_source.h"
#include "portal-proxy/routing_cookie.h"
#include "prometheus/registry.h"
#include "router/client/route_cache.h"
#include "router/router_server.h"
#include "tandem/router/v1/router.grpc.pb.h"
#include "testbed/base/model.h"
#include "testbed/reference/v1_to_v2.h"
#include "testbed/sim/sim_server.h"
#include "tests/portal-proxy/http_test_client.h"
#include "tests/testbed/services_fixture.h"
#include "tests/testbed/testbed_fixture.h"

namespace tandem::proxy {
namespace {

namespace rv1 = ::tandem::router::v1;
using ::tandem::common::v1::SYSTEM_SOURCE;
using ::tandem::common::v1::SYSTEM_TARGET;
using testing::CookieFrom;
using testing::HttpClient;
using testing::HttpResponse;

constexpr char kToken[] = "operator-token-0123456789";
constexpr char kTokens[] = "alice operator operator-token-0123456789\n";
constexpr int64_t kCustomer = 3;

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto context = std::make_unique<grpc::ClientContext>();
  AttachBearerToken(*context, kToken);
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(30));
  return context;
}

TEST(ProxyTestbedTest, LoginOnSourceAndTheSameSessionOnTargetAfterCopyAndFlip) {
  testbed::DatagenOptions o;
  o.customers = 10;
  o.accounts = 40;
  o.xdrs = 100;
  o.password_iterations = 10;
  auto db = testbed::StartTestbedDb(o);
  ASSERT_TRUE(db.ok()) << db.status();
  std::unique_ptr<testbed::SimServer> sims[2];
  for (int i = 0; i < 2; ++i) {
    testbed::SimOptions s;
    s.version =
        i == 0 ? testbed::SchemaVersion::kV1 : testbed::SchemaVersion::kV2;
    s.db = testbed::PoolOptions(*db->server,
                                i == 0 ? "billing_v1" : "billing_v2", 4);
    s.http.address = "127.0.0.1";
    auto sim = testbed::SimServer::Start(s);
    ASSERT_TRUE(sim.ok()) << sim.status();
    sims[i] = *std::move(sim);
  }
  auto router = testbed::StartRouter(*db->server, kTokens);
  ASSERT_TRUE(router.ok()) << router.status();
  auto router_stub = rv1::RouterService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*router)->port()),
                          grpc::InsecureChannelCredentials()));
  rv1::ImportRoutesRequest import;
  for (int64_t id = 1; id <= 10; ++id) {
    auto* customer = import.mutable_customers()->add_customers();
    customer->set_customer_id(id);
    auto* login = customer->add_keys();
    login->set_kind(rv1::KEY_KIND_LOGIN);
    login->set_value(absl::StrCat("cust", id));
  }
  rv1::ImportRoutesResponse imported;
  ASSERT_TRUE(router_stub->ImportRoutes(Ctx().get(), import, &imported).ok());

  ProxyServerOptions options;
  options.http.listen = "127.0.0.1:0";
  options.http.source_backend = absl::StrCat("127.0.0.1:", sims[0]->port());
  options.http.target_backend = absl::StrCat("127.0.0.1:", sims[1]->port());
  options.http.resolver.login_paths = {"/api/login"};
  options.http.hold_timeout = absl::Seconds(20);
  options.router = absl::StrCat("127.0.0.1:", (*router)->port());
  options.router_token = kToken;
  options.sync_timeout = absl::Seconds(10);
  options.static_freeze = ::tandem::catalog::v1::FREEZE_STATE_OPEN;
  options.cookie_key = "test-cookie-key-0123456789";
  auto proxy = ProxyServer::Start(options);
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  router::RouteCache* cache = (*proxy)->route_cache();

  // The customer logs in with its real password, at the one URL.
  HttpClient browser((*proxy)->port());
  HttpResponse login =
      browser.Send("POST", "/api/login", {{"Content-Type", "application/json"}},
                   absl::StrCat(R"({"login":")", testbed::DemoLogin(kCustomer),
                                R"(","password":")",
                                testbed::DemoPassword(kCustomer), R"("})"));
  ASSERT_EQ(login.status, 200) << login.body;
  EXPECT_EQ(login.header("x-billing-version"), "v1");
  std::string cookies;
  for (const std::string& set : login.set_cookies) {
    std::string pair = set.substr(0, set.find(';'));
    cookies += (cookies.empty() ? "" : "; ") + pair;
  }
  ASSERT_FALSE(CookieFrom(login.set_cookies, "tandem_route").empty());
  const std::vector<std::pair<std::string, std::string>> session = {
      {"Cookie", cookies}};
  HttpResponse before = browser.Send("GET", "/api/me", session);
  ASSERT_EQ(before.status, 200) << before.body;
  EXPECT_EQ(before.header("x-billing-version"), "v1");
  HttpResponse accounts_before = browser.Send("GET", "/api/accounts", session);
  ASSERT_EQ(accounts_before.status, 200);

  // The move: MIGRATING, copy, flip.
  auto set_route = [&](::tandem::common::v1::System system,
                       rv1::RouteState state) {
    rv1::GetRouteRequest get;
    get.set_customer_id(kCustomer);
    rv1::GetRouteResponse route;
    ASSERT_TRUE(router_stub->GetRoute(Ctx().get(), get, &route).ok());
    rv1::SetRouteRequest set;
    set.set_customer_id(kCustomer);
    set.set_expected_version(route.route().version());
    set.set_system(system);
    set.set_state(state);
    rv1::SetRouteResponse done;
    grpc::Status status = router_stub->SetRoute(Ctx().get(), set, &done);
    ASSERT_TRUE(status.ok()) << status.error_message();
    // The proxy routes by its cache: wait until it has the change.
    ASSERT_TRUE(cache->WaitForRevision((*router)->table().revision(),
                                       absl::Seconds(10)));
  };
  set_route(SYSTEM_SOURCE, rv1::ROUTE_STATE_MIGRATING);
  ASSERT_TRUE(testbed::CopyCustomerV1ToV2(*db->v1, *db->v2, kCustomer).ok());
  set_route(SYSTEM_TARGET, rv1::ROUTE_STATE_STABLE);

  // The same browser session, now answered by the target, identically.
  HttpResponse after = browser.Send("GET", "/api/me", session);
  ASSERT_EQ(after.status, 200) << after.body;
  EXPECT_EQ(after.header("x-billing-version"), "v2");
  EXPECT_EQ(after.header("x-tandem-system"), "target");
  EXPECT_EQ(after.body, before.body);
  HttpResponse accounts_after = browser.Send("GET", "/api/accounts", session);
  EXPECT_EQ(accounts_after.header("x-billing-version"), "v2");
  EXPECT_EQ(accounts_after.body, accounts_before.body);
  (*proxy)->Shutdown(absl::Seconds(1));
}

}  // namespace
}  // namespace tandem::proxy
