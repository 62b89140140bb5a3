// The two billing systems behind the proxy, as an enum the request path can
// index arrays with, and its conversions to and from the protos' System.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "tandem/common/v1/types.pb.h"

namespace tandem::proxy {

enum class Backend : uint8_t { kSource = 0, kTarget = 1 };

inline constexpr size_t kBackendCount = 2;
inline constexpr std::array<Backend, kBackendCount> kBackends = {
    Backend::kSource, Backend::kTarget};

// Arrays indexed by a Backend.
template <typename T>
using PerBackend = std::array<T, kBackendCount>;

inline constexpr size_t Index(Backend backend) {
  return static_cast<size_t>(backend);
}

// The metric label and log value: "source" or "target".
inline constexpr const char* Label(Backend backend) {
  return backend == Backend::kTarget ? "target" : "source";
}

// SYSTEM_TARGET is the target; every other value (SYSTEM_SOURCE, and
// SYSTEM_UNSPECIFIED, which the router never stores) is the source.
inline constexpr Backend FromSystem(::tandem::common::v1::System system) {
  return system == ::tandem::common::v1::SYSTEM_TARGET ? Backend::kTarget
                                                       : Backend::kSource;
}

inline constexpr ::tandem::common::v1::System ToSystem(Backend backend) {
  return backend == Backend::kTarget ? ::tandem::common::v1::SYSTEM_TARGET
                                     : ::tandem::common::v1::SYSTEM_SOURCE;
}

}  // namespace tandem::proxy
