// The pipeline's stages as units, without sockets: parsing a head into the
// Exchange, the identity, hold and freeze stages, and the heads the proxy
// writes (forwarding.h), byte for byte.
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "portal-proxy/forwarding.h"
#include "portal-proxy/freeze_stage.h"
#include "portal-proxy/hold_stage.h"
#include "portal-proxy/identify_stage.h"
#include "portal-proxy/request_parser.h"
#include "prometheus/registry.h"
#include "tests/portal-proxy/fake_routes.h"
#include "tests/portal-proxy/test_metrics.h"

namespace tandem::proxy {
namespace {

using ::tandem::common::v1::SYSTEM_SOURCE;
using ::tandem::common::v1::SYSTEM_TARGET;
namespace catalog = ::tandem::catalog::v1;
namespace rv1 = ::tandem::router::v1;
using testing::CounterValue;
using testing::FakeRoutes;

// Parses `wire` into `x`; the status of the answer the proxy makes (0 when
// the request goes on).
int Parse(const std::string& wire, Exchange* x, RequestHead* head) {
  RequestLimits limits;
  limits.max_header_bytes = 4096;
  size_t head_bytes = 0;
  x->Reset();
  switch (ParseRequest(wire, limits, head, x, &head_bytes)) {
    case HeadParse::kComplete:
      return 0;
    case HeadParse::kIncomplete:
      return -1;
    case HeadParse::kError:
      return x->reply.status;
  }
  return -2;
}

TEST(ParseStageTest, CopiesWhatTheStagesReadAndFiltersWhatGoesUpstream) {
  Exchange x;
  RequestHead head;
  ASSERT_EQ(
      Parse("PUT http://portal.test/%61dmin/./products/1?x=1 HTTP/1.1\r\n"
            "Host: ignored.test\r\nCookie: a=b\r\nAuthorization: Bearer t\r\n"
            "Content-Type: application/json\r\nX-Admin-User: carol\r\n"
            "Accept: text/html\r\nConnection: keep-alive, X-Hop\r\n"
            "X-Hop: 1\r\nForwarded: for=6.6.6.6\r\nX-Forwarded-Host: evil\r\n"
            "X-Real-IP: 6.6.6.6\r\nX-Forwarded-For: 6.6.6.6\r\n"
            "X-Tandem-System: target\r\nProxy-Authorization: p\r\n"
            "Expect: 100-continue\r\nTE: trailers\r\nKeep-Alive: 5\r\n"
            "X-Billing-Customer-Exported: 1\r\nUpgrade: h2c\r\n"
            "Content-Length: 2\r\nX-Kept: yes\r\n\r\n{}",
            &x, &head),
      0);
  EXPECT_EQ(x.method, "PUT");
  EXPECT_EQ(x.target.target, "/admin/products/1?x=1");
  EXPECT_EQ(x.target.path(), "/admin/products/1");
  EXPECT_EQ(x.host, "portal.test");  // the absolute-form's authority wins
  EXPECT_EQ(x.cookie, "a=b");
  EXPECT_EQ(x.authorization, "Bearer t");
  EXPECT_EQ(x.content_type, "application/json");
  EXPECT_EQ(x.admin_identity, "carol");
  EXPECT_TRUE(x.wants_html);
  EXPECT_TRUE(x.expect_continue);
  EXPECT_FALSE(x.upgrade);  // Upgrade without Connection: upgrade
  EXPECT_EQ(x.framing.kind, BodyFraming::Kind::kLength);
  EXPECT_EQ(x.forwarded_fields,
            "Cookie: a=b\r\nAuthorization: Bearer t\r\n"
            "Content-Type: application/json\r\nX-Admin-User: carol\r\n"
            "Accept: text/html\r\nX-Kept: yes\r\n");
}

TEST(ParseStageTest, RefusesWhatItCannotJudge) {
  Exchange x;
  RequestHead head;
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1\r\nCookie: b=2\r\n"
                  "\r\n",
                  &x, &head),
            400);
  EXPECT_STREQ(x.reply.client_error, "duplicate_identity_header");
  EXPECT_TRUE(x.reply.close);
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer a\r\n"
                  "Authorization: Bearer b\r\n\r\n",
                  &x, &head),
            400);
  EXPECT_EQ(Parse("GET /x HTTP/1.1\r\nHost: a\r\nX: " + std::string(5000, 'a') +
                      "\r\n\r\n",
                  &x, &head),
            431);
  EXPECT_EQ(Parse("GET /x HTTP/1.1\r\nHost: a\r\nX: " + std::string(5000, 'a'),
                  &x, &head),
            431);
  EXPECT_EQ(Parse("GET /x HTTP/1.1\r\nHost: a\r\n", &x, &head), -1);
  EXPECT_EQ(Parse("GET /a/../%zz HTTP/1.1\r\nHost: a\r\n\r\n", &x, &head), 400);
  EXPECT_NE(x.reply.body.find("malformed request target"), std::string::npos);
}

TEST(ForwardingTest, UpstreamAndClientHeadsByteForByte) {
  Exchange x;
  RequestHead head;
  ASSERT_EQ(Parse("POST /api/topup HTTP/1.1\r\nHost: portal.test\r\n"
                  "Transfer-Encoding: chunked\r\nX-A: 1\r\n\r\n",
                  &x, &head),
            0);
  x.backend = Backend::kTarget;
  x.resolution.customer_id = 8;
  x.resolution.route = RouteInfo{8, SYSTEM_TARGET, rv1::ROUTE_STATE_STABLE, 42};
  std::string out;
  BuildUpstreamHead(x, OutFraming{OutFraming::Kind::kLength, 5}, "10.1.2.3",
                    "https", &out);
  EXPECT_EQ(out,
            "POST /api/topup HTTP/1.1\r\nHost: portal.test\r\nX-A: 1\r\n"
            "Content-Length: 5\r\nX-Forwarded-For: 10.1.2.3\r\n"
            "X-Forwarded-Proto: https\r\nX-Tandem-System: target\r\n"
            "X-Tandem-Route-Version: 42\r\nX-Tandem-Customer-Id: 8\r\n\r\n");
  BuildUpstreamHead(x, OutFraming{OutFraming::Kind::kChunked, 0}, "10.1.2.3",
                    "http", &out);
  EXPECT_NE(out.find("\r\nTransfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_EQ(out.find("Content-Length"), std::string::npos);

  ResponseHead response;
  HttpError error;
  ASSERT_EQ(ParseResponseHead(
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: x-h\r\n"
                "X-H: 1\r\nX-Tandem-System: backend\r\nSet-Cookie: s=1\r\n"
                "X-Billing-Customer-Exported: 1\r\nTransfer-Encoding: x\r\n"
                "Keep-Alive: timeout=5\r\n\r\n",
                &response, &error),
            HeadParse::kComplete);
  BuildClientHead(response, 10, OutFraming{OutFraming::Kind::kLength, 3}, false,
                  true, "X-Tandem-System: target\r\n", &out);
  EXPECT_EQ(out,
            "HTTP/1.0 200 OK\r\nSet-Cookie: s=1\r\nContent-Length: 3\r\n"
            "X-Tandem-System: target\r\nConnection: keep-alive\r\n\r\n");
  BuildClientHead(response, 11, OutFraming(), false, false, "", &out);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\nSet-Cookie: s=1\r\nConnection: close\r\n\r\n");
}

class StageTest : public ::testing::Test {
 protected:
  StageTest()
      : cookie_(
            *RoutingCookie::Create("stage-key-0123456789", "", absl::Hours(1))),
        metrics_(registry_),
        resolver_(ResolverOptions(), &routes_, &cookie_),
        identify_(&resolver_),
        hold_(&routes_, absl::Milliseconds(50), 7, &metrics_) {
    routes_.Put(1, SYSTEM_SOURCE, rv1::ROUTE_STATE_STABLE, 10);
    routes_.Put(8, SYSTEM_TARGET, rv1::ROUTE_STATE_STABLE, 80);
  }

  Exchange Request(const std::string& wire) {
    Exchange x;
    EXPECT_EQ(Parse(wire, &x, &head_), 0) << wire;
    return x;
  }

  FakeRoutes routes_;
  RoutingCookie cookie_;
  prometheus::Registry registry_;
  ProxyMetrics metrics_;
  CustomerResolver resolver_;
  IdentifyStage identify_;
  HoldStage hold_;
  RequestHead head_;
};

TEST_F(StageTest, IdentifyPlacesAsksForALoginBodyAndRefuses) {
  Exchange x = Request(
      "GET /api/me HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer "
      "tk_8_a\r\n\r\n");
  ASSERT_EQ(identify_.Run(x), StageResult::kContinue);
  EXPECT_EQ(x.backend, Backend::kTarget);
  EXPECT_EQ(x.record.customer_id, 8);

  x = Request(
      "POST /login HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n"
      "Content-Type: application/x-www-form-urlencoded\r\n\r\n");
  ASSERT_EQ(identify_.Run(x), StageResult::kReadBody);
  EXPECT_EQ(x.body_wanted, ResolverOptions().max_login_body_bytes);
  x.body = "login=cust8";
  x.body_complete = true;
  routes_.Key(rv1::KEY_KIND_LOGIN, "cust8", 8);
  ASSERT_EQ(identify_.Run(x), StageResult::kContinue);
  EXPECT_EQ(x.backend, Backend::kTarget);

  x = Request(
      "GET /api/me HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer tk_8_a\r\n"
      "Cookie: tandem_session=1.b\r\n\r\n");
  ASSERT_EQ(identify_.Run(x), StageResult::kReply);
  EXPECT_EQ(x.reply.status, 400);
  EXPECT_STREQ(x.reply.client_error, "conflicting_credentials");

  x = Request(
      "GET /api/me HTTP/1.1\r\nHost: a\r\nCookie: tandem_session=junk\r\n\r\n");
  ASSERT_EQ(identify_.Run(x), StageResult::kReply);
  EXPECT_EQ(x.reply.status, 401);
  EXPECT_EQ(x.reply.extra_headers,
            "Set-Cookie: tandem_session=; Path=/; Max-Age=0\r\n");
}

TEST_F(StageTest, IdentifyExpiresARoutingCookieByItsClock) {
  // The cookie lives an hour by the stage's clock, which moves only when
  // told to.
  SimulatedClock clock(absl::FromUnixSeconds(2'000'000'000));
  IdentifyStage identify(&resolver_, clock);
  const std::string request =
      absl::StrCat("GET /home HTTP/1.1\r\nHost: a\r\nCookie: ",
                   ResolverOptions().cookie_name, "=",
                   cookie_.Sign(8, SYSTEM_TARGET, 80, clock.Now()), "\r\n\r\n");
  Exchange x = Request(request);
  ASSERT_EQ(identify.Run(x), StageResult::kContinue);
  EXPECT_EQ(x.record.customer_id, 8);
  EXPECT_EQ(x.record.by, ResolvedBy::kCookie);

  clock.Advance(absl::Minutes(59));
  x = Request(request);
  ASSERT_EQ(identify.Run(x), StageResult::kContinue);
  EXPECT_EQ(x.record.customer_id, 8);

  clock.Advance(absl::Minutes(2));  // past the hour: the cookie places no one
  x = Request(request);
  identify.Run(x);
  EXPECT_EQ(x.record.customer_id, 0);
  EXPECT_NE(x.record.by, ResolvedBy::kCookie);
}

TEST_F(StageTest, HoldWaitsWhileMigratingAndAnswers503PastTheTimeout) {
  routes_.Put(8, SYSTEM_SOURCE, rv1::ROUTE_STATE_MIGRATING, 81);
  Exchange x = Request(
      "GET /api/me HTTP/1.1\r\nHost: a\r\nAccept: text/html\r\n"
      "Authorization: Bearer tk_8_a\r\n\r\n");
  ASSERT_EQ(identify_.Run(x), StageResult::kContinue);
  ASSERT_EQ(hold_.Run(x), StageResult::kHold);
  EXPECT_TRUE(x.hold.active);
  // Released: the route now points at the target.
  routes_.Put(8, SYSTEM_TARGET, rv1::ROUTE_STATE_STABLE, 82);
  ASSERT_EQ(hold_.Run(x), StageResult::kContinue);
  EXPECT_EQ(x.backend, Backend::kTarget);
  EXPECT_EQ(x.resolution.route->version, 82);
  EXPECT_GE(x.record.held_seconds, 0);

  // Not released before the deadline: 503, HTML for a browser.
  routes_.Put(8, SYSTEM_SOURCE, rv1::ROUTE_STATE_MIGRATING, 83);
  x = Request(
      "GET /api/me HTTP/1.1\r\nHost: a\r\nAccept: text/html\r\n"
      "Authorization: Bearer tk_8_a\r\n\r\n");
  ASSERT_EQ(identify_.Run(x), StageResult::kContinue);
  ASSERT_EQ(hold_.Run(x), StageResult::kHold);
  x.hold.deadline = Exchange::Clock::now();  // as if the timeout had passed
  ASSERT_EQ(hold_.Run(x), StageResult::kReply);
  EXPECT_EQ(x.reply.status, 503);
  EXPECT_EQ(x.reply.retry_after, 7);
  EXPECT_NE(x.reply.body.find("<html>"), std::string::npos);
  EXPECT_EQ(CounterValue(registry_, "tandem_proxy_hold_timeouts_total"), 1);
}

TEST_F(StageTest, AnExportedAnswerWaitsUntilTheRouteLeavesThatSystem) {
  Exchange x = Request(
      "POST /api/topup HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer tk_1_a\r\n"
      "Content-Length: 0\r\n\r\n");
  ASSERT_EQ(identify_.Run(x), StageResult::kContinue);
  ASSERT_EQ(hold_.Run(x), StageResult::kContinue);
  EXPECT_EQ(x.backend, Backend::kSource);
  // The source answered "customer exported" before the cache saw the flip.
  x.exported_from = Backend::kSource;
  ASSERT_EQ(hold_.Run(x), StageResult::kHold);
  routes_.Put(1, SYSTEM_SOURCE, rv1::ROUTE_STATE_MIGRATING, 11);
  ASSERT_EQ(hold_.Run(x), StageResult::kHold);
  routes_.Put(1, SYSTEM_TARGET, rv1::ROUTE_STATE_STABLE, 12);
  ASSERT_EQ(hold_.Run(x), StageResult::kContinue);
  EXPECT_EQ(x.backend, Backend::kTarget);
  // Nobody to wait for: answered at once.
  Exchange anonymous = Request("POST /x HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_EQ(identify_.Run(anonymous), StageResult::kContinue);
  anonymous.exported_from = Backend::kSource;
  ASSERT_EQ(hold_.Run(anonymous), StageResult::kReply);
  EXPECT_EQ(anonymous.reply.status, 503);
}

// The system the route names (not MIGRATING) answers "customer exported":
// no route change may come (the new side's release commits just after the
// flip), so the request goes to that system again after a growing pause,
// all within the one hold timeout of its first exported answer.
TEST_F(StageTest, AnExportedAnswerFromTheNamedSystemIsSentThereAgain) {
  routes_.Put(1, SYSTEM_TARGET, rv1::ROUTE_STATE_STABLE, 20);
  Exchange x = Request(
      "GET /api/me HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer tk_1_a\r\n"
      "\r\n");
  ASSERT_EQ(identify_.Run(x), StageResult::kContinue);
  ASSERT_EQ(hold_.Run(x), StageResult::kContinue);
  EXPECT_EQ(x.backend, Backend::kTarget);
  x.exported_from = Backend::kTarget;
  const auto before = Exchange::Clock::now();
  ASSERT_EQ(hold_.Run(x), StageResult::kHold);
  ASSERT_TRUE(x.exported_until.has_value());
  const Exchange::Clock::time_point until = *x.exported_until;
  EXPECT_EQ(x.hold.deadline, until);
  EXPECT_GE(x.hold.resend_at, before + std::chrono::milliseconds(10));
  // Woken before the pause is over (another customer's change): still held.
  ASSERT_EQ(hold_.Run(x), StageResult::kHold);
  x.hold.resend_at = Exchange::Clock::now();  // as if the pause had passed
  ASSERT_EQ(hold_.Run(x), StageResult::kContinue);
  EXPECT_EQ(x.backend, Backend::kTarget);
  EXPECT_FALSE(x.exported_from.has_value());
  EXPECT_EQ(x.exported_resends, 1);
  EXPECT_EQ(CounterValue(registry_, "tandem_proxy_exported_replays_total",
                         {{"outcome", "resent"}}),
            1);
  // Refused again: a longer pause, the same deadline.
  x.exported_from = Backend::kTarget;
  const auto again = Exchange::Clock::now();
  ASSERT_EQ(hold_.Run(x), StageResult::kHold);
  EXPECT_EQ(x.hold.deadline, until);
  EXPECT_GE(x.hold.resend_at, again + std::chrono::milliseconds(20));
  // The route moves on meanwhile: it goes where the route points.
  routes_.Put(1, SYSTEM_SOURCE, rv1::ROUTE_STATE_STABLE, 21);
  ASSERT_EQ(hold_.Run(x), StageResult::kContinue);
  EXPECT_EQ(x.backend, Backend::kSource);
  // Refused for ever: 503 at the first hold's deadline.
  x.exported_from = Backend::kSource;
  ASSERT_EQ(hold_.Run(x), StageResult::kHold);
  x.hold.deadline = Exchange::Clock::now();
  x.hold.resend_at = x.hold.deadline;
  ASSERT_EQ(hold_.Run(x), StageResult::kReply);
  EXPECT_EQ(x.reply.status, 503);
}

// A FreezePolicy whose state the test sets.
class StaticFreeze final : public FreezePolicy {
 public:
  FreezeDecision Check(const ProductChange&) const override {
    FreezeDecision d;
    d.allowed = false;
    d.refusal = catalog::CHANGE_REFUSAL_CATALOG_FROZEN;
    d.reason = "frozen \"now\"";
    return d;
  }
  FreezeState EffectiveState() const override { return state; }
  FreezeState state = catalog::FREEZE_STATE_FROZEN;
};

TEST_F(StageTest, FreezeMatchesEverySpellingAndAsksTheCatalog) {
  ProductAdminApi api;
  StaticFreeze policy;
  FreezeStage alone(&api, &policy, false, &metrics_);
  FreezeStage asking(&api, &policy, true, &metrics_);
  for (const char* target :
       {"/admin/products/1", "/%61dmin/products/1", "/x/../admin/products/1",
        "//admin//products/1", "/ADMIN/Products/1", "/admin%2Fproducts/1",
        "http://x/admin/products/1", "/admin;a=b/products/1"}) {
    Exchange x = Request(std::string("PATCH ") + target +
                         " HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_EQ(alone.Run(x), StageResult::kReply) << target;
    EXPECT_EQ(x.reply.status, 423) << target;
    EXPECT_EQ(x.change->product_id, 1) << target;
  }
  Exchange read = Request("GET /admin/products/1 HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(alone.Run(read), StageResult::kContinue);
  policy.state = catalog::FREEZE_STATE_OPEN;
  Exchange open =
      Request("DELETE /admin/products/1 HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(alone.Run(open), StageResult::kContinue);

  // Asking: the answer resumes the stage.
  policy.state = catalog::FREEZE_STATE_FROZEN;
  Exchange x = Request("PUT /admin/products/7 HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_EQ(asking.Run(x), StageResult::kAskCatalog);
  EXPECT_EQ(x.change->detail, "PUT /admin/products/7");
  FreezeDecision allowed;
  x.catalog_answer = allowed;
  EXPECT_EQ(asking.Run(x), StageResult::kContinue);
  // The catalog unreachable: 423 without the gRPC details.
  ASSERT_EQ(asking.Run(x), StageResult::kAskCatalog);
  x.catalog_answer = absl::UnavailableError(
      "failed to connect to all addresses; last error: 10.9.8.7:7003");
  ASSERT_EQ(asking.Run(x), StageResult::kReply);
  EXPECT_EQ(x.reply.status, 423);
  EXPECT_NE(x.reply.body.find("catalog_unreachable"), std::string::npos);
  EXPECT_EQ(x.reply.body.find("10.9.8.7"), std::string::npos) << x.reply.body;
  EXPECT_EQ(x.reply.body.find("UNAVAILABLE"), std::string::npos);
  EXPECT_EQ(x.reply.body.find("failed to connect"), std::string::npos);
  EXPECT_EQ(CounterValue(registry_, "tandem_proxy_freeze_refusals_total",
                         {{"refusal", "catalog_unreachable"}}),
            1);
}

TEST(AdminIdentityTest, NamesTheAdministratorNeverTheToken) {
  EXPECT_EQ(AdminIdentity("carol", "Bearer secret"), "carol");
  EXPECT_EQ(AdminIdentity("", "Basic ZGF2ZTpzZWNyZXQ="), "dave");
  const std::string bearer = AdminIdentity("", "Bearer secret-token");
  EXPECT_EQ(bearer.rfind("bearer-sha256:", 0), 0u);
  EXPECT_EQ(bearer.find("secret"), std::string::npos);
}

}  // namespace
}  // namespace tandem::proxy
