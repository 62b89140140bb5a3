// The portal-proxy end to end: a real router on a real MariaDB, the proxy's
// route cache following it over Watch, two test billing backends, and HTTP
// over real sockets. No sleeps: every wait is on a condition with a
// deadline.
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/auth.h"
#include "common/grpc_server.h"
#include "common/metrics.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "portal-proxy/admin_service.h"
#include "portal-proxy/freeze_policy.h"
#include "portal-proxy/proxy_server.h"
#include "portal-proxy/routing_cookie.h"
#include "prometheus/registry.h"
#include "router/client/route_cache.h"
#include "tests/portal-proxy/http_test_client.h"
#include "tests/portal-proxy/test_backend.h"
#include "tests/portal-proxy/test_metrics.h"
#include "tests/router/router_fixture.h"
#include "tests/testing/raw_grpc.h"

namespace tandem::proxy {
namespace {

using ::tandem::common::v1::SYSTEM_SOURCE;
using ::tandem::common::v1::SYSTEM_TARGET;
using testing::CookieFrom;
using testing::CounterValue;
using testing::DownloadByte;
using testing::HttpClient;
using testing::HttpResponse;
using testing::ParseEcho;
using testing::TestBackend;
namespace rv1 = ::tandem::router::v1;
namespace catalog = ::tandem::catalog::v1;
namespace pv1 = ::tandem::proxy::v1;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr char kCookieKey[] = "test-cookie-key-0123456789";
constexpr char kOldCookieKey[] = "old-cookie-key-0123456789";

class ProxyIntegrationTest : public router::testing::RouterTest {
 protected:
  void SetUp() override {
    RouterTest::SetUp();
    router_ = StartRouter();
    ASSERT_NE(router_, nullptr);
    stub_ = Stub(router_->port());
    ImportCustomers(*stub_, 1, 20);
    source_ = TestBackend::Start("v1");
    target_ = TestBackend::Start("v2");
    ASSERT_NE(source_, nullptr);
    ASSERT_NE(target_, nullptr);
    cookie_ = std::make_unique<RoutingCookie>(
        *RoutingCookie::Create(kCookieKey, kOldCookieKey, absl::Hours(1)));
    registry_ = std::make_shared<prometheus::Registry>();
  }

  void TearDown() override { StopProxy(); }

  // The options of the proxy the tests run: the production wiring
  // (ProxyServer) against the fixture's router, the two test backends, a
  // static OPEN freeze the tests change, and the admin port on loopback.
  ProxyServerOptions Options() {
    ProxyServerOptions options;
    options.http.listen = "127.0.0.1:0";
    options.http.io_threads = 2;
    options.http.source_backend = source_->address();
    options.http.target_backend = target_->address();
    options.http.hold_timeout = absl::Seconds(5);
    options.http.retry_after_seconds = 3;
    options.http.client_header_timeout = absl::Seconds(5);
    options.http.upstream_response_timeout = absl::Seconds(10);
    options.router = absl::StrCat("127.0.0.1:", router_->port());
    options.router_token = router::testing::kViewerToken;
    options.router_min_backoff = absl::Milliseconds(20);
    options.router_max_backoff = absl::Milliseconds(200);
    options.sync_timeout = absl::Seconds(10);
    options.static_freeze = catalog::FREEZE_STATE_OPEN;
    options.cookie_key = kCookieKey;
    options.cookie_previous_key = kOldCookieKey;
    options.cookie_lifetime = absl::Hours(1);
    options.admin_listen = "127.0.0.1:0";
    options.auth_tokens = router::testing::kTokensFile;
    options.version = "test";
    return options;
  }

  // Starts the proxy; `tweak` adjusts the front's options first.
  void StartProxy(const std::function<void(ProxyOptions&)>& tweak = {}) {
    ProxyServerOptions options = Options();
    if (tweak) tweak(options.http);
    ProxyServerDeps deps;
    deps.registry = registry_;
    auto proxy = ProxyServer::Start(options, deps);
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = *std::move(proxy);
  }

  router::RouteCache& cache() { return *proxy_->route_cache(); }
  HttpFront& front() { return proxy_->front(); }
  CachedFreezePolicy& freeze() { return proxy_->freeze(); }

  // A stub over a real channel to the running proxy's admin port.
  std::unique_ptr<pv1::ProxyAdminService::Stub> StartAdmin() {
    admin_channel_ =
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", proxy_->admin_port()),
                            grpc::InsecureChannelCredentials());
    return pv1::ProxyAdminService::NewStub(admin_channel_);
  }

  // Starts a request for customer `id` (whose route is MIGRATING) and waits
  // until the proxy holds it; the request's answer is returned by the
  // future.
  std::future<HttpResponse> HoldRequestOf(int64_t id, int64_t held_before) {
    auto held = std::async(std::launch::async, [this, id] {
      return Get(absl::StrCat("/api/customers/", id));
    });
    EXPECT_TRUE(Eventually(
        [&] { return front().hold_queue().held() == held_before + 1; }));
    return held;
  }

  void StopProxy() {
    if (proxy_) {
      proxy_->Shutdown(absl::Seconds(1));
      proxy_.reset();
    }
  }

  // Moves customer `id` to (system, state) through the router and, when the
  // proxy runs, waits until its cache has it (a proxy started later starts
  // from a snapshot that has it).
  void SetRoute(int64_t id, ::tandem::common::v1::System system,
                rv1::RouteState state) {
    rv1::GetRouteRequest get;
    get.set_customer_id(id);
    rv1::GetRouteResponse current;
    ASSERT_TRUE(stub_->GetRoute(Ctx().get(), get, &current).ok());
    rv1::SetRouteRequest request;
    request.set_customer_id(id);
    request.set_expected_version(current.route().version());
    request.set_system(system);
    request.set_state(state);
    request.set_request_id(
        absl::StrCat("t-", id, "-", absl::ToUnixNanos(absl::Now())));
    rv1::SetRouteResponse response;
    grpc::Status status = stub_->SetRoute(Ctx().get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    if (proxy_ == nullptr) return;
    ASSERT_TRUE(Eventually([&] {
      auto info = cache().FindInfo(id);
      return info && info->version == response.route().version();
    }));
  }

  void Flip(int64_t id) {
    SetRoute(id, SYSTEM_SOURCE, rv1::ROUTE_STATE_MIGRATING);
    SetRoute(id, SYSTEM_TARGET, rv1::ROUTE_STATE_STABLE);
  }

  // Gives customer `id` an API token key and, when the proxy runs, waits
  // until its cache has it.
  void PutToken(int64_t id, const std::string& token) {
    rv1::PutKeysRequest put;
    put.set_customer_id(id);
    auto* key = put.add_keys();
    key->set_kind(rv1::KEY_KIND_API_TOKEN);
    key->set_value(token);
    put.set_request_id(absl::StrCat("put-", id, "-", token));
    rv1::PutKeysResponse put_response;
    ASSERT_TRUE(stub_->PutKeys(Ctx().get(), put, &put_response).ok());
    if (proxy_ == nullptr) return;
    ASSERT_TRUE(Eventually([&] {
      return cache().LookupInfo(rv1::KEY_KIND_API_TOKEN, token).has_value();
    }));
  }

  HttpResponse Get(const std::string& target, const Headers& headers = {}) {
    HttpClient client(proxy_->port());
    return client.Send("GET", target, headers);
  }

  std::string RoutingCookieFor(int64_t id) {
    return "tandem_route=" + cookie_->Sign(id, SYSTEM_SOURCE, 1, absl::Now());
  }

  std::unique_ptr<router::RouterServer> router_;
  std::unique_ptr<rv1::RouterService::Stub> stub_;
  std::unique_ptr<TestBackend> source_;
  std::unique_ptr<TestBackend> target_;
  std::unique_ptr<RoutingCookie> cookie_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<ProxyServer> proxy_;
  std::shared_ptr<grpc::Channel> admin_channel_;
};

TEST_F(ProxyIntegrationTest,
       LoginLandsOnSourceAndSameSessionOnTargetAfterFlip) {
  StartProxy();
  HttpClient browser(proxy_->port());
  HttpResponse login = browser.Send(
      "POST", "/login", {{"Content-Type", "application/x-www-form-urlencoded"}},
      "login=user3&password=secret");
  ASSERT_EQ(login.status, 200);
  EXPECT_EQ(login.header("x-billing-version"), "v1");
  EXPECT_EQ(login.header("x-tandem-system"), "source");
  // The body reached the backend intact.
  EXPECT_EQ(ParseEcho(login.body)["body"], "login=user3&password=secret");
  std::string route_cookie = CookieFrom(login.set_cookies, "tandem_route");
  std::string session = CookieFrom(login.set_cookies, "session");
  ASSERT_FALSE(route_cookie.empty());
  EXPECT_EQ(session, "user3");
  Headers cookies = {
      {"Cookie", "session=" + session + "; tandem_route=" + route_cookie}};

  HttpResponse before = browser.Send("GET", "/portal/home", cookies);
  EXPECT_EQ(before.header("x-billing-version"), "v1");

  Flip(3);
  HttpResponse after = browser.Send("GET", "/portal/home", cookies);
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(after.header("x-billing-version"), "v2");
  EXPECT_EQ(after.header("x-tandem-system"), "target");
  EXPECT_EQ(ParseEcho(after.body)["header x-tandem-customer-id"], "3");
}

TEST_F(ProxyIntegrationTest, JsonLoginIsResolvedAndForwardedIntact) {
  Flip(4);
  StartProxy();
  HttpClient client(proxy_->port());
  const std::string body = R"({"login":"user4","password":"p"})";
  HttpResponse r = client.Send("POST", "/login",
                               {{"Content-Type", "application/json"}}, body);
  EXPECT_EQ(r.header("x-billing-version"), "v2");
  EXPECT_EQ(ParseEcho(r.body)["body"], body);
  EXPECT_FALSE(CookieFrom(r.set_cookies, "tandem_route").empty());
}

TEST_F(ProxyIntegrationTest, BearerTokenAndPathPatternsRoute) {
  PutToken(8, "api-token-of-8");
  Flip(8);
  Flip(9);
  StartProxy();
  EXPECT_EQ(Get("/api/usage", {{"Authorization", "Bearer api-token-of-8"}})
                .header("x-billing-version"),
            "v2");
  EXPECT_EQ(Get("/api/customers/9/invoices").header("x-billing-version"), "v2");
  EXPECT_EQ(Get("/api/accounts/5559").header("x-billing-version"), "v2");
  EXPECT_EQ(Get("/api/accounts/5551").header("x-billing-version"), "v1");
  // Nothing identifies a customer: the default system.
  HttpResponse page = Get("/login");
  EXPECT_EQ(page.header("x-billing-version"), "v1");
  EXPECT_EQ(page.header("x-tandem-route-version"), "0");
}

TEST_F(ProxyIntegrationTest, HeldRequestIsReleasedToTargetOnFlip) {
  StartProxy();
  SetRoute(5, SYSTEM_SOURCE, rv1::ROUTE_STATE_MIGRATING);
  auto held = std::async(std::launch::async,
                         [&] { return Get("/api/customers/5/balance"); });
  ASSERT_TRUE(Eventually([&] { return front().hold_queue().held() == 1; }));
  absl::Time flipped = absl::Now();
  SetRoute(5, SYSTEM_TARGET, rv1::ROUTE_STATE_STABLE);
  HttpResponse r = held.get();
  absl::Duration release = absl::Now() - flipped;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-billing-version"), "v2");
  EXPECT_LT(release, absl::Seconds(2));
  EXPECT_EQ(front().hold_queue().held(), 0);
}

TEST_F(ProxyIntegrationTest, HoldTimesOutWith503AndRetryAfter) {
  StartProxy([](ProxyOptions& o) { o.hold_timeout = absl::Milliseconds(300); });
  SetRoute(6, SYSTEM_SOURCE, rv1::ROUTE_STATE_MIGRATING);
  HttpResponse api = Get("/api/customers/6", {{"Accept", "application/json"}});
  EXPECT_EQ(api.status, 503);
  EXPECT_EQ(api.header("retry-after"), "3");
  EXPECT_NE(api.header("content-type").find("json"), std::string::npos);
  HttpResponse browser = Get("/api/customers/6", {{"Accept", "text/html"}});
  EXPECT_EQ(browser.status, 503);
  EXPECT_NE(browser.body.find("<html>"), std::string::npos);
  EXPECT_EQ(source_->requests(), 0);
  EXPECT_EQ(CounterValue(*registry_, "tandem_proxy_hold_timeouts_total"), 2);
}

TEST_F(ProxyIntegrationTest, OtherCustomersAreNotDelayedDuringAHold) {
  StartProxy();
  SetRoute(6, SYSTEM_SOURCE, rv1::ROUTE_STATE_MIGRATING);
  auto held =
      std::async(std::launch::async, [&] { return Get("/api/customers/6"); });
  ASSERT_TRUE(Eventually([&] { return front().hold_queue().held() == 1; }));
  for (int i = 0; i < 20; ++i) {
    absl::Time start = absl::Now();
    HttpResponse other = Get(absl::StrCat("/api/customers/", 7 + i % 3));
    EXPECT_EQ(other.status, 200);
    EXPECT_LT(absl::Now() - start, absl::Milliseconds(500));
  }
  EXPECT_EQ(front().hold_queue().held(), 1);
  SetRoute(6, SYSTEM_SOURCE, rv1::ROUTE_STATE_STABLE);  // abort the move
  EXPECT_EQ(held.get().header("x-billing-version"), "v1");
}

TEST_F(ProxyIntegrationTest, HeldRequestWhoseClientLeavesIsDropped) {
  StartProxy([](ProxyOptions& o) { o.hold_timeout = absl::Seconds(30); });
  SetRoute(10, SYSTEM_SOURCE, rv1::ROUTE_STATE_MIGRATING);
  {
    HttpClient client(proxy_->port());
    ASSERT_TRUE(
        client.WriteRaw("GET /api/customers/10 HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(Eventually([&] { return front().hold_queue().held() == 1; }));
    client.Close();
  }
  EXPECT_TRUE(Eventually([&] { return front().hold_queue().held() == 0; }));
  EXPECT_TRUE(Eventually([&] { return front().in_flight() == 0; }));
  EXPECT_EQ(CounterValue(*registry_, "tandem_proxy_hold_outcomes_total",
                         {{"outcome", "client_gone"}}),
            1);
  EXPECT_EQ(source_->requests(), 0);
}

TEST_F(ProxyIntegrationTest, RouterKilledTrafficKeepsFlowingFromCache) {
  Flip(11);
  StartProxy();
  router_.reset();
  ASSERT_TRUE(Eventually([&] { return !cache().connected(); }));
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(Get("/api/customers/11").header("x-billing-version"), "v2");
    EXPECT_EQ(Get("/api/customers/12").header("x-billing-version"), "v1");
  }
  EXPECT_GT(cache().Staleness(), absl::ZeroDuration());
}

TEST_F(ProxyIntegrationTest, ForgedTamperedAndExpiredCookiesAreIgnored) {
  Flip(13);
  StartProxy();
  auto system_for = [&](const std::string& cookie) {
    return Get("/portal/home", {{"Cookie", cookie}})
        .header("x-billing-version");
  };
  EXPECT_EQ(system_for(RoutingCookieFor(13)), "v2");
  auto stranger =
      RoutingCookie::Create("a-stranger-key-0123456789", "", absl::Hours(1));
  EXPECT_EQ(system_for("tandem_route=" +
                       stranger->Sign(13, SYSTEM_TARGET, 1, absl::Now())),
            "v1");
  std::string tampered = cookie_->Sign(14, SYSTEM_TARGET, 1, absl::Now());
  tampered.replace(3, 2, "13");
  EXPECT_EQ(system_for("tandem_route=" + tampered), "v1");
  EXPECT_EQ(
      system_for("tandem_route=" + cookie_->Sign(13, SYSTEM_TARGET, 1,
                                                 absl::Now() - absl::Hours(2))),
      "v1");
  // A cookie signed with the previous key is still honoured (rotation).
  auto old = RoutingCookie::Create(kOldCookieKey, "", absl::Hours(1));
  EXPECT_EQ(system_for("tandem_route=" +
                       old->Sign(13, SYSTEM_SOURCE, 1, absl::Now())),
            "v2");
}

TEST_F(ProxyIntegrationTest, SpoofedHeadersAreStrippedAndOwnHeadersAdded) {
  StartProxy();
  HttpResponse r = Get("/portal/home", {{"X-Tandem-System", "target"},
                                        {"X-Tandem-Customer-Id", "13"},
                                        {"x-tandem-anything", "1"},
                                        {"X-Forwarded-For", "6.6.6.6"}});
  ASSERT_EQ(r.status, 200);
  auto echo = ParseEcho(r.body);
  EXPECT_EQ(echo["version"], "v1");
  EXPECT_EQ(echo["header x-tandem-system"], "source");
  EXPECT_EQ(echo.count("header x-tandem-customer-id"), 0u);
  EXPECT_EQ(echo.count("header x-tandem-anything"), 0u);
  EXPECT_EQ(echo["header x-forwarded-for"], "127.0.0.1");
  EXPECT_EQ(echo["header x-forwarded-proto"], "http");
  // The backend's own X-Tandem-System is replaced by the proxy's.
  EXPECT_EQ(r.header("x-tandem-system"), "source");
  EXPECT_EQ(r.header("x-tandem-route-version"), "0");
}

TEST_F(ProxyIntegrationTest, MalformedRequestGets400) {
  StartProxy();
  HttpClient client(proxy_->port());
  ASSERT_TRUE(client.WriteRaw("GET /x HTTP/1.1\r\nHost x\r\n\r\n"));
  EXPECT_EQ(client.Read().status, 400);
  EXPECT_EQ(source_->requests(), 0);
}

TEST_F(ProxyIntegrationTest, HeadersTooLargeGet431) {
  StartProxy([](ProxyOptions& o) { o.max_header_bytes = 4096; });
  HttpResponse r = Get("/x", {{"X-Big", std::string(8000, 'a')}});
  EXPECT_EQ(r.status, 431);
}

TEST_F(ProxyIntegrationTest, BodyTooLargeGets413) {
  StartProxy([](ProxyOptions& o) { o.max_body_bytes = 1000; });
  HttpClient client(proxy_->port());
  HttpResponse r = client.Send("POST", "/upload", {}, std::string(5000, 'x'));
  EXPECT_EQ(r.status, 413);
  // Chunked: the limit trips while streaming.
  HttpClient chunked(proxy_->port());
  ASSERT_TRUE(chunked.WriteRaw(
      "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "7d0\r\n" +
      std::string(2000, 'y') + "\r\n0\r\n\r\n"));
  EXPECT_EQ(chunked.Read().status, 413);
}

TEST_F(ProxyIntegrationTest, SlowClientGets408) {
  StartProxy([](ProxyOptions& o) {
    o.client_header_timeout = absl::Milliseconds(200);
  });
  HttpClient client(proxy_->port());
  ASSERT_TRUE(client.WriteRaw("GET /x HTTP/1.1\r\nHost: x\r\n"));
  EXPECT_EQ(client.Read().status, 408);
}

TEST_F(ProxyIntegrationTest, BackendDownGets502AndStallGets504) {
  StartProxy([](ProxyOptions& o) {
    o.upstream_response_timeout = absl::Milliseconds(300);
  });
  EXPECT_EQ(Get("/stall").status, 504);
  source_->Unstall();
  target_.reset();  // nothing listens there any more
  Flip(15);
  EXPECT_EQ(Get("/api/customers/15").status, 502);
}

TEST_F(ProxyIntegrationTest, LargeUploadStreamsWithoutBuffering) {
  StartProxy([](ProxyOptions& o) { o.max_body_bytes = 1ull << 30; });
  constexpr int64_t kBytes = 96ll << 20;
  const int64_t rss_before = ResidentMemoryBytes();
  HttpClient client(proxy_->port());
  std::string head = "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                     std::to_string(kBytes) + "\r\n\r\n";
  ASSERT_TRUE(client.WriteRaw(head));
  std::string piece(1 << 20, 'z');
  uint32_t fnv = 2166136261u;
  for (int64_t sent = 0; sent < kBytes; sent += piece.size()) {
    for (char c : piece) {
      fnv = (fnv ^ static_cast<unsigned char>(c)) * 16777619u;
    }
    ASSERT_TRUE(client.WriteRaw(piece));
  }
  HttpResponse r = client.Read();
  ASSERT_EQ(r.status, 200);
  auto echo = ParseEcho(r.body);
  EXPECT_EQ(echo["body-bytes"], std::to_string(kBytes));
  char hex[16];
  std::snprintf(hex, sizeof(hex), "%08x", fnv);
  EXPECT_EQ(echo["body-fnv"], hex);
  // 96 MiB went through; the process grew by far less.
  EXPECT_LT(ResidentMemoryBytes() - rss_before, 32ll << 20);
}

TEST_F(ProxyIntegrationTest, ChunkedUploadIsForwardedIntact) {
  StartProxy();
  HttpClient client(proxy_->port());
  std::string body;
  std::string wire =
      "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 50; ++i) {
    std::string piece(1000 + i * 37, static_cast<char>('a' + i % 26));
    body += piece;
    char size[16];
    std::snprintf(size, sizeof(size), "%zx\r\n", piece.size());
    wire += size + piece + "\r\n";
  }
  wire += "0\r\n\r\n";
  ASSERT_TRUE(client.WriteRaw(wire));
  HttpResponse r = client.Read();
  ASSERT_EQ(r.status, 200);
  auto echo = ParseEcho(r.body);
  EXPECT_EQ(echo["body-bytes"], std::to_string(body.size()));
  EXPECT_EQ(echo["body"], body.substr(0, 256));
  // The connection stays usable.
  EXPECT_EQ(client.Send("GET", "/portal/home").status, 200);
}

// The hand-parsed path writes a response's head, with the body bytes that
// came along, straight to the socket, then streams the rest. Several large
// bodies asked for at once by a client with a small receive window must
// arrive whole and in order, and the connection stay usable.
TEST_F(ProxyIntegrationTest, PipelinedLargeDownloadsReachASmallWindowClient) {
  StartProxy();
  HttpClient client(proxy_->port());
  client.socket().set_option(
      boost::asio::socket_base::receive_buffer_size(32768));
  constexpr int kRequests = 6;
  std::string wire;
  std::vector<uint64_t> sizes;
  for (int i = 0; i < kRequests; ++i) {
    sizes.push_back(300000 + 70001 * i);
    wire += "GET /download/" + std::to_string(sizes.back()) +
            " HTTP/1.1\r\nHost: x\r\n\r\n";
  }
  ASSERT_TRUE(client.WriteRaw(wire));
  for (int i = 0; i < kRequests; ++i) {
    HttpResponse r = client.Read();
    ASSERT_EQ(r.status, 200) << "response " << i;
    ASSERT_EQ(r.body.size(), sizes[i]) << "response " << i;
    uint64_t wrong = 0;
    for (uint64_t b = 0; b < sizes[i]; ++b) {
      wrong += r.body[b] != DownloadByte(b);
    }
    EXPECT_EQ(wrong, 0u) << "response " << i;
    EXPECT_EQ(r.header("x-tandem-system"), "source");
  }
  // The connection stays usable.
  EXPECT_EQ(client.Send("GET", "/portal/home").status, 200);
}

TEST_F(ProxyIntegrationTest, KeepAliveReusesUpstreamConnections) {
  StartProxy();
  HttpClient client(proxy_->port());
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(client.Send("GET", "/portal/home").status, 200);
  }
  EXPECT_LE(source_->connections(), 2);
  EXPECT_GE(CounterValue(*registry_,
                         "tandem_proxy_upstream_connections_reused_total"),
            48);
}

TEST_F(ProxyIntegrationTest, FreezeRefusesChangesWithFakeCatalog) {
  StartProxy();
  freeze().SetState(catalog::FREEZE_STATE_FROZEN);
  HttpClient admin(proxy_->port());
  HttpResponse update =
      admin.Send("PUT", "/admin/products/17",
                 {{"Content-Type", "application/json"}}, R"({"price":5})");
  EXPECT_EQ(update.status, 423);
  EXPECT_NE(update.body.find("CHANGE_REFUSAL_CATALOG_FROZEN"),
            std::string::npos);
  EXPECT_EQ(admin.Send("POST", "/admin/products", {}, "{}").status, 423);
  EXPECT_EQ(admin.Send("GET", "/admin/products/17").status, 200);
  EXPECT_EQ(source_->requests(), 1);  // only the GET went through
  EXPECT_EQ(CounterValue(*registry_, "tandem_proxy_freeze_refusals_total"), 2);

  // After the switchover new products may be created on the target only.
  freeze().SetState(catalog::FREEZE_STATE_FROZEN_TARGET_OPEN);
  rv1::SetDefaultSystemRequest set_default;
  set_default.set_system(SYSTEM_TARGET);
  set_default.set_reason("switchover");
  set_default.set_request_id("default-target");
  rv1::SetDefaultSystemResponse set_default_response;
  ASSERT_TRUE(
      stub_->SetDefaultSystem(Ctx().get(), set_default, &set_default_response)
          .ok());
  ASSERT_TRUE(
      Eventually([&] { return cache().default_system() == SYSTEM_TARGET; }));
  HttpResponse create = admin.Send("POST", "/admin/products", {}, "{}");
  EXPECT_EQ(create.status, 200);
  EXPECT_EQ(create.header("x-billing-version"), "v2");
  EXPECT_EQ(admin.Send("DELETE", "/admin/products/17").status, 423);
  // Lifted: everything goes.
  freeze().SetState(catalog::FREEZE_STATE_LIFTED);
  EXPECT_EQ(admin.Send("DELETE", "/admin/products/17").status, 200);
}

TEST_F(ProxyIntegrationTest, WebSocketUpgradePassesThrough) {
  StartProxy();
  HttpClient client(proxy_->port());
  ASSERT_TRUE(
      client.WriteRaw("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                      "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"));
  std::string got;
  char data[1024];
  boost::system::error_code ec;
  while (got.find("\r\n\r\n") == std::string::npos) {
    size_t n = client.socket().read_some(boost::asio::buffer(data), ec);
    ASSERT_FALSE(ec) << ec.message();
    got.append(data, n);
  }
  EXPECT_EQ(got.rfind("HTTP/1.1 101", 0), 0u) << got;
  std::string rest = got.substr(got.find("\r\n\r\n") + 4);
  ASSERT_TRUE(client.WriteRaw("ping-frame"));
  while (rest.size() < 10) {
    size_t n = client.socket().read_some(boost::asio::buffer(data), ec);
    ASSERT_FALSE(ec) << ec.message();
    rest.append(data, n);
  }
  EXPECT_EQ(rest, "ping-frame");
}

TEST_F(ProxyIntegrationTest, GracefulShutdownDrainsInFlightRequests) {
  StartProxy();
  auto stalled = std::async(std::launch::async, [&] { return Get("/stall"); });
  ASSERT_TRUE(Eventually([&] { return source_->stalled() == 1; }));
  auto shutdown = std::async(std::launch::async,
                             [&] { proxy_->Shutdown(absl::Seconds(10)); });
  ASSERT_TRUE(Eventually([&] { return front().draining(); }));
  source_->Unstall();
  HttpResponse r = stalled.get();
  shutdown.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("connection"), "close");
}

TEST_F(ProxyIntegrationTest, AdminStatusAndHeldCustomersPageThrough) {
  StartProxy();
  auto admin = StartAdmin();
  HttpClient warm(proxy_->port());
  ASSERT_EQ(warm.Send("GET", "/api/customers/2").status, 200);
  std::vector<std::future<HttpResponse>> held;
  for (int64_t id : {5, 6, 7}) {
    SetRoute(id, SYSTEM_SOURCE, rv1::ROUTE_STATE_MIGRATING);
    held.push_back(HoldRequestOf(id, static_cast<int64_t>(held.size())));
  }
  held.push_back(HoldRequestOf(6, 3));  // a second request of customer 6

  pv1::GetStatusResponse status;
  ASSERT_TRUE(admin
                  ->GetStatus(Ctx(router::testing::kViewerToken).get(),
                              pv1::GetStatusRequest(), &status)
                  .ok());
  EXPECT_EQ(status.held_requests(), 4);
  EXPECT_EQ(status.held_customers(), 3);
  EXPECT_TRUE(status.route_cache().connected());
  EXPECT_TRUE(status.route_cache().synced());
  EXPECT_EQ(status.route_cache().routes(), 20);
  EXPECT_EQ(status.route_cache().staleness_ms(), 0);
  EXPECT_EQ(status.route_cache().default_system(), SYSTEM_SOURCE);
  EXPECT_EQ(status.freeze().state(), "OPEN");
  EXPECT_TRUE(status.freeze().connected());
  EXPECT_FALSE(status.draining());
  EXPECT_EQ(status.version(), "test");
  ASSERT_EQ(status.upstreams_size(), 2);
  EXPECT_EQ(status.upstreams(0).system(), SYSTEM_SOURCE);
  EXPECT_EQ(status.upstreams(0).address(), source_->address());
  EXPECT_EQ(status.upstreams(0).requests_total(), 1);
  EXPECT_EQ(status.upstreams(0).connections_opened_total(), 1);
  EXPECT_EQ(status.upstreams(0).idle_connections(), 1);
  EXPECT_EQ(status.upstreams(0).busy_connections(), 0);

  // Longest-held first, two per page.
  std::vector<int64_t> order;
  std::string token;
  int pages = 0;
  do {
    pv1::ListHeldCustomersRequest request;
    request.set_page_size(2);
    request.set_page_token(token);
    pv1::ListHeldCustomersResponse page;
    ASSERT_TRUE(
        admin
            ->ListHeldCustomers(Ctx(router::testing::kViewerToken).get(),
                                request, &page)
            .ok());
    for (const auto& c : page.customers()) {
      order.push_back(c.customer_id());
      EXPECT_GT(c.oldest_since_unix_ms(), 0);
      EXPECT_GT(c.route_version(), 0);
      EXPECT_EQ(c.held_requests(), c.customer_id() == 6 ? 2 : 1);
    }
    token = page.next_page_token();
    ++pages;
  } while (!token.empty());
  EXPECT_EQ(order, (std::vector<int64_t>{5, 6, 7}));
  EXPECT_EQ(pages, 2);

  pv1::ListHeldCustomersRequest bad;
  pv1::ListHeldCustomersResponse ignored;
  bad.set_page_size(-1);
  EXPECT_EQ(admin->ListHeldCustomers(Ctx().get(), bad, &ignored).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  bad.set_page_size(0);
  bad.set_page_token("not-a-token");
  EXPECT_EQ(admin->ListHeldCustomers(Ctx().get(), bad, &ignored).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  for (int64_t id : {5, 6, 7}) {
    SetRoute(id, SYSTEM_SOURCE, rv1::ROUTE_STATE_STABLE);
  }
  for (auto& f : held) EXPECT_EQ(f.get().status, 200);
}

TEST_F(ProxyIntegrationTest, AdminNeedsTokensAndDrainNeedsOperator) {
  StartProxy();
  auto admin = StartAdmin();
  pv1::GetStatusResponse status;
  EXPECT_EQ(admin->GetStatus(Ctx("").get(), pv1::GetStatusRequest(), &status)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(admin
                ->GetStatus(Ctx("not-a-known-token-at-all").get(),
                            pv1::GetStatusRequest(), &status)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  pv1::DrainRequest drain;
  drain.set_grace_ms(200);
  drain.set_reason("test");
  drain.set_request_id("drain-1");
  pv1::DrainResponse drained;
  EXPECT_EQ(admin->Drain(Ctx("").get(), drain, &drained).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(
      admin->Drain(Ctx(router::testing::kViewerToken).get(), drain, &drained)
          .error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_FALSE(front().draining());
}

TEST_F(ProxyIntegrationTest, AdminDrainTurnsNotServingAndStopsAccepting) {
  StartProxy();
  auto admin = StartAdmin();
  auto health = grpc::health::v1::Health::NewStub(admin_channel_);
  auto serving = [&] {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(kProxyHealthService);
    grpc::health::v1::HealthCheckResponse response;
    EXPECT_TRUE(health->Check(Ctx("").get(), request, &response).ok());
    return response.status();
  };
  EXPECT_EQ(serving(), grpc::health::v1::HealthCheckResponse::SERVING);
  HttpClient before(proxy_->port());  // connected before the drain

  pv1::DrainRequest drain;
  drain.set_grace_ms(300);
  drain.set_reason("maintenance");
  drain.set_request_id("drain-1");
  pv1::DrainResponse drained;
  ASSERT_TRUE(admin->Drain(Ctx().get(), drain, &drained).ok());
  EXPECT_TRUE(drained.draining());
  EXPECT_EQ(drained.held_requests(), 0);
  EXPECT_EQ(serving(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  // Idempotent.
  ASSERT_TRUE(admin->Drain(Ctx().get(), drain, &drained).ok());
  EXPECT_TRUE(drained.draining());

  // A request in the grace period is served, and its connection closed.
  HttpResponse last = before.Send("GET", "/portal/home");
  EXPECT_EQ(last.status, 200);
  EXPECT_EQ(last.header("connection"), "close");
  // After the grace the port refuses new connections.
  EXPECT_TRUE(Eventually([&] {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::socket socket(ioc);
    boost::system::error_code ec;
    socket.connect({boost::asio::ip::make_address("127.0.0.1"),
                    static_cast<unsigned short>(proxy_->port())},
                   ec);
    return ec == boost::asio::error::connection_refused;
  }));
  pv1::GetStatusResponse status;
  ASSERT_TRUE(
      admin->GetStatus(Ctx().get(), pv1::GetStatusRequest(), &status).ok());
  EXPECT_TRUE(status.draining());
}

TEST_F(ProxyIntegrationTest, StaleRoutingCookieIsReissued) {
  StartProxy();
  // Issued while customer 16 was on the source at version 1.
  const std::string old_cookie = RoutingCookieFor(16);
  Flip(16);
  const int64_t version = cache().FindInfo(16)->version;
  HttpClient browser(proxy_->port());
  HttpResponse r =
      browser.Send("GET", "/portal/home", {{"Cookie", old_cookie}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-billing-version"), "v2");
  const std::string fresh = CookieFrom(r.set_cookies, "tandem_route");
  ASSERT_FALSE(fresh.empty());
  auto claims = cookie_->Verify(fresh, absl::Now());
  ASSERT_TRUE(claims.has_value());
  EXPECT_EQ(claims->customer_id, 16);
  EXPECT_EQ(claims->system, SYSTEM_TARGET);
  EXPECT_EQ(claims->route_version, version);
  // The fresh cookie is current: no new one.
  HttpResponse again = browser.Send("GET", "/portal/home",
                                    {{"Cookie", "tandem_route=" + fresh}});
  EXPECT_EQ(again.header("x-billing-version"), "v2");
  EXPECT_TRUE(CookieFrom(again.set_cookies, "tandem_route").empty());
}

TEST_F(ProxyIntegrationTest, Http10ClientGetsChunkedUpstreamBodyDechunked) {
  StartProxy();
  HttpClient client(proxy_->port());
  ASSERT_TRUE(client.WriteRaw("GET /chunked HTTP/1.0\r\nHost: x\r\n\r\n"));
  // Everything until the proxy closes the connection.
  std::string wire;
  char data[4096];
  boost::system::error_code ec;
  for (;;) {
    size_t n = client.socket().read_some(boost::asio::buffer(data), ec);
    if (ec) break;
    wire.append(data, n);
  }
  EXPECT_EQ(ec, boost::asio::error::eof);
  ASSERT_EQ(wire.rfind("HTTP/1.0 200", 0), 0u) << wire;
  size_t end_of_head = wire.find("\r\n\r\n");
  ASSERT_NE(end_of_head, std::string::npos);
  std::string head = wire.substr(0, end_of_head);
  std::string body = wire.substr(end_of_head + 4);
  for (char& c : head) c = static_cast<char>(std::tolower(c));
  EXPECT_EQ(head.find("transfer-encoding"), std::string::npos) << head;
  EXPECT_NE(head.find("connection: close"), std::string::npos) << head;
  // The bare echo body: no chunk framing left in it.
  EXPECT_EQ(body.rfind("version: v1\n", 0), 0u) << body;
  EXPECT_EQ(ParseEcho(body)["target"], "/chunked");
  EXPECT_EQ(body.find("\r\n"), std::string::npos) << body;

  // An HTTP/1.1 client still gets the chunks, on a kept-alive connection.
  HttpClient modern(proxy_->port());
  HttpResponse r = modern.Send("GET", "/chunked");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("transfer-encoding"), "chunked");
  EXPECT_EQ(ParseEcho(r.body)["target"], "/chunked");
  EXPECT_EQ(modern.Send("GET", "/portal/home").status, 200);
}

// A write that reaches the source in the instant the customer leaves it
// (issue 16's contract: 409 with X-Billing-Customer-Exported) is sent again
// to the target, body and all, and the client never sees the refusal.
TEST_F(ProxyIntegrationTest, AnExportedAnswerDuringAFlipIsSentToTheTarget) {
  StartProxy();
  target_->Unstall();
  const std::string body = R"({"amount":"5.00","reference":"topup-1"})";
  auto answer = std::async(std::launch::async, [&] {
    HttpClient client(proxy_->port());
    return client.Send("POST", "/stall/topup",
                       {{"Authorization", "Bearer tk_5_0123abcd"},
                        {"Content-Type", "application/json"}},
                       body);
  });
  // In flight at the source when the customer moves and is marked exported.
  ASSERT_TRUE(Eventually([&] { return source_->stalled() == 1; }));
  Flip(5);
  source_->MarkExported(5);
  source_->Unstall();
  HttpResponse r = answer.get();
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-billing-version"), "v2");
  EXPECT_EQ(r.header("x-tandem-system"), "target");
  EXPECT_EQ(r.header("x-billing-customer-exported"), "");
  auto echo = ParseEcho(r.body);
  EXPECT_EQ(echo["method"], "POST");
  EXPECT_EQ(echo["target"], "/stall/topup");
  EXPECT_EQ(echo["body"], body);
  EXPECT_EQ(echo["header x-tandem-customer-id"], "5");
  EXPECT_EQ(source_->exported_answers(), 1);
  EXPECT_EQ(CounterValue(*registry_, "tandem_proxy_exported_replays_total",
                         {{"outcome", "replayed"}}),
            1);
}

TEST_F(ProxyIntegrationTest, AnExportedAnswerBeforeTheCacheSeesTheFlipWaits) {
  StartProxy();
  source_->MarkExported(6);
  auto answer = std::async(std::launch::async, [&] {
    HttpClient client(proxy_->port());
    return client.Send("PATCH", "/api/customers/6/settings",
                       {{"Content-Type", "application/json"}},
                       R"({"language":"fr"})");
  });
  // The source refused; the route still names it: the request is held.
  ASSERT_TRUE(Eventually([&] { return front().hold_queue().held() == 1; }));
  EXPECT_EQ(source_->exported_answers(), 1);
  Flip(6);
  HttpResponse r = answer.get();
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-billing-version"), "v2");
  EXPECT_EQ(ParseEcho(r.body)["body"], R"({"language":"fr"})");
  EXPECT_EQ(front().hold_queue().held(), 0);
}

TEST_F(ProxyIntegrationTest, AnExportedAnswerThatCannotBeSentAgainIs503) {
  StartProxy([](ProxyOptions& o) {
    o.hold_timeout = absl::Milliseconds(300);
    o.max_replay_body_bytes = 1000;
  });
  source_->MarkExported(7);
  // The route never moves: the source, which the route still names, is
  // asked again after growing pauses inside the hold; past the hold
  // timeout, 503.
  HttpClient client(proxy_->port());
  HttpResponse r = client.Send("POST", "/api/customers/7/topup",
                               {{"Accept", "application/json"}}, "{}");
  EXPECT_EQ(r.status, 503);
  const int held_answers = source_->exported_answers();
  EXPECT_GE(held_answers, 2);
  EXPECT_EQ(r.header("retry-after"), "3");
  EXPECT_EQ(r.header("x-billing-customer-exported"), "");
  EXPECT_EQ(CounterValue(*registry_, "tandem_proxy_exported_replays_total",
                         {{"outcome", "timeout"}}),
            1);
  // A body too large to keep cannot be sent again: 503 at once.
  r = client.Send("POST", "/api/customers/7/upload", {},
                  std::string(5000, 'x'));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(CounterValue(*registry_, "tandem_proxy_exported_replays_total",
                         {{"outcome", "not_replayable"}}),
            1);
  // Sent once, not again.
  EXPECT_EQ(source_->exported_answers(), held_answers + 1);
  EXPECT_EQ(target_->requests(), 0);
}

// After a router restart, with no route change since, the cache is in sync
// again at once (it used to stay "disconnected" until the next change).
TEST_F(ProxyIntegrationTest, RouteCacheIsConnectedAgainAfterARouterRestart) {
  StartProxy();
  const int port = router_->port();
  router_.reset();
  ASSERT_TRUE(Eventually([&] { return !cache().connected(); }));
  ASSERT_TRUE(Eventually([&] {
    return CounterValue(*registry_, "tandem_proxy_route_cache_connected") == 0;
  }));
  router_ = StartRouter(absl::StrCat("127.0.0.1:", port));
  ASSERT_NE(router_, nullptr);
  EXPECT_TRUE(Eventually([&] { return cache().connected(); }));
  EXPECT_TRUE(Eventually([&] {
    return CounterValue(*registry_, "tandem_proxy_route_cache_connected") ==
               1 &&
           CounterValue(*registry_,
                        "tandem_proxy_route_cache_staleness_seconds") == 0;
  }));
  EXPECT_EQ(cache().snapshots(), 1);  // resumed, not reloaded
}

TEST_F(ProxyIntegrationTest, AdminAnswersAnUnparsableRequestInvalidArgument) {
  StartProxy();
  grpc::Status status = ::tandem::testing::CallWithRawRequest(
      proxy_->admin_port(), "/tandem.proxy.v1.ProxyAdminService/GetStatus",
      "\xff\xff\xff", router::testing::kViewerToken);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("tandem.proxy.v1.GetStatusRequest"),
            std::string::npos)
      << status.error_message();
  EXPECT_EQ(CounterValue(*registry_, "grpc_server_handled_total",
                         {{"grpc_method", "GetStatus"},
                          {"grpc_code", "INVALID_ARGUMENT"}}),
            1);
  // A method that does not exist is still UNIMPLEMENTED.
  status = ::tandem::testing::CallWithRawRequest(
      proxy_->admin_port(), "/tandem.proxy.v1.ProxyAdminService/Nope", "",
      router::testing::kViewerToken);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

}  // namespace
}  // namespace tandem::proxy
