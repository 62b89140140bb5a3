// Finds the customer a request belongs to: the identity stage of the
// pipeline. The rule (README.md, "Finding the customer"):
//
//  1. The credential the billing system will authenticate decides:
//     - on a login path, the login name in the body (login_body.h), matched
//       as the billing systems' collation matches logins;
//     - otherwise `Authorization: Bearer` when present (the billing systems
//       read it before the session cookie): `tk_<customer_id>_<hex>`
//       carries its customer, any other token is looked up among the
//       router's api_token keys;
//     - otherwise the session cookie, `<customer_id>.<hex>`.
//     A bearer token and a session cookie of two different customers:
//     refused (kConflict).
//  2. Without a credential, the signed routing cookie (a hint from the
//     proxy itself), then the configured path patterns.
//  3. A credential whose customer has no route goes to the default system
//     (where customers the router does not know live, by design); so does a
//     request with nothing to go by.
//  4. A credential the proxy cannot place (a malformed session cookie, an
//     unknown bearer token, a login body that cannot be read) goes to the
//     default system only while that is right for every customer
//     (RouteSource::DefaultIsEveryones); otherwise it is refused
//     (kUnplaceable), never guessed. On the billing systems' admin paths an
//     Authorization is an administrator's, not a customer's, and is not
//     considered.
// When a valid routing cookie disagrees with the credential, the credential
// wins and the answer carries a fresh cookie.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "portal-proxy/route_source.h"
#include "portal-proxy/routing_cookie.h"

namespace tandem::proxy {

struct ResolverOptions {
  // Name of the proxy's routing cookie.
  std::string cookie_name = "tandem_route";
  // Name of the billing systems' session cookie.
  std::string session_cookie = "tandem_session";
  // POST requests to these exact paths are logins.
  std::vector<std::string> login_paths = {"/login"};
  // Form or JSON field names of the login name, tried in order.
  std::vector<std::string> login_fields = {"login"};
  // A login body larger than this cannot be read: the login is unplaceable.
  size_t max_login_body_bytes = 16 * 1024;
  // Path patterns such as "/api/customers/{customer_id}" or
  // "/api/accounts/{account_id}"; a pattern matches a path that starts with
  // its segments.
  std::vector<std::string> path_patterns = {"/api/customers/{customer_id}",
                                            "/api/accounts/{account_id}"};
  // Path prefixes of the billing systems' admin API.
  std::vector<std::string> admin_prefixes = {"/admin/"};
};

// How the customer of a request was found.
enum class ResolvedBy {
  kLogin,
  kBearer,
  kSession,
  kCookie,
  kPath,
  kDefault,
};

const char* ResolvedByName(ResolvedBy by);

// The parts of a request the resolver looks at. `path` is the normalised
// path (path_normalizer.h). `body` is set for login requests once their
// body was read; `body_too_large` when it exceeded max_login_body_bytes.
struct RequestView {
  std::string_view method;
  std::string_view path;
  std::string_view cookie_header;
  std::string_view authorization;
  std::string_view content_type;
  std::optional<std::string_view> body;
  bool body_too_large = false;
};

struct Resolution {
  enum class Verdict {
    kPlaced,
    // A login request whose body must be read first.
    kNeedBody,
    // Credentials of two different customers.
    kConflict,
    // A credential the proxy cannot place, while the default system is not
    // right for everyone.
    kUnplaceable,
  };
  Verdict verdict = Verdict::kPlaced;
  ResolvedBy by = ResolvedBy::kDefault;
  // The customer the request belongs to (0 when nobody is named).
  int64_t customer_id = 0;
  // The customer's route, when it has one.
  std::optional<RouteInfo> route;
  // Where the request goes: the route's system, or the default system.
  System system = ::tandem::common::v1::SYSTEM_SOURCE;
  // The response should carry a fresh routing cookie for `route` (after a
  // login, or when the client's cookie is stale or names someone else).
  bool issue_cookie = false;
  // For kUnplaceable: the session cookie is the culprit (the refusal clears
  // it, so that the browser recovers).
  bool bad_session_cookie = false;
  // What was wrong, for kConflict and kUnplaceable (a literal).
  const char* problem = "";
};

class CustomerResolver {
 public:
  // `routes` and `cookie` are not owned and must outlive the resolver.
  CustomerResolver(ResolverOptions options, const RouteSource* routes,
                   const RoutingCookie* cookie);

  // Whether the request is a login whose body must be read first.
  bool IsLogin(std::string_view method, std::string_view path) const;

  // Resolves one request; see the file comment.
  Resolution Resolve(const RequestView& request, absl::Time now) const;

  // The value of the routing cookie in a Cookie header, if present.
  std::optional<std::string_view> FindRoutingCookie(
      std::string_view cookie_header) const;

  const ResolverOptions& options() const { return options_; }

 private:
  struct Pattern {
    std::vector<std::string> segments;  // "{customer_id}" etc. captured
  };
  // A credential's customer: a customer id, or none (not present), or
  // unplaceable.
  struct Credential {
    enum class Kind { kNone, kCustomer, kUnplaceable } kind = Kind::kNone;
    int64_t customer_id = 0;
    ResolvedBy by = ResolvedBy::kDefault;
    // The customer's route when the credential was found through it.
    std::optional<RouteInfo> route;
    bool route_known = false;
  };
  Credential FromLogin(const RequestView& request) const;
  Credential FromBearer(std::string_view authorization) const;
  Credential FromSession(std::string_view cookie_header) const;
  std::optional<RouteInfo> FromPath(std::string_view path) const;
  bool IsAdminPath(std::string_view path) const;
  // The customer id of a valid routing cookie, with `stale` when its system
  // or route version is not the route's any more.
  std::optional<int64_t> CookieCustomer(std::string_view cookie_header,
                                        absl::Time now, bool* stale) const;
  // Places the request with `customer_id`'s route; `known` is that route
  // when the caller has looked it up already.
  Resolution Place(int64_t customer_id, ResolvedBy by,
                   const std::optional<RouteInfo>* known = nullptr) const;
  Resolution Unplaceable(const char* problem, bool session) const;

  ResolverOptions options_;
  const RouteSource* routes_;
  const RoutingCookie* cookie_;
  std::vector<Pattern> patterns_;
};

// The customer id a session id (`<customer_id>.<rest>`) or an API token
// (`tk_<customer_id>_<rest>`) carries; nullopt when it has not that shape.
std::optional<int64_t> SessionCustomer(std::string_view session);
std::optional<int64_t> TokenCustomer(std::string_view token);

// The value of cookie `name` as the billing systems read it: the first
// ';'-separated part that, trimmed, starts with "<name>=".
std::optional<std::string_view> BillingCookie(std::string_view header,
                                              std::string_view name);

}  // namespace tandem::proxy
