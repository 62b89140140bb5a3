// The identity rule (customer_resolver.h, README "Finding the customer"),
// over a fake route table: every credential kind against every route
// state, the routing cookie as a hint the credential overrides, conflicts,
// credentials the proxy cannot place, and the login body read exactly as
// the billing systems read it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "portal-proxy/customer_resolver.h"
#include "portal-proxy/login_body.h"
#include "portal-proxy/routing_cookie.h"
#include "tests/portal-proxy/fake_routes.h"

namespace tandem::proxy {
namespace {

using ::tandem::common::v1::SYSTEM_SOURCE;
using ::tandem::common::v1::SYSTEM_TARGET;
namespace rv1 = ::tandem::router::v1;
using testing::FakeRoutes;
using Verdict = Resolution::Verdict;

constexpr char kKey[] = "current-key-0123456789";

RequestView V(std::string_view method, std::string_view path,
              std::string_view cookie, std::string_view authorization,
              std::string_view content_type,
              std::optional<std::string_view> body = std::nullopt) {
  RequestView view;
  view.method = method;
  view.path = path;
  view.cookie_header = cookie;
  view.authorization = authorization;
  view.content_type = content_type;
  view.body = body;
  return view;
}

// The route states a customer can be in, and "no route".
struct State {
  const char* name;
  bool has_route;
  System system;
  rv1::RouteState state;
};
constexpr State kStates[] = {
    {"source", true, SYSTEM_SOURCE, rv1::ROUTE_STATE_STABLE},
    {"source_migrating", true, SYSTEM_SOURCE, rv1::ROUTE_STATE_MIGRATING},
    {"target", true, SYSTEM_TARGET, rv1::ROUTE_STATE_STABLE},
    {"target_migrating", true, SYSTEM_TARGET, rv1::ROUTE_STATE_MIGRATING},
    {"no_route", false, SYSTEM_SOURCE, rv1::ROUTE_STATE_STABLE},
};

class IdentityTest : public ::testing::Test {
 protected:
  IdentityTest() : cookie_(*RoutingCookie::Create(kKey, "", absl::Hours(1))) {
    ResolverOptions options;
    options.login_paths = {"/login", "/api/login"};
    resolver_ = std::make_unique<CustomerResolver>(options, &routes_, &cookie_);
    // Customer 1 on the source (stable), the others as each test sets.
    routes_.Put(1, SYSTEM_SOURCE, rv1::ROUTE_STATE_STABLE, 10);
    routes_.Key(rv1::KEY_KIND_LOGIN, "cust1", 1);
  }

  void SetCustomer8(const State& state) {
    if (state.has_route) {
      routes_.Put(8, state.system, state.state, 80);
      routes_.Key(rv1::KEY_KIND_LOGIN, "cust8", 8);
      routes_.Key(rv1::KEY_KIND_API_TOKEN, "legacy-token-of-8", 8);
      routes_.Key(rv1::KEY_KIND_ACCOUNT_ID, "5558", 8);
    }
  }

  Resolution Resolve(const RequestView& view) {
    return resolver_->Resolve(view, absl::Now());
  }

  std::string RoutingCookieOf(int64_t id) {
    return "tandem_route=" + cookie_.Sign(id, SYSTEM_SOURCE, 10, absl::Now());
  }

  FakeRoutes routes_;
  RoutingCookie cookie_;
  std::unique_ptr<CustomerResolver> resolver_;
};

// Each credential kind of customer 8, in each route state, lands on the
// state's system (the default system without a route), naming customer 8.
TEST_F(IdentityTest, EveryCredentialKindInEveryRouteState) {
  struct Credential {
    const char* name;
    RequestView view;
    ResolvedBy by;
  };
  const std::string login_form = "login=CUST8+++&password=x";
  const std::vector<Credential> credentials = {
      {"session", V("GET", "/api/me", "tandem_session=8.abcdef", "", ""),
       ResolvedBy::kSession},
      {"token", V("GET", "/api/me", "", "Bearer tk_8_0123abcd", ""),
       ResolvedBy::kBearer},
      {"token_key", V("GET", "/api/me", "", "Bearer legacy-token-of-8", ""),
       ResolvedBy::kBearer},
      {"login",
       V("POST", "/api/login", "", "", "application/x-www-form-urlencoded",
         std::string_view(login_form)),
       ResolvedBy::kLogin},
  };
  for (const State& state : kStates) {
    SCOPED_TRACE(state.name);
    routes_.Clear();
    routes_.Put(1, SYSTEM_SOURCE, rv1::ROUTE_STATE_STABLE, 10);
    routes_.Put(2, SYSTEM_TARGET, rv1::ROUTE_STATE_STABLE, 20);
    SetCustomer8(state);
    for (const Credential& credential : credentials) {
      SCOPED_TRACE(credential.name);
      Resolution r = Resolve(credential.view);
      if (!state.has_route && credential.by == ResolvedBy::kLogin) {
        // A login the router does not know: an unknown customer, at the
        // default system (where customers the router does not know live).
        EXPECT_EQ(r.verdict, Verdict::kPlaced);
        EXPECT_FALSE(r.route.has_value());
        EXPECT_EQ(r.system, routes_.default_system());
        continue;
      }
      if (!state.has_route && std::string(credential.name) == "token_key") {
        // A token nobody knows: it cannot be placed, and with customer 2 on
        // the target the default system could be wrong.
        EXPECT_EQ(r.verdict, Verdict::kUnplaceable);
        continue;
      }
      ASSERT_EQ(r.verdict, Verdict::kPlaced);
      EXPECT_EQ(r.by, credential.by);
      EXPECT_EQ(r.customer_id, 8);
      EXPECT_EQ(r.route.has_value(), state.has_route);
      EXPECT_EQ(r.system,
                state.has_route ? state.system : routes_.default_system());
      if (state.has_route) {
        EXPECT_EQ(r.route->state, state.state);
      }
    }
  }
}

TEST_F(IdentityTest, TheCredentialWinsOverTheRoutingCookie) {
  routes_.Put(8, SYSTEM_TARGET, rv1::ROUTE_STATE_STABLE, 80);
  // Issue 15: A's routing cookie with B's bearer token went to A's system.
  const std::string cookie = RoutingCookieOf(1);
  Resolution r =
      Resolve(V("POST", "/api/topup", cookie, "Bearer tk_8_feedbeef", ""));
  EXPECT_EQ(r.verdict, Verdict::kPlaced);
  EXPECT_EQ(r.customer_id, 8);
  EXPECT_EQ(r.system, SYSTEM_TARGET);
  EXPECT_TRUE(r.issue_cookie);  // the client's cookie names someone else
  // B's own session from before the move, without a routing cookie.
  r = Resolve(V("GET", "/api/me", "tandem_session=8.0123", "", ""));
  EXPECT_EQ(r.system, SYSTEM_TARGET);
  EXPECT_FALSE(r.issue_cookie);
  // Without a credential the routing cookie decides.
  r = Resolve(V("GET", "/portal/home", cookie, "", ""));
  EXPECT_EQ(r.by, ResolvedBy::kCookie);
  EXPECT_EQ(r.customer_id, 1);
}

TEST_F(IdentityTest, CredentialsOfTwoCustomersAreRefused) {
  routes_.Put(8, SYSTEM_TARGET, rv1::ROUTE_STATE_STABLE, 80);
  Resolution r =
      Resolve(V("GET", "/api/me", "tandem_session=1.aa", "Bearer tk_8_bb", ""));
  EXPECT_EQ(r.verdict, Verdict::kConflict);
  // The same customer twice is fine.
  r = Resolve(V("GET", "/api/me", "tandem_session=8.aa", "Bearer tk_8_bb", ""));
  EXPECT_EQ(r.verdict, Verdict::kPlaced);
  EXPECT_EQ(r.customer_id, 8);
  // The billing systems read the bearer token first: a malformed session
  // beside it does not matter.
  r = Resolve(V("GET", "/api/me", "tandem_session=junk", "Bearer tk_8_bb", ""));
  EXPECT_EQ(r.customer_id, 8);
}

TEST_F(IdentityTest, UnplaceableCredentialsNeverFallToAWrongDefault) {
  // While every customer is on the default system, the default is right.
  Resolution r = Resolve(V("GET", "/api/me", "tandem_session=junk", "", ""));
  EXPECT_EQ(r.verdict, Verdict::kPlaced);
  EXPECT_EQ(r.system, SYSTEM_SOURCE);
  // Once someone has moved (or is moving), it could be wrong: refused.
  for (const State& state : {kStates[1], kStates[2]}) {
    routes_.Put(8, state.system, state.state, 80);
    r = Resolve(V("GET", "/api/me", "tandem_session=junk", "", ""));
    EXPECT_EQ(r.verdict, Verdict::kUnplaceable) << state.name;
    EXPECT_TRUE(r.bad_session_cookie);
    r = Resolve(V("GET", "/api/me", "", "Bearer not-a-known-token", ""));
    EXPECT_EQ(r.verdict, Verdict::kUnplaceable) << state.name;
    EXPECT_FALSE(r.bad_session_cookie);
    r = Resolve(V("POST", "/login", "", "", "application/json",
                  std::string_view("{\"login\": ")));
    EXPECT_EQ(r.verdict, Verdict::kUnplaceable) << state.name;
    RequestView too_large = V("POST", "/login", "", "", "application/json");
    too_large.body_too_large = true;
    EXPECT_EQ(Resolve(too_large).verdict, Verdict::kUnplaceable);
  }
  // An administrator's token on the admin API is not a customer credential.
  r = Resolve(V("PUT", "/admin/products/1", "", "Bearer admin-token", ""));
  EXPECT_EQ(r.verdict, Verdict::kPlaced);
  EXPECT_EQ(r.by, ResolvedBy::kDefault);
  // An emptied session cookie (after a logout) is no credential.
  r = Resolve(V("GET", "/api/me", "tandem_session=", "", ""));
  EXPECT_EQ(r.verdict, Verdict::kPlaced);
}

TEST_F(IdentityTest, LoginsMatchAsTheBillingSystemsCollationDoes) {
  routes_.Put(8, SYSTEM_TARGET, rv1::ROUTE_STATE_STABLE, 80);
  routes_.Key(rv1::KEY_KIND_LOGIN, "cust8", 8);
  auto login = [&](const std::string& body, const std::string& type) {
    return Resolve(V("POST", "/login", "", "", type, std::string_view(body)));
  };
  const std::string form = "application/x-www-form-urlencoded";
  for (const char* spelling : {"cust8", "CUST8", "Cust8", "cust8+",
                               "cust8%20%20", "c%C3%BAst8", "C%C3%9ASt8"}) {
    Resolution r = login(std::string("login=") + spelling + "&p=1", form);
    EXPECT_EQ(r.customer_id, 8) << spelling;
    EXPECT_EQ(r.system, SYSTEM_TARGET) << spelling;
    EXPECT_TRUE(r.issue_cookie);
  }
  Resolution r = login(R"({"login":"\u0043UST8 ","password":"x"})",
                       "application/json; charset=utf-8");
  EXPECT_EQ(r.customer_id, 8);
  // A leading space counts; an unknown login is an unknown customer.
  EXPECT_EQ(login("login=+cust8", form).customer_id, 0);
  EXPECT_EQ(login("login=nobody", form).route, std::nullopt);
  // A login request is judged by its body alone, whatever cookie it has.
  r = Resolve(V("POST", "/login", "tandem_session=1.a; " + RoutingCookieOf(1),
                "", form, std::string_view("login=cust8")));
  EXPECT_EQ(r.customer_id, 8);
  // Not valid UTF-8: nobody can be placed by it.
  r = login("login=cust8%FF", form);
  EXPECT_EQ(r.verdict, Verdict::kUnplaceable);
  // The body must be read first.
  EXPECT_EQ(Resolve(V("POST", "/login", "", "", form)).verdict,
            Verdict::kNeedBody);
}

TEST_F(IdentityTest, PathPatternsAndTheDefaultWithoutACredential) {
  routes_.Put(3, SYSTEM_SOURCE, rv1::ROUTE_STATE_MIGRATING, 30);
  routes_.Key(rv1::KEY_KIND_ACCOUNT_ID, "5553", 3);
  Resolution r = Resolve(V("GET", "/api/customers/1/invoices", "", "", ""));
  EXPECT_EQ(r.by, ResolvedBy::kPath);
  EXPECT_EQ(r.customer_id, 1);
  r = Resolve(V("GET", "/api/accounts/5553", "", "", ""));
  EXPECT_EQ(r.customer_id, 3);
  EXPECT_EQ(r.route->state, rv1::ROUTE_STATE_MIGRATING);
  routes_.default_ = SYSTEM_TARGET;
  r = Resolve(V("GET", "/static/app.js", "", "", ""));
  EXPECT_EQ(r.by, ResolvedBy::kDefault);
  EXPECT_EQ(r.system, SYSTEM_TARGET);
}

TEST(CredentialShapeTest, SessionIdsAndTokensCarryTheirCustomer) {
  EXPECT_EQ(SessionCustomer("8.abc"), 8);
  EXPECT_EQ(SessionCustomer("123456789012345678.x"), 123456789012345678);
  for (const char* bad : {"8.", ".abc", "8", "x8.a", "-8.a", "0.a",
                          "1234567890123456789.a", "8x.a"}) {
    EXPECT_FALSE(SessionCustomer(bad).has_value()) << bad;
  }
  EXPECT_EQ(TokenCustomer("tk_8_abc"), 8);
  for (const char* bad : {"tk_8_", "tk__abc", "tk_8", "TK_8_a", "tok8", ""}) {
    EXPECT_FALSE(TokenCustomer(bad).has_value()) << bad;
  }
  // The billing systems' cookie reading: the first match, trimmed.
  EXPECT_EQ(BillingCookie("a=b;  tandem_session=8.x ; tandem_session=9.y",
                          "tandem_session"),
            "8.x");
  EXPECT_FALSE(BillingCookie("xtandem_session=8.x", "tandem_session"));
}

TEST(LoginBodyTest, ReadsTheLoginAsTheBillingSystemsDo) {
  std::string login;
  const std::string form = "application/x-www-form-urlencoded; charset=utf-8";
  EXPECT_EQ(
      ExtractLogin(form, "a=1&login=a%40b+c&login=second", "login", &login),
      LoginBody::kFound);
  EXPECT_EQ(login, "a@b c");
  EXPECT_EQ(ExtractLogin(form, "x=%zz&login=a", "login", &login),
            LoginBody::kMalformed);
  EXPECT_EQ(ExtractLogin(form, "user=a", "login", &login), LoginBody::kAbsent);
  EXPECT_EQ(ExtractLogin("text/plain", "login=a", "login", &login),
            LoginBody::kAbsent);
  const std::string json = "Application/JSON";
  EXPECT_EQ(ExtractLogin(json, R"( {"x":{"login":"inner"},"login":"top"} )",
                         "login", &login),
            LoginBody::kFound);
  EXPECT_EQ(login, "top");
  EXPECT_EQ(ExtractLogin(json, R"({"login":"\ud83d\ude00x"})", "login", &login),
            LoginBody::kFound);
  EXPECT_EQ(login, "\xF0\x9F\x98\x80x");
  for (const char* bad :
       {R"({"login":"a","login":"b"})", R"({"login":5})", R"(["login"])",
        R"({"login":"a"} x)", R"({"login":"\ud83d"})", "{\"login\":\"a\x01\"}",
        R"({"login":"a",})", R"({"a":01})"}) {
    EXPECT_EQ(ExtractLogin(json, bad, "login", &login), LoginBody::kMalformed)
        << bad;
  }
  EXPECT_EQ(ExtractLogin(json, R"({"user":"a","n":[1,2.5e3,true,null]})",
                         "login", &login),
            LoginBody::kAbsent);
}

}  // namespace
}  // namespace tandem::proxy
