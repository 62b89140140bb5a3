// The legal moves of a route (design brief, "Route states").
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "tandem/router/v1/router.pb.h"

namespace tandem::router {

// Returns OK when a route may go from (from_system, from_state) to
// (to_system, to_state) in one compare-and-set, FAILED_PRECONDITION naming
// both ends otherwise, and INVALID_ARGUMENT for an unspecified target, a
// negative lease, or a lease on a change into STABLE. A MIGRATING route may
// stay MIGRATING on its system only to renew its lease (`lease_ms` > 0).
absl::Status CheckTransition(::tandem::common::v1::System from_system,
                             ::tandem::router::v1::RouteState from_state,
                             ::tandem::common::v1::System to_system,
                             ::tandem::router::v1::RouteState to_state,
                             int64_t lease_ms = 0);

// "SOURCE/STABLE" and the like, for messages and logs.
std::string RouteStateName(::tandem::common::v1::System system,
                           ::tandem::router::v1::RouteState state);

}  // namespace tandem::router
