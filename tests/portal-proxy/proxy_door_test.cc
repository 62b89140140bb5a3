// The door, over real sockets (issue 15): the production wiring
// (ProxyServer) in front of lenient recording backends that keep the exact
// bytes the proxy sends, so that framing is asserted on the wire. Routes
// come from an in-memory table (no router needed); the freeze is a static
// state. No sleeps: every wait is on a condition with a deadline.
#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "portal-proxy/proxy_server.h"
#include "prometheus/registry.h"
#include "tests/portal-proxy/fake_routes.h"
#include "tests/portal-proxy/http_test_client.h"
#include "tests/portal-proxy/recording_backend.h"
#include "tests/portal-proxy/test_metrics.h"
#include "tests/testing/eventually.h"

namespace tandem::proxy {
namespace {

using ::tandem::common::v1::SYSTEM_SOURCE;
using ::tandem::common::v1::SYSTEM_TARGET;
using ::tandem::testing::Eventually;
using testing::CounterValue;
using testing::FakeRoutes;
using testing::HttpClient;
using testing::HttpResponse;
using testing::RecordingBackend;
namespace catalog = ::tandem::catalog::v1;
namespace rv1 = ::tandem::router::v1;
using Headers = std::vector<std::pair<std::string, std::string>>;

class ProxyDoorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = RecordingBackend::Start();
    target_ = RecordingBackend::Start();
    ASSERT_NE(source_, nullptr);
    ASSERT_NE(target_, nullptr);
    routes_.Put(1, SYSTEM_SOURCE, rv1::ROUTE_STATE_STABLE, 10);
    routes_.Put(8, SYSTEM_TARGET, rv1::ROUTE_STATE_STABLE, 80);
    routes_.Key(rv1::KEY_KIND_LOGIN, "cust8", 8);
    registry_ = std::make_shared<prometheus::Registry>();
  }

  void TearDown() override {
    if (proxy_) proxy_->Shutdown(absl::Seconds(1));
  }

  ProxyServerOptions Options() {
    ProxyServerOptions options;
    options.http.listen = "127.0.0.1:0";
    options.http.io_threads = 1;
    options.http.source_backend = source_->address();
    options.http.target_backend = target_->address();
    options.http.hold_timeout = absl::Milliseconds(200);
    options.http.client_header_timeout = absl::Seconds(60);
    options.static_freeze = catalog::FREEZE_STATE_OPEN;
    options.cookie_key = "door-cookie-key-0123456789";
    return options;
  }

  void StartProxy(ProxyServerOptions options) {
    ProxyServerDeps deps;
    deps.routes = &routes_;
    deps.registry = registry_;
    auto proxy = ProxyServer::Start(options, deps);
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = *std::move(proxy);
  }
  void StartProxy() { StartProxy(Options()); }

  // Sends `wire` on a fresh connection and reads one answer.
  HttpResponse Raw(const std::string& wire) {
    HttpClient client(proxy_->port());
    EXPECT_TRUE(client.WriteRaw(wire));
    return client.Read();
  }

  FakeRoutes routes_;
  std::unique_ptr<RecordingBackend> source_;
  std::unique_ptr<RecordingBackend> target_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<ProxyServer> proxy_;
};

TEST_F(ProxyDoorTest, AmbiguousFramingIsRefusedAndNothingReachesABackend) {
  StartProxy();
  const std::string smuggled =
      "0\r\n\r\nGET /admin/products/1 HTTP/1.1\r\nHost: a\r\n\r\n";
  const std::pair<std::string, int> cases[] = {
      {"Transfer-Encoding: xchunked\r\nContent-Length: 49\r\n", 400},
      {"Transfer-Encoding: xchunked\r\n", 501},
      {"Transfer-Encoding: gzip\r\n", 501},
      {"Transfer-Encoding: chunked, chunked\r\n", 400},
      {"Transfer-Encoding: chunked, identity\r\n", 400},
      {"Transfer-Encoding: identity, chunked\r\n", 501},
      {"Transfer-Encoding: chunked\r\nContent-Length: 49\r\n", 400},
      {"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", 400},
      {"Content-Length: 49\r\nContent-Length: 0\r\n", 400},
  };
  for (const auto& [fields, status] : cases) {
    HttpResponse r = Raw("POST /upload HTTP/1.1\r\nHost: portal.test\r\n" +
                         fields + "\r\n" + smuggled);
    EXPECT_EQ(r.status, status) << fields;
    EXPECT_NE(r.body.find("\"message\":"), std::string::npos) << fields;
    EXPECT_EQ(r.header("connection"), "close") << fields;
  }
  HttpResponse r =
      Raw("POST /upload HTTP/1.0\r\nHost: portal.test\r\n"
          "Transfer-Encoding: chunked\r\n\r\n" +
          smuggled);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(source_->received(), "");
  EXPECT_EQ(target_->received(), "");
  EXPECT_GE(CounterValue(*registry_, "tandem_proxy_client_errors_total",
                         {{"reason", "unsupported_transfer_coding"}}),
            3);
}

TEST_F(ProxyDoorTest, HostAndTargetMustBeWellFormed) {
  StartProxy();
  for (const std::string wire : {
           "GET / HTTP/1.1\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
           "GET / HTTP/1.1\r\nHost:\r\n\r\n",
           "GET foo HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET * HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET /a\\..\\admin HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n",
       }) {
    EXPECT_EQ(Raw(wire).status, 400) << wire;
  }
  EXPECT_EQ(Raw("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n").status, 501);
  EXPECT_EQ(Raw("GET / HTTP/2.0\r\nHost: a\r\n\r\n").status, 505);
  EXPECT_EQ(source_->received(), "");
}

TEST_F(ProxyDoorTest, MalformedChunkedBodiesGet400WithABody) {
  StartProxy();
  for (const std::string body : {
           "10000000000000000\r\nx\r\n0\r\n\r\n",
           "-5\r\nhello\r\n0\r\n\r\n",
           "0x5\r\nhello\r\n0\r\n\r\n",
           "3\r\nhello\r\n0\r\n\r\n",
           "5\nhello\n0\n\n",
       }) {
    HttpResponse r =
        Raw("POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
            "chunked\r\n\r\n" +
            body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_NE(r.body.find("chunk"), std::string::npos) << r.body;
  }
  EXPECT_EQ(source_->received(), "");
}

TEST_F(ProxyDoorTest, ABareLineFeedHeadIsAnsweredAtOnce) {
  StartProxy();  // the head timeout is 60 s: a 400 cannot be a late 408
  HttpClient client(proxy_->port());
  ASSERT_TRUE(client.WriteRaw("GET / HTTP/1.1\nHost: a\n\n"));
  HttpResponse r = client.Read();
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("CRLF"), std::string::npos) << r.body;
  EXPECT_TRUE(client.PeerClosed());
}

TEST_F(ProxyDoorTest, WhatIsForwardedIsExactlyWhatWasParsed) {
  StartProxy();
  HttpClient client(proxy_->port());
  // A small chunked body with extensions and a trailer: read whole, sent
  // with its length.
  ASSERT_TRUE(client.WriteRaw(
      "POST /api/upload HTTP/1.1\r\nHost: portal.test\r\n"
      "Transfer-Encoding: chunked\r\nX-Client: 1\r\n\r\n"
      "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"));
  EXPECT_EQ(client.Read().status, 200);
  ASSERT_EQ(source_->requests().size(), 1u);
  EXPECT_EQ(source_->requests()[0],
            "POST /api/upload HTTP/1.1\r\nHost: portal.test\r\nX-Client: 1\r\n"
            "Content-Length: 11\r\nX-Forwarded-For: 127.0.0.1\r\n"
            "X-Forwarded-Proto: http\r\nX-Tandem-System: source\r\n"
            "X-Tandem-Route-Version: 0\r\n\r\nhello world");
  // A large one streams, re-chunked without extensions or trailers.
  const std::string piece(40000, 'z');
  std::string wire =
      "POST /api/upload HTTP/1.1\r\nHost: portal.test\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) wire += "9c40;x=y\r\n" + piece + "\r\n";
  wire += "0\r\nX-T: 1\r\n\r\n";
  ASSERT_TRUE(client.WriteRaw(wire));
  EXPECT_EQ(client.Read().status, 200);
  ASSERT_EQ(source_->requests().size(), 2u);
  const std::string sent = source_->requests()[1];
  const std::string head = sent.substr(0, sent.find("\r\n\r\n") + 4);
  EXPECT_NE(head.find("\r\nTransfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_EQ(head.find("Content-Length"), std::string::npos);
  EXPECT_EQ(sent.find("x=y"), std::string::npos);
  EXPECT_EQ(sent.find("X-T: 1"), std::string::npos);
  EXPECT_EQ(sent.substr(sent.size() - 5), "0\r\n\r\n");
  // Decoded, the body is the client's.
  std::string body;
  for (size_t at = head.size(); at < sent.size();) {
    const size_t eol = sent.find("\r\n", at);
    const size_t size = std::stoul(sent.substr(at, eol - at), nullptr, 16);
    body += sent.substr(eol + 2, size);
    at = eol + 2 + size + 2;
    if (size == 0) break;
  }
  EXPECT_EQ(body, piece + piece + piece);
}

TEST_F(ProxyDoorTest, ForwardingAndHopByHopHeadersAreReplacedOrDropped) {
  StartProxy();
  HttpResponse r =
      Raw("GET /portal/home HTTP/1.1\r\nHost: portal.test\r\n"
          "Forwarded: for=6.6.6.6;host=evil\r\nX-Forwarded-Host: evil\r\n"
          "X-Real-IP: 6.6.6.6\r\nX-Forwarded-For: 6.6.6.6\r\n"
          "X-Forwarded-Proto: https\r\nX-Tandem-Customer-Id: 8\r\n"
          "Connection: keep-alive, X-Secret\r\nX-Secret: 1\r\nTE: trailers\r\n"
          "Proxy-Authorization: Basic eDp5\r\n\r\n");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(source_->requests().size(), 1u);
  EXPECT_EQ(source_->requests()[0],
            "GET /portal/home HTTP/1.1\r\nHost: portal.test\r\n"
            "X-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\n"
            "X-Tandem-System: source\r\nX-Tandem-Route-Version: 0\r\n\r\n");
  // And on the way back: the billing systems' internal signals are dropped.
  source_->SetResponse(
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Tandem-System: backend\r\n"
      "X-Billing-Customer-Exported: 1\r\nConnection: X-Internal\r\n"
      "X-Internal: 1\r\n\r\nok");
  r = Raw("GET /portal/home HTTP/1.1\r\nHost: portal.test\r\n\r\n");
  EXPECT_EQ(r.header("x-tandem-system"), "source");
  EXPECT_EQ(r.header("x-billing-customer-exported"), "");
  EXPECT_EQ(r.header("x-internal"), "");
}

TEST_F(ProxyDoorTest, EverySpellingOfAProductChangeMeetsTheFreeze) {
  ProxyServerOptions options = Options();
  options.static_freeze = catalog::FREEZE_STATE_FROZEN;
  StartProxy(options);
  for (const char* target :
       {"/admin/products/1", "http://x/admin/products/1", "/./admin/products/1",
        "/x/../admin/products/1", "/%61dmin/products/1", "//admin//products/1",
        "/ADMIN/products/1", "/admin%2Fproducts/1", "/admin;v=1/products/1"}) {
    HttpResponse r = Raw(std::string("PATCH ") + target +
                         " HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}");
    EXPECT_EQ(r.status, 423) << target;
  }
  EXPECT_EQ(source_->received(), "");
  // Reads pass, in the normal form the freeze judged.
  EXPECT_EQ(
      Raw("GET /./%61dmin//products/1 HTTP/1.1\r\nHost: a\r\n\r\n").status,
      200);
  ASSERT_EQ(source_->requests().size(), 1u);
  EXPECT_EQ(
      source_->requests()[0].rfind("GET /admin/products/1 HTTP/1.1\r\n", 0), 0u)
      << source_->requests()[0];
}

TEST_F(ProxyDoorTest, TheUnreachableCatalogsRefusalRevealsNothingInternal) {
  ProxyServerOptions options = Options();
  options.static_freeze.reset();
  options.catalog = "127.0.0.1:1";  // nothing listens there
  options.catalog_token = "viewer-token-0123456789";
  options.http.catalog_check_timeout = absl::Milliseconds(300);
  StartProxy(options);
  HttpResponse r = Raw("DELETE /admin/products/3 HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(r.status, 423);
  EXPECT_NE(r.body.find("catalog_unreachable"), std::string::npos) << r.body;
  for (const char* leak : {"127.0.0.1", ":1", "UNAVAILABLE", "DEADLINE",
                           "connect", "grpc", "ipv4"}) {
    EXPECT_EQ(r.body.find(leak), std::string::npos) << leak << ": " << r.body;
  }
  EXPECT_EQ(source_->received(), "");
}

TEST_F(ProxyDoorTest, AStalledBodyIsAnswered408) {
  ProxyServerOptions options = Options();
  options.http.client_body_timeout = absl::Milliseconds(200);
  StartProxy(options);
  HttpClient client(proxy_->port());
  ASSERT_TRUE(client.WriteRaw(
      "POST /api/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n"
      "only ten b"));
  HttpResponse r = client.Read();
  EXPECT_EQ(r.status, 408);
  EXPECT_NE(r.body.find("request body not received in time"),
            std::string::npos);
  EXPECT_EQ(CounterValue(*registry_, "tandem_proxy_client_errors_total",
                         {{"reason", "slow_client"}}),
            1);
  EXPECT_EQ(source_->received(), "");
}

TEST_F(ProxyDoorTest, ExpectContinueIsAnsweredByTheProxy) {
  StartProxy();
  HttpClient client(proxy_->port());
  ASSERT_TRUE(client.WriteRaw(
      "POST /api/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
      "Expect: 100-continue\r\n\r\n"));
  boost::asio::streambuf interim;
  boost::system::error_code ec;
  boost::asio::read_until(client.socket(), interim, "\r\n\r\n", ec);
  ASSERT_FALSE(ec) << ec.message();
  std::string got(boost::asio::buffers_begin(interim.data()),
                  boost::asio::buffers_end(interim.data()));
  EXPECT_EQ(got, "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(client.WriteRaw("hello"));
  EXPECT_EQ(client.Read().status, 200);
  ASSERT_EQ(source_->requests().size(), 1u);
  EXPECT_EQ(source_->requests()[0].find("Expect"), std::string::npos);
}

// Each credential kind of customer 8, with 8's route in each state: the
// request reaches the system the route names (a MIGRATING one is held, here
// past a short hold timeout: 503), and nothing reaches the other.
TEST_F(ProxyDoorTest, EveryCredentialKindAgainstEveryRouteStateOnTheWire) {
  StartProxy();
  // Customer 1's valid routing cookie: a hint the credential overrides.
  const std::string cookie_of_1 =
      RoutingCookie::Create("door-cookie-key-0123456789", "", absl::Hours(1))
          ->Sign(1, SYSTEM_SOURCE, 10, absl::Now());
  const std::vector<std::pair<std::string, std::string>> credentials = {
      {"session", "Cookie: tandem_session=8.0123abcd\r\n"},
      {"token", "Authorization: Bearer tk_8_0123abcd\r\n"},
      {"login", ""},
      {"routing_cookie_and_token",
       "Cookie: tandem_route=" + cookie_of_1 +
           "\r\nAuthorization: Bearer tk_8_0123abcd\r\n"},
  };
  const struct {
    System system;
    rv1::RouteState state;
    int status;
  } states[] = {
      {SYSTEM_SOURCE, rv1::ROUTE_STATE_STABLE, 200},
      {SYSTEM_TARGET, rv1::ROUTE_STATE_STABLE, 200},
      {SYSTEM_SOURCE, rv1::ROUTE_STATE_MIGRATING, 503},
      {SYSTEM_TARGET, rv1::ROUTE_STATE_MIGRATING, 503},
  };
  int64_t version = 100;
  for (const auto& state : states) {
    routes_.Put(8, state.system, state.state, ++version);
    for (const auto& [name, fields] : credentials) {
      const size_t source_before = source_->requests().size();
      const size_t target_before = target_->requests().size();
      const std::string wire =
          name == "login"
              ? "POST /login HTTP/1.1\r\nHost: a\r\nContent-Type: "
                "application/x-www-form-urlencoded\r\nContent-Length: 18\r\n"
                "\r\nlogin=CUST8&pw=xxx"
              : "GET /api/me HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n";
      HttpResponse r = Raw(wire);
      EXPECT_EQ(r.status, state.status) << name << " " << state.system;
      const bool to_target = state.system == SYSTEM_TARGET;
      const size_t expect_source =
          source_before + (state.status == 200 && !to_target ? 1 : 0);
      const size_t expect_target =
          target_before + (state.status == 200 && to_target ? 1 : 0);
      EXPECT_EQ(source_->requests().size(), expect_source) << name;
      EXPECT_EQ(target_->requests().size(), expect_target) << name;
      if (state.status == 200) {
        const std::string sent =
            to_target ? target_->requests().back() : source_->requests().back();
        EXPECT_NE(sent.find("\r\nX-Tandem-Customer-Id: 8\r\n"),
                  std::string::npos)
            << name;
      }
    }
  }
}

TEST_F(ProxyDoorTest, ConflictingAndUnplaceableCredentialsAreRefused) {
  StartProxy();
  HttpResponse r = Raw(
      "POST /api/topup HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n"
      "Authorization: Bearer tk_8_aa\r\nCookie: tandem_session=1.bb\r\n\r\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("different customers"), std::string::npos);
  // Customer 8 is on the target: the default (source) could be wrong.
  r =
      Raw("GET /api/me HTTP/1.1\r\nHost: a\r\n"
          "Cookie: tandem_session=forged\r\n\r\n");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.header("set-cookie"), "tandem_session=; Path=/; Max-Age=0");
  r =
      Raw("GET /api/me HTTP/1.1\r\nHost: a\r\n"
          "Authorization: Bearer unknown-token\r\n\r\n");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(source_->received(), "");
  EXPECT_EQ(target_->received(), "");
  EXPECT_EQ(CounterValue(*registry_, "tandem_proxy_client_errors_total",
                         {{"reason", "unplaceable_credential"}}),
            2);
}

}  // namespace
}  // namespace tandem::proxy
