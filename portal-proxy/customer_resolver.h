// Finds the customer a request belongs to, in the configured order:
//   1. the proxy's own signed routing cookie;
//   2. on login paths, the login name in the (bounded) form or JSON body;
//   3. a bearer API token, or a customer/account id in a configured path
//      pattern;
//   4. otherwise nobody: the request goes to the router's default system.
// A cookie that fails verification, or a key the route cache does not know,
// falls through to the next step; nothing a client sends is trusted blindly.
// On a login request whose body names a known login, the login wins over a
// cookie: the browser is becoming that customer.
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
  // POST requests to these exact paths are logins.
  std::vector<std::string> login_paths = {"/login"};
  // Form or JSON field names that carry the login name, in order.
  std::vector<std::string> login_fields = {"login", "username"};
  // Login bodies larger than this are not inspected (still forwarded).
  size_t max_login_body_bytes = 16 * 1024;
  // Path patterns such as "/api/customers/{customer_id}" or
  // "/api/accounts/{account_id}"; a pattern matches a path that starts with
  // its segments.
  std::vector<std::string> path_patterns = {"/api/customers/{customer_id}",
                                            "/api/accounts/{account_id}"};
};

// How the customer of a request was found.
enum class ResolvedBy { kCookie, kLogin, kBearer, kPath, kDefault };

const char* ResolvedByName(ResolvedBy by);

// The parts of a request the resolver looks at. Views into the request;
// `body` is only set for login requests whose body was read.
struct RequestView {
  std::string_view method;
  std::string_view target;  // path and query
  std::string_view cookie_header;
  std::string_view authorization;
  std::string_view content_type;
  std::optional<std::string_view> body;
};

struct Resolution {
  ResolvedBy by = ResolvedBy::kDefault;
  // The customer's route, unless `by` is kDefault.
  RouteInfo route;
  // Where the request goes (the route's system, or the default system).
  System system = ::tandem::common::v1::SYSTEM_SOURCE;
  // Resolved by a valid routing cookie whose system or route version is
  // not the route's any more (the customer moved since it was issued): the
  // response should carry a fresh cookie.
  bool stale_cookie = false;
};

class CustomerResolver {
 public:
  // `routes` and `cookie` are not owned and must outlive the resolver.
  CustomerResolver(ResolverOptions options, const RouteSource* routes,
                   const RoutingCookie* cookie);

  // Whether the request is a login whose body should be read (up to
  // max_login_body_bytes) before resolving.
  bool IsLogin(std::string_view method, std::string_view target) const;

  // Resolves one request; see the file comment for the order.
  Resolution Resolve(const RequestView& request, absl::Time now) const;

  // The value of the routing cookie in a Cookie header, if present.
  std::optional<std::string_view> FindRoutingCookie(
      std::string_view cookie_header) const;

  const ResolverOptions& options() const { return options_; }

 private:
  struct Pattern {
    std::vector<std::string> segments;  // "{customer_id}" etc. captured
  };
  std::optional<RouteInfo> FromPath(std::string_view path) const;

  ResolverOptions options_;
  const RouteSource* routes_;
  const RoutingCookie* cookie_;
  std::vector<Pattern> patterns_;
};

// Returns the login name in a form (application/x-www-form-urlencoded) or
// JSON body, decoded, looking for `fields` in order; nullopt when absent.
std::optional<std::string> ExtractLoginName(
    std::string_view content_type, std::string_view body,
    const std::vector<std::string>& fields);

}  // namespace tandem::proxy
