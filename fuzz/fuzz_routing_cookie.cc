// The routing-cookie verifier: any input is verified without crashing; a
// cookie it accepts names a positive customer and a known system and has
// not expired; what Sign makes for the claims it accepts verifies again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "absl/time/time.h"
#include "portal-proxy/routing_cookie.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tandem::proxy::RoutingCookie;
  static const RoutingCookie* cookie = new RoutingCookie(
      *RoutingCookie::Create("fuzz-current-key-0123456789",
                             "fuzz-previous-key-0123456789", absl::Hours(1)));
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const absl::Time now = absl::FromUnixSeconds(1700000000);
  if (auto claims = cookie->Verify(in, now)) {
    if (claims->customer_id <= 0 || claims->expires <= now) std::abort();
  }
  // A cookie made from fuzzed claims round-trips.
  if (size >= 16) {
    int64_t customer = 0;
    int64_t version = 0;
    __builtin_memcpy(&customer, data, 8);
    __builtin_memcpy(&version, data + 8, 8);
    if (customer <= 0) return 0;
    const auto system = data[0] % 2 == 0 ? tandem::common::v1::SYSTEM_SOURCE
                                         : tandem::common::v1::SYSTEM_TARGET;
    auto claims =
        cookie->Verify(cookie->Sign(customer, system, version, now), now);
    if (!claims || claims->customer_id != customer ||
        claims->route_version != version || claims->system != system) {
      std::abort();
    }
  }
  return 0;
}
