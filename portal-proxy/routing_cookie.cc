#include "portal-proxy/routing_cookie.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <charconv>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tandem::proxy {
namespace {

using Mac = std::array<unsigned char, 32>;

Mac Hmac(const std::string& key, std::string_view data) {
  Mac mac{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(),
       mac.data(), &length);
  return mac;
}

void AppendHex(const Mac& mac, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char c : mac) {
    out->push_back(kHex[c >> 4]);
    out->push_back(kHex[c & 15]);
  }
}

bool ParseHex(std::string_view hex, Mac* out) {
  if (hex.size() != 64) {
    return false;
  }
  for (size_t i = 0; i < 32; ++i) {
    int v = 0;
    for (int j = 0; j < 2; ++j) {
      char c = hex[2 * i + j];
      int d;
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;
      } else {
        return false;
      }
      v = v * 16 + d;
    }
    (*out)[i] = static_cast<unsigned char>(v);
  }
  return true;
}

bool ParseInt(std::string_view s, int64_t* out) {
  if (s.empty()) {
    return false;
  }
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// Splits off the next '.'-separated field of `rest`.
bool Next(std::string_view* rest, std::string_view* field) {
  size_t dot = rest->find('.');
  if (dot == std::string_view::npos) {
    return false;
  }
  *field = rest->substr(0, dot);
  rest->remove_prefix(dot + 1);
  return true;
}

}  // namespace

absl::StatusOr<RoutingCookie> RoutingCookie::Create(std::string current_key,
                                                    std::string previous_key,
                                                    absl::Duration lifetime) {
  if (current_key.size() < 16 ||
      (!previous_key.empty() && previous_key.size() < 16)) {
    return absl::InvalidArgumentError(
        "routing cookie keys must be at least 16 bytes");
  }
  if (lifetime <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("cookie lifetime must be positive");
  }
  RoutingCookie cookie;
  cookie.current_key_ = std::move(current_key);
  cookie.previous_key_ = std::move(previous_key);
  cookie.lifetime_ = lifetime;
  return cookie;
}

std::string RoutingCookie::Sign(int64_t customer_id,
                                ::tandem::common::v1::System system,
                                int64_t route_version, absl::Time now) const {
  std::string value =
      absl::StrCat("v1.", customer_id, ".", static_cast<int>(system), ".",
                   route_version, ".", absl::ToUnixSeconds(now + lifetime_));
  Mac mac = Hmac(current_key_, value);
  value.push_back('.');
  AppendHex(mac, &value);
  return value;
}

std::optional<CookieClaims> RoutingCookie::Verify(std::string_view value,
                                                  absl::Time now) const {
  size_t last_dot = value.rfind('.');
  if (value.size() > 200 || last_dot == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view signed_part = value.substr(0, last_dot);
  Mac presented;
  if (!ParseHex(value.substr(last_dot + 1), &presented)) {
    return std::nullopt;
  }
  bool valid = false;
  for (const std::string* key : {&current_key_, &previous_key_}) {
    if (key->empty()) {
      continue;
    }
    Mac expected = Hmac(*key, signed_part);
    if (CRYPTO_memcmp(expected.data(), presented.data(), expected.size()) ==
        0) {
      valid = true;
    }
  }
  if (!valid) {
    return std::nullopt;
  }
  std::string_view rest = signed_part;
  rest = rest.substr(0);
  std::string_view tag, id, system, version;
  int64_t cid = 0, sys = 0, ver = 0, expiry = 0;
  if (!Next(&rest, &tag) || tag != "v1" || !Next(&rest, &id) ||
      !Next(&rest, &system) || !Next(&rest, &version) || !ParseInt(id, &cid) ||
      !ParseInt(system, &sys) || !ParseInt(version, &ver) ||
      !ParseInt(rest, &expiry) || cid <= 0 ||
      !::tandem::common::v1::System_IsValid(static_cast<int>(sys))) {
    return std::nullopt;
  }
  CookieClaims claims;
  claims.customer_id = cid;
  claims.system = static_cast<::tandem::common::v1::System>(sys);
  claims.route_version = ver;
  claims.expires = absl::FromUnixSeconds(expiry);
  if (claims.expires <= now) {
    return std::nullopt;
  }
  return claims;
}

}  // namespace tandem::proxy
