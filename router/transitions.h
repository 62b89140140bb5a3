// The legal moves of a route (design brief, "Route states").
#pragma once

#include "absl/status/status.h"
#include "tandem/router/v1/router.pb.h"

namespace tandem::router {

// Returns OK when a route may go from (from_system, from_state) to
// (to_system, to_state) in one compare-and-set, FAILED_PRECONDITION naming
// both ends otherwise, and INVALID_ARGUMENT for an unspecified target.
absl::Status CheckTransition(::tandem::common::v1::System from_system,
                             ::tandem::router::v1::RouteState from_state,
                             ::tandem::common::v1::System to_system,
                             ::tandem::router::v1::RouteState to_state);

// "SOURCE/STABLE" and the like, for messages and logs.
std::string RouteStateName(::tandem::common::v1::System system,
                           ::tandem::router::v1::RouteState state);

}  // namespace tandem::router
