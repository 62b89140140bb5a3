// The proxy against a catalog: the CatalogClient follows a fake
// CatalogService's WatchFreeze stream over a real gRPC channel and asks its
// CheckChange, and the proxy enforces the answers on HTTP over real sockets.
// Routes come from an in-memory table (no router needed here). No sleeps:
// every wait is on a condition with a deadline.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "common/clock.h"
#include "portal-proxy/catalog_client.h"
#include "portal-proxy/freeze_policy.h"
#include "portal-proxy/proxy_server.h"
#include "portal-proxy/routing_cookie.h"
#include "prometheus/registry.h"
#include "tests/portal-proxy/fake_catalog.h"
#include "tests/portal-proxy/fake_routes.h"
#include "tests/portal-proxy/http_test_client.h"
#include "tests/portal-proxy/test_backend.h"
#include "tests/portal-proxy/test_metrics.h"
#include "tests/testing/eventually.h"

namespace tandem::proxy {
namespace {

using ::tandem::common::v1::SYSTEM_SOURCE;
using ::tandem::common::v1::SYSTEM_TARGET;
using testing::CounterValue;
using testing::FakeCatalog;
using testing::FakeRoutes;
using testing::HttpClient;
using testing::HttpResponse;
using testing::TestBackend;
namespace catalog = ::tandem::catalog::v1;
namespace rv1 = ::tandem::router::v1;

using ::tandem::testing::Eventually;

class ProxyCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = TestBackend::Start("v1");
    target_ = TestBackend::Start("v2");
    ASSERT_NE(source_, nullptr);
    ASSERT_NE(target_, nullptr);
    routes_.Put(7, SYSTEM_TARGET, rv1::ROUTE_STATE_STABLE, 3);
    routes_.Key(rv1::KEY_KIND_API_TOKEN, "admin-api-token-of-7", 7);
    registry_ = std::make_shared<prometheus::Registry>();
    catalog_ = FakeCatalog::Start(catalog::FREEZE_STATE_OPEN);
    ASSERT_NE(catalog_, nullptr);
  }

  void TearDown() override {
    if (proxy_) proxy_->Shutdown(absl::Seconds(1));
    proxy_.reset();
    client_.reset();
  }

  void StartClient(Clock* clock = nullptr) {
    CatalogClientOptions options;
    options.clock = clock;
    options.target = catalog_->address();
    options.token = testing::kCatalogToken;
    options.min_backoff = absl::Milliseconds(20);
    options.max_backoff = absl::Milliseconds(200);
    client_ = CatalogClient::Start(options, &freeze_, registry_.get());
  }

  // The production wiring (ProxyServer) following the fake catalog, with
  // routes from the in-memory table.
  void StartProxy() {
    ProxyServerOptions options;
    options.http.listen = "127.0.0.1:0";
    options.http.io_threads = 2;
    options.http.source_backend = source_->address();
    options.http.target_backend = target_->address();
    options.http.catalog_check_timeout = absl::Milliseconds(500);
    options.catalog = catalog_->address();
    options.catalog_token = testing::kCatalogToken;
    options.catalog_min_backoff = absl::Milliseconds(20);
    options.catalog_max_backoff = absl::Milliseconds(200);
    options.cookie_key = "test-cookie-key-0123456789";
    ProxyServerDeps deps;
    deps.routes = &routes_;
    deps.registry = registry_;
    auto proxy = ProxyServer::Start(options, deps);
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = *std::move(proxy);
  }

  // The catalog client in use: the proxy's, or the one started alone.
  CatalogClient& client() { return proxy_ ? *proxy_->catalog() : *client_; }
  CachedFreezePolicy& freeze() { return proxy_ ? proxy_->freeze() : freeze_; }

  // Waits until the client has applied the fake's current freeze.
  bool InSync() {
    return client().WaitForVersion(catalog_->version(), absl::Seconds(10));
  }

  FakeRoutes routes_;
  std::unique_ptr<TestBackend> source_;
  std::unique_ptr<TestBackend> target_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<FakeCatalog> catalog_;
  CachedFreezePolicy freeze_;
  std::unique_ptr<CatalogClient> client_;
  std::unique_ptr<ProxyServer> proxy_;
};

TEST_F(ProxyCatalogTest, WatchFreezeStreamFeedsThePolicy) {
  // Before the first message the policy fails closed.
  EXPECT_EQ(freeze().EffectiveState(), catalog::FREEZE_STATE_FROZEN);
  StartClient();
  ASSERT_TRUE(InSync());
  EXPECT_EQ(freeze().EffectiveState(), catalog::FREEZE_STATE_OPEN);
  for (auto state :
       {catalog::FREEZE_STATE_FROZEN, catalog::FREEZE_STATE_FROZEN_TARGET_OPEN,
        catalog::FREEZE_STATE_LIFTED}) {
    catalog_->SetState(state);
    ASSERT_TRUE(InSync());
    EXPECT_EQ(freeze().EffectiveState(), state);
    EXPECT_EQ(client().Status().state, state);
  }
  EXPECT_EQ(client().Status().version, 4);
  EXPECT_TRUE(client().Status().connected);
  EXPECT_EQ(CounterValue(*registry_, "tandem_proxy_freeze_feed_version"), 4);
}

TEST_F(ProxyCatalogTest, DisconnectFailsClosedUntilTheStreamIsBack) {
  catalog_->SetState(catalog::FREEZE_STATE_LIFTED);
  StartClient();
  ASSERT_TRUE(InSync());
  EXPECT_EQ(freeze().EffectiveState(), catalog::FREEZE_STATE_LIFTED);
  catalog_->EndStreams();
  // The stream is back (a new subscriber) and in sync again; in between the
  // policy read FROZEN, which the reconnect count proves happened.
  ASSERT_TRUE(Eventually([&] { return client_->reconnects() >= 1; }));
  ASSERT_TRUE(InSync());
  EXPECT_EQ(freeze().EffectiveState(), catalog::FREEZE_STATE_LIFTED);

  // The catalog goes away for good: FROZEN, and staleness grows.
  catalog_->Stop();
  ASSERT_TRUE(Eventually([&] { return !client().Status().connected; }));
  EXPECT_EQ(freeze().EffectiveState(), catalog::FREEZE_STATE_FROZEN);
  EXPECT_FALSE(freeze().connected());
  ASSERT_TRUE(Eventually(
      [&] { return client().Status().staleness > absl::ZeroDuration(); }));
  EXPECT_EQ(CounterValue(*registry_, "tandem_proxy_freeze_feed_connected"), 0);
}

TEST_F(ProxyCatalogTest, BackoffAndStalenessRunOnTheInjectedClock) {
  // No catalog: every stream fails at once, and the client waits its
  // backoff (doubling from 20 ms, at most 200 ms) on the simulated clock,
  // which moves only when told to.
  catalog_->Stop();
  const absl::Time start = absl::FromUnixSeconds(1'000'000);
  SimulatedClock clock(start);
  StartClient(&clock);
  absl::Time expected = start;
  absl::Duration backoff = absl::Milliseconds(20);
  for (int reconnects = 0; reconnects < 5; ++reconnects) {
    backoff = std::min(backoff * 2, absl::Milliseconds(200));
    expected += backoff;
    ASSERT_TRUE(Eventually([&] { return clock.EarliestWaiter() == expected; }))
        << "waiting for " << expected << " after " << reconnects;
    // Between two streams: the next one is not opened before the clock
    // reaches the backoff's end.
    EXPECT_EQ(client_->reconnects(), reconnects);
    EXPECT_FALSE(client_->Status().connected);
    EXPECT_EQ(client_->Status().staleness, clock.Now() - start);
    EXPECT_EQ(freeze_.EffectiveState(), catalog::FREEZE_STATE_FROZEN);
    clock.SetTime(expected);
  }
  EXPECT_EQ(backoff, absl::Milliseconds(200));
  client_.reset();  // Before the clock it waits on.
}

TEST_F(ProxyCatalogTest, FrozenChangeRefusedByCatalogGets423WithItsReason) {
  catalog_->SetState(catalog::FREEZE_STATE_FROZEN);
  catalog_->Decide(false, catalog::CHANGE_REFUSAL_CATALOG_FROZEN,
                   "catalog frozen since 2024-05-02 (FROZEN): no changes");
  StartProxy();
  ASSERT_TRUE(InSync());
  HttpClient admin(proxy_->port());
  HttpResponse r = admin.Send(
      "PUT", "/admin/products/17?x=1",
      {{"X-Admin-User", "carol@billing"}, {"Content-Type", "application/json"}},
      R"({"monthly_fee":5})");
  EXPECT_EQ(r.status, 423);
  EXPECT_NE(r.body.find("catalog frozen since 2024-05-02 (FROZEN): no changes"),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("CHANGE_REFUSAL_CATALOG_FROZEN"), std::string::npos);
  EXPECT_EQ(source_->requests(), 0);
  auto checks = catalog_->checks();
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0].system(), SYSTEM_SOURCE);
  EXPECT_EQ(checks[0].product_id(), 17);
  EXPECT_EQ(checks[0].kind(), catalog::CHANGE_KIND_UPDATE_CONFIGURATION);
  EXPECT_EQ(checks[0].on_behalf_of(), "carol@billing");
  EXPECT_EQ(checks[0].detail(), "PUT /admin/products/17");
  EXPECT_FALSE(checks[0].dry_run());
  EXPECT_EQ(CounterValue(*registry_, "tandem_proxy_freeze_refusals_total",
                         {{"refusal", "catalog_frozen"}, {"system", "source"}}),
            1);
  // The refusal kept the connection usable.
  EXPECT_EQ(admin.Send("GET", "/admin/products/17").status, 200);
  // Without an identity header, the user of Basic credentials.
  EXPECT_EQ(admin
                .Send("DELETE", "/admin/products/18",
                      {{"Authorization", "Basic ZGF2ZTpzZWNyZXQ="}})  // dave
                .status,
            423);
  checks = catalog_->checks();
  ASSERT_EQ(checks.size(), 2u);
  EXPECT_EQ(checks[1].on_behalf_of(), "dave");
  EXPECT_EQ(checks[1].kind(), catalog::CHANGE_KIND_DELETE);
}

TEST_F(ProxyCatalogTest, ChangeAllowedByCatalogIsForwarded) {
  catalog_->SetState(catalog::FREEZE_STATE_FROZEN_TARGET_OPEN);
  catalog_->Decide(true, catalog::CHANGE_REFUSAL_UNSPECIFIED, "");
  StartProxy();
  ASSERT_TRUE(InSync());
  HttpClient admin(proxy_->port());
  // Customer 7's token routes to the target; the catalog sees a fingerprint
  // of the token, never the token.
  HttpResponse r = admin.Send(
      "POST", "/admin/products",
      {{"Authorization", "Bearer admin-api-token-of-7"}}, R"({"code":"new"})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-billing-version"), "v2");
  auto checks = catalog_->checks();
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0].system(), SYSTEM_TARGET);
  EXPECT_EQ(checks[0].kind(), catalog::CHANGE_KIND_CREATE);
  EXPECT_EQ(checks[0].on_behalf_of().rfind("bearer-sha256:", 0), 0u);
  EXPECT_EQ(checks[0].on_behalf_of().find("admin-api-token"),
            std::string::npos);
  EXPECT_EQ(CounterValue(*registry_, "tandem_proxy_catalog_checks_total",
                         {{"result", "allowed"}}),
            1);
}

TEST_F(ProxyCatalogTest, OpenAsksTheCatalogLiftedForwardsWithoutAsking) {
  StartProxy();
  ASSERT_TRUE(InSync());
  HttpClient admin(proxy_->port());
  catalog_->Decide(true, catalog::CHANGE_REFUSAL_UNSPECIFIED, "");
  EXPECT_EQ(admin.Send("DELETE", "/admin/products/3").status, 200);
  EXPECT_EQ(catalog_->checks().size(), 1u);
  catalog_->SetState(catalog::FREEZE_STATE_LIFTED);
  ASSERT_TRUE(InSync());
  EXPECT_EQ(admin.Send("PATCH", "/admin/products/3/price", {}, "{}").status,
            200);
  EXPECT_EQ(catalog_->checks().size(), 1u);
  EXPECT_EQ(source_->requests(), 2);
}

// A freeze another replica acknowledged, which this proxy's feed (still
// OPEN) has not shown yet: the catalog's answer refuses the change.
TEST_F(ProxyCatalogTest, AFreezeTheFeedHasNotShownYetStillHolds) {
  StartProxy();
  ASSERT_TRUE(InSync());
  EXPECT_EQ(freeze().EffectiveState(), catalog::FREEZE_STATE_OPEN);
  catalog_->Decide(false, catalog::CHANGE_REFUSAL_CATALOG_FROZEN,
                   "catalog frozen (FROZEN): no changes");
  HttpClient admin(proxy_->port());
  HttpResponse r = admin.Send("DELETE", "/admin/products/3");
  EXPECT_EQ(r.status, 423);
  EXPECT_NE(r.body.find("CHANGE_REFUSAL_CATALOG_FROZEN"), std::string::npos)
      << r.body;
  EXPECT_EQ(source_->requests(), 0);
  EXPECT_EQ(catalog_->checks().size(), 1u);
}

TEST_F(ProxyCatalogTest, CatalogDownRefusesWith423AndCountsIt) {
  catalog_->SetState(catalog::FREEZE_STATE_LIFTED);
  StartProxy();
  ASSERT_TRUE(InSync());
  catalog_->Stop();
  ASSERT_TRUE(Eventually([&] { return !client().Status().connected; }));
  HttpClient admin(proxy_->port());
  HttpResponse r = admin.Send("DELETE", "/admin/products/3");
  EXPECT_EQ(r.status, 423);
  EXPECT_NE(r.body.find("catalog_unreachable"), std::string::npos) << r.body;
  EXPECT_EQ(source_->requests(), 0);
  EXPECT_EQ(CounterValue(*registry_, "tandem_proxy_freeze_refusals_total",
                         {{"refusal", "catalog_unreachable"}}),
            1);
  // Reads still pass.
  EXPECT_EQ(admin.Send("GET", "/admin/products/3").status, 200);
}

}  // namespace
}  // namespace tandem::proxy
