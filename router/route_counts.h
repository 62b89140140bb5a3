// How many customers are where: routes by system and state, and keys. The
// one vocabulary for it: the router's table counts them, GetStats reports
// them, the route cache exports them and the catalog decides the freeze on
// them. Header-only and free of the rest of the router, so a client of the
// router (the catalog) can use it without linking the router.
#pragma once

#include <cstdint>

namespace tandem::router {

struct RouteCounts {
  int64_t source_stable = 0;
  int64_t source_migrating = 0;
  int64_t target_stable = 0;
  int64_t target_migrating = 0;
  int64_t keys = 0;

  // Customers that keep the freeze from lifting: every one not settled on
  // the target.
  int64_t on_source() const {
    return source_stable + source_migrating + target_migrating;
  }
  // Customers that have started moving (or moved).
  int64_t started_moving() const {
    return source_migrating + target_stable + target_migrating;
  }
  // Every customer with a route.
  int64_t total() const {
    return source_stable + source_migrating + target_stable + target_migrating;
  }
};

}  // namespace tandem::router
