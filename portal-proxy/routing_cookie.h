// The signed routing cookie the proxy sets after a successful login, so that
// later requests of the same browser session find their customer without
// reading a body or a token.
//
// Value format: `v1.<customer_id>.<system>.<route_version>.<expiry_unix_s>.
// <mac>`, where <mac> is the lowercase hex HMAC-SHA256 of everything before
// the last dot. Two keys are accepted for verification (current and
// previous), so the key can be rotated without logging everybody out; new
// cookies are always signed with the current key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tandem/common/v1/types.pb.h"

namespace tandem::proxy {

// What a routing cookie says. Informational except for `customer_id`: the
// proxy routes by the customer's current route in its cache, not by the
// system written in the cookie.
struct CookieClaims {
  int64_t customer_id = 0;
  ::tandem::common::v1::System system =
      ::tandem::common::v1::SYSTEM_UNSPECIFIED;
  int64_t route_version = 0;
  absl::Time expires = absl::InfinitePast();
};

class RoutingCookie {
 public:
  // Keys are raw secrets (at least 16 bytes each). `previous_key` may be
  // empty. INVALID_ARGUMENT for a short key.
  static absl::StatusOr<RoutingCookie> Create(std::string current_key,
                                              std::string previous_key,
                                              absl::Duration lifetime);

  // Returns the cookie value for `claims` with expiry now + lifetime.
  std::string Sign(int64_t customer_id, ::tandem::common::v1::System system,
                   int64_t route_version, absl::Time now) const;

  // Returns the claims of `value` if it is well formed, carries a valid MAC
  // under either key and has not expired at `now`; nullopt otherwise (a
  // forged, tampered or expired cookie is never trusted). Does not allocate
  // on the failure paths.
  std::optional<CookieClaims> Verify(std::string_view value,
                                     absl::Time now) const;

  absl::Duration lifetime() const { return lifetime_; }

 private:
  RoutingCookie() = default;

  std::string current_key_;
  std::string previous_key_;
  absl::Duration lifetime_;
};

}  // namespace tandem::proxy
