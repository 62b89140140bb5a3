// How many customers are where, as the router reports them, and how the
// catalog asks for them.
#pragma once

#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"

namespace tandem::catalog {

// How many customers are where, as the router last reported.
struct RouteCounts {
  int64_t source_stable = 0;
  int64_t source_migrating = 0;
  int64_t target_stable = 0;
  int64_t target_migrating = 0;

  // Customers that keep the freeze from lifting.
  int64_t on_source() const {
    return source_stable + source_migrating + target_migrating;
  }
  // Customers that have started moving (or moved).
  int64_t started_moving() const {
    return source_migrating + target_stable + target_migrating;
  }
  int64_t total() const {
    return source_stable + source_migrating + target_stable + target_migrating;
  }
};

// Asks the router for fresh counts; UNAVAILABLE when it cannot be reached.
using RouteCountsFn = std::function<absl::StatusOr<RouteCounts>()>;

}  // namespace tandem::catalog
