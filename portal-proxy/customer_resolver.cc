#include "portal-proxy/customer_resolver.h"

#include <charconv>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "portal-proxy/login_body.h"
#include "router/login_fold.h"

namespace tandem::proxy {
namespace {

using Verdict = Resolution::Verdict;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// A positive customer id of 1 to 18 digits at the start of `s`, ended by
// `end`, followed by at least one more character.
std::optional<int64_t> IdBefore(std::string_view s, char end) {
  const size_t stop = s.find(end);
  if (stop == 0 || stop == std::string_view::npos || stop > 18 ||
      stop + 1 == s.size()) {
    return std::nullopt;
  }
  int64_t id = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + stop, id);
  if (ec != std::errc() || ptr != s.data() + stop || id <= 0) {
    return std::nullopt;
  }
  return id;
}

}  // namespace

const char* ResolvedByName(ResolvedBy by) {
  switch (by) {
    case ResolvedBy::kLogin:
      return "login";
    case ResolvedBy::kBearer:
      return "bearer";
    case ResolvedBy::kSession:
      return "session";
    case ResolvedBy::kCookie:
      return "cookie";
    case ResolvedBy::kPath:
      return "path";
    case ResolvedBy::kDefault:
      return "default";
  }
  return "default";
}

std::optional<int64_t> SessionCustomer(std::string_view session) {
  return IdBefore(session, '.');
}

std::optional<int64_t> TokenCustomer(std::string_view token) {
  if (token.substr(0, 3) != "tk_") return std::nullopt;
  return IdBefore(token.substr(3), '_');
}

std::optional<std::string_view> BillingCookie(std::string_view header,
                                              std::string_view name) {
  while (!header.empty()) {
    const size_t semi = header.find(';');
    std::string_view part = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view()
                                            : header.substr(semi + 1);
    // absl::StripAsciiWhitespace, as the billing systems trim.
    while (!part.empty() && absl::ascii_isspace(part.front())) {
      part.remove_prefix(1);
    }
    while (!part.empty() && absl::ascii_isspace(part.back())) {
      part.remove_suffix(1);
    }
    if (part.size() > name.size() && part.substr(0, name.size()) == name &&
        part[name.size()] == '=') {
      return part.substr(name.size() + 1);
    }
  }
  return std::nullopt;
}

CustomerResolver::CustomerResolver(ResolverOptions options,
                                   const RouteSource* routes,
                                   const RoutingCookie* cookie)
    : options_(std::move(options)), routes_(routes), cookie_(cookie) {
  for (const std::string& pattern : options_.path_patterns) {
    Pattern p;
    for (absl::string_view segment :
         absl::StrSplit(pattern, '/', absl::SkipEmpty())) {
      p.segments.emplace_back(segment);
    }
    if (!p.segments.empty()) {
      patterns_.push_back(std::move(p));
    }
  }
}

bool CustomerResolver::IsLogin(std::string_view method,
                               std::string_view path) const {
  if (method != "POST") return false;
  for (const std::string& login : options_.login_paths) {
    if (path == login) return true;
  }
  return false;
}

bool CustomerResolver::IsAdminPath(std::string_view path) const {
  const absl::string_view p(path.data(), path.size());
  for (const std::string& prefix : options_.admin_prefixes) {
    if (absl::StartsWithIgnoreCase(p, prefix)) return true;
  }
  return false;
}

std::optional<std::string_view> CustomerResolver::FindRoutingCookie(
    std::string_view header) const {
  while (!header.empty()) {
    const size_t semi = header.find(';');
    std::string_view pair = Trim(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view()
                                            : header.substr(semi + 1);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos &&
        Trim(pair.substr(0, eq)) == options_.cookie_name) {
      std::string_view value = Trim(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return value;
    }
  }
  return std::nullopt;
}

CustomerResolver::Credential CustomerResolver::FromLogin(
    const RequestView& request) const {
  Credential credential;
  credential.by = ResolvedBy::kLogin;
  if (request.body_too_large) {
    credential.kind = Credential::Kind::kUnplaceable;
    return credential;
  }
  std::string login;
  for (const std::string& field : options_.login_fields) {
    switch (ExtractLogin(request.content_type, *request.body, field, &login)) {
      case LoginBody::kAbsent:
        continue;
      case LoginBody::kMalformed:
        credential.kind = Credential::Kind::kUnplaceable;
        return credential;
      case LoginBody::kFound:
        break;
    }
    std::string folded;
    if (!::tandem::router::FoldLogin(login, &folded)) {
      credential.kind = Credential::Kind::kUnplaceable;
      return credential;
    }
    credential.kind = Credential::Kind::kCustomer;
    credential.route =
        routes_->LookupInfo(::tandem::router::v1::KEY_KIND_LOGIN, login);
    credential.route_known = true;
    if (credential.route)
      credential.customer_id = credential.route->customer_id;
    return credential;
  }
  return Credential();
}

CustomerResolver::Credential CustomerResolver::FromBearer(
    std::string_view authorization) const {
  Credential credential;
  credential.by = ResolvedBy::kBearer;
  const absl::string_view header(authorization.data(), authorization.size());
  if (!absl::StartsWithIgnoreCase(header, "bearer ")) return Credential();
  const std::string_view token = Trim(authorization.substr(7));
  if (token.empty()) return Credential();
  if (auto id = TokenCustomer(token)) {
    credential.kind = Credential::Kind::kCustomer;
    credential.customer_id = *id;
  } else if (auto route = routes_->LookupInfo(
                 ::tandem::router::v1::KEY_KIND_API_TOKEN, token)) {
    credential.kind = Credential::Kind::kCustomer;
    credential.customer_id = route->customer_id;
    credential.route = route;
    credential.route_known = true;
  } else {
    credential.kind = Credential::Kind::kUnplaceable;
  }
  return credential;
}

CustomerResolver::Credential CustomerResolver::FromSession(
    std::string_view cookie_header) const {
  Credential credential;
  credential.by = ResolvedBy::kSession;
  auto session = BillingCookie(cookie_header, options_.session_cookie);
  if (!session || session->empty()) return Credential();
  if (auto id = SessionCustomer(*session)) {
    credential.kind = Credential::Kind::kCustomer;
    credential.customer_id = *id;
  } else {
    credential.kind = Credential::Kind::kUnplaceable;
  }
  return credential;
}

std::optional<RouteInfo> CustomerResolver::FromPath(
    std::string_view path) const {
  for (const Pattern& pattern : patterns_) {
    std::string_view rest = path;
    bool matched = true;
    std::optional<RouteInfo> found;
    for (const std::string& segment : pattern.segments) {
      while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
      const size_t slash = rest.find('/');
      std::string_view part = rest.substr(0, slash);
      rest = slash == std::string_view::npos ? std::string_view()
                                             : rest.substr(slash);
      if (part.empty()) {
        matched = false;
        break;
      }
      if (segment == "{customer_id}") {
        int64_t id = 0;
        auto [ptr, ec] =
            std::from_chars(part.data(), part.data() + part.size(), id);
        if (ec != std::errc() || ptr != part.data() + part.size() || id <= 0) {
          matched = false;
          break;
        }
        found = routes_->FindInfo(id);
      } else if (segment == "{account_id}") {
        found = routes_->LookupInfo(::tandem::router::v1::KEY_KIND_ACCOUNT_ID,
                                    part);
      } else if (segment == "{login}") {
        found = routes_->LookupInfo(::tandem::router::v1::KEY_KIND_LOGIN, part);
      } else if (part != segment) {
        matched = false;
        break;
      }
    }
    if (matched && found) return found;
  }
  return std::nullopt;
}

std::optional<int64_t> CustomerResolver::CookieCustomer(
    std::string_view cookie_header, absl::Time now, bool* stale) const {
  auto value = FindRoutingCookie(cookie_header);
  if (!value) return std::nullopt;
  auto claims = cookie_->Verify(*value, now);
  if (!claims) return std::nullopt;
  auto route = routes_->FindInfo(claims->customer_id);
  if (!route) return std::nullopt;
  *stale = claims->route_version != route->version ||
           claims->system != route->system;
  return claims->customer_id;
}

Resolution CustomerResolver::Place(
    int64_t customer_id, ResolvedBy by,
    const std::optional<RouteInfo>* known) const {
  Resolution resolution;
  resolution.by = by;
  resolution.customer_id = customer_id;
  if (known != nullptr) {
    resolution.route = *known;
  } else if (customer_id > 0) {
    resolution.route = routes_->FindInfo(customer_id);
  }
  resolution.system =
      resolution.route ? resolution.route->system : routes_->default_system();
  return resolution;
}

Resolution CustomerResolver::Unplaceable(const char* problem,
                                         bool session) const {
  Resolution resolution = Place(0, ResolvedBy::kDefault);
  if (!routes_->DefaultIsEveryones()) {
    resolution.verdict = Verdict::kUnplaceable;
    resolution.problem = problem;
    resolution.bad_session_cookie = session;
  }
  return resolution;
}

Resolution CustomerResolver::Resolve(const RequestView& request,
                                     absl::Time now) const {
  Credential credential;
  if (IsLogin(request.method, request.path)) {
    if (!request.body && !request.body_too_large) {
      Resolution need;
      need.verdict = Verdict::kNeedBody;
      return need;
    }
    credential = FromLogin(request);
    if (credential.kind == Credential::Kind::kUnplaceable) {
      return Unplaceable("the login body cannot be read", false);
    }
  } else {
    Credential bearer = FromBearer(request.authorization);
    if (bearer.kind == Credential::Kind::kUnplaceable &&
        IsAdminPath(request.path)) {
      bearer = Credential();  // an administrator's token, not a customer's
    }
    const Credential session = FromSession(request.cookie_header);
    if (bearer.kind == Credential::Kind::kCustomer &&
        session.kind == Credential::Kind::kCustomer &&
        bearer.customer_id != session.customer_id) {
      Resolution conflict;
      conflict.verdict = Verdict::kConflict;
      conflict.problem =
          "the bearer token and the session cookie belong to different "
          "customers";
      return conflict;
    }
    credential = bearer.kind != Credential::Kind::kNone ? bearer : session;
    if (credential.kind == Credential::Kind::kUnplaceable) {
      const bool by_session = credential.by == ResolvedBy::kSession;
      return Unplaceable(by_session ? "the session cookie is not one this "
                                      "service issued; log in again"
                                    : "the bearer token is not known",
                         by_session);
    }
  }
  bool stale = false;
  std::optional<int64_t> hinted;
  if (!request.cookie_header.empty()) {
    hinted = CookieCustomer(request.cookie_header, now, &stale);
  }
  if (credential.kind == Credential::Kind::kCustomer) {
    Resolution resolution =
        Place(credential.customer_id, credential.by,
              credential.route_known ? &credential.route : nullptr);
    resolution.issue_cookie =
        resolution.route.has_value() &&
        (credential.by == ResolvedBy::kLogin ||
         (hinted && (*hinted != credential.customer_id || stale)));
    return resolution;
  }
  if (hinted) {
    Resolution resolution = Place(*hinted, ResolvedBy::kCookie);
    resolution.issue_cookie = stale;
    return resolution;
  }
  if (!patterns_.empty()) {
    if (std::optional<RouteInfo> route = FromPath(request.path)) {
      return Place(route->customer_id, ResolvedBy::kPath, &route);
    }
  }
  return Place(0, ResolvedBy::kDefault);
}

}  // namespace tandem::proxy
