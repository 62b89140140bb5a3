#include "portal-proxy/customer_resolver.h"

#include <charconv>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "portal-proxy/text.h"

namespace tandem::proxy {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string_view PathOf(std::string_view target) {
  size_t q = target.find_first_of("?#");
  return q == std::string_view::npos ? target : target.substr(0, q);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string FormDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 &&
               HexValue(s[i + 2]) >= 0) {
      out.push_back(
          static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// A deliberately small JSON scan: finds `"field"` as an object key followed by
// ':' and a string value, and decodes the common escapes. Good enough for a
// login name; anything unusual simply yields nullopt.
std::optional<std::string> JsonStringField(std::string_view body,
                                           std::string_view field) {
  size_t pos = 0;
  while (true) {
    pos = body.find('"', pos);
    if (pos == std::string_view::npos) return std::nullopt;
    size_t end = pos + 1;
    std::string key;
    while (end < body.size() && body[end] != '"') {
      if (body[end] == '\\' && end + 1 < body.size()) ++end;
      key.push_back(body[end]);
      ++end;
    }
    if (end >= body.size()) return std::nullopt;
    size_t after = end + 1;
    while (after < body.size() && absl::ascii_isspace(body[after])) ++after;
    bool is_key = after < body.size() && body[after] == ':';
    if (is_key && key == field) {
      ++after;
      while (after < body.size() && absl::ascii_isspace(body[after])) ++after;
      if (after >= body.size() || body[after] != '"') return std::nullopt;
      std::string value;
      for (size_t i = after + 1; i < body.size(); ++i) {
        char c = body[i];
        if (c == '"') return value;
        if (c == '\\') {
          if (++i >= body.size()) return std::nullopt;
          char e = body[i];
          switch (e) {
            case 'n':
              value.push_back('\n');
              break;
            case 't':
              value.push_back('\t');
              break;
            case 'r':
              value.push_back('\r');
              break;
            case 'b':
              value.push_back('\b');
              break;
            case 'f':
              value.push_back('\f');
              break;
            case 'u':
              return std::nullopt;  // not expected in login names
            default:
              value.push_back(e);
          }
        } else {
          value.push_back(c);
        }
      }
      return std::nullopt;
    }
    pos = is_key ? after + 1 : end + 1;
  }
}

}  // namespace

const char* ResolvedByName(ResolvedBy by) {
  switch (by) {
    case ResolvedBy::kCookie:
      return "cookie";
    case ResolvedBy::kLogin:
      return "login";
    case ResolvedBy::kBearer:
      return "bearer";
    case ResolvedBy::kPath:
      return "path";
    case ResolvedBy::kDefault:
      return "default";
  }
  return "default";
}

std::optional<std::string> ExtractLoginName(
    std::string_view content_type, std::string_view body,
    const std::vector<std::string>& fields) {
  if (ContainsIgnoreCase(
          absl::string_view(content_type.data(), content_type.size()),
          "json")) {
    for (const std::string& field : fields) {
      if (auto value = JsonStringField(body, field); value && !value->empty()) {
        return value;
      }
    }
    return std::nullopt;
  }
  // Form encoding (the default for HTML login forms).
  for (const std::string& field : fields) {
    std::string_view rest = body;
    while (!rest.empty()) {
      size_t amp = rest.find('&');
      std::string_view pair = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view()
                                           : rest.substr(amp + 1);
      size_t eq = pair.find('=');
      if (eq == std::string_view::npos) continue;
      if (FormDecode(pair.substr(0, eq)) == field) {
        std::string value = FormDecode(pair.substr(eq + 1));
        if (!value.empty()) return value;
      }
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
                               std::string_view target) const {
  if (method != "POST") {
    return false;
  }
  std::string_view path = PathOf(target);
  for (const std::string& login : options_.login_paths) {
    if (path == login) {
      return true;
    }
  }
  return false;
}

std::optional<std::string_view> CustomerResolver::FindRoutingCookie(
    std::string_view header) const {
  while (!header.empty()) {
    size_t semi = header.find(';');
    std::string_view pair = Trim(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view()
                                            : header.substr(semi + 1);
    size_t eq = pair.find('=');
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

std::optional<RouteInfo> CustomerResolver::FromPath(
    std::string_view path) const {
  for (const Pattern& pattern : patterns_) {
    std::string_view rest = path;
    bool matched = true;
    std::optional<RouteInfo> found;
    for (const std::string& segment : pattern.segments) {
      while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
      size_t slash = rest.find('/');
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
    if (matched && found) {
      return found;
    }
  }
  return std::nullopt;
}

Resolution CustomerResolver::Resolve(const RequestView& request,
                                     absl::Time now) const {
  Resolution result;
  auto resolved = [&](ResolvedBy by, const RouteInfo& route) {
    result.by = by;
    result.route = route;
    result.system = route.system;
    return result;
  };
  // The login body (step 2), on login requests only. Checked before the
  // cookie: a browser that logs in as someone else must not keep the old
  // customer.
  if (request.body && IsLogin(request.method, request.target)) {
    if (auto login = ExtractLoginName(request.content_type, *request.body,
                                      options_.login_fields)) {
      if (auto route = routes_->LookupInfo(::tandem::router::v1::KEY_KIND_LOGIN,
                                           *login)) {
        return resolved(ResolvedBy::kLogin, *route);
      }
    }
  }
  // Step 1, the routing cookie: trusted only with a valid MAC and expiry, and
  // only for the customer id; the system comes from the live route.
  if (!request.cookie_header.empty()) {
    if (auto value = FindRoutingCookie(request.cookie_header)) {
      if (auto claims = cookie_->Verify(*value, now)) {
        if (auto route = routes_->FindInfo(claims->customer_id)) {
          result.stale_cookie = claims->route_version != route->version ||
                                claims->system != route->system;
          return resolved(ResolvedBy::kCookie, *route);
        }
      }
    }
  }
  // Step 3: a bearer API token, then path patterns.
  if (absl::StartsWithIgnoreCase(
          absl::string_view(request.authorization.data(),
                            request.authorization.size()),
          "bearer ")) {
    std::string_view token = Trim(request.authorization.substr(7));
    if (!token.empty()) {
      if (auto route = routes_->LookupInfo(
              ::tandem::router::v1::KEY_KIND_API_TOKEN, token)) {
        return resolved(ResolvedBy::kBearer, *route);
      }
    }
  }
  if (!patterns_.empty()) {
    if (auto route = FromPath(PathOf(request.target))) {
      return resolved(ResolvedBy::kPath, *route);
    }
  }
  // Step 4: the default system.
  result.by = ResolvedBy::kDefault;
  result.system = routes_->default_system();
  return result;
}

}  // namespace tandem::proxy
