#include "router/transitions.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace tandem::router {

using ::tandem::common::v1::System;
using ::tandem::router::v1::RouteState;

std::string RouteStateName(System system, RouteState state) {
  absl::string_view s = system == ::tandem::common::v1::SYSTEM_SOURCE ? "SOURCE"
                        : system == ::tandem::common::v1::SYSTEM_TARGET
                            ? "TARGET"
                            : "UNSPECIFIED";
  absl::string_view t =
      state == ::tandem::router::v1::ROUTE_STATE_STABLE      ? "STABLE"
      : state == ::tandem::router::v1::ROUTE_STATE_MIGRATING ? "MIGRATING"
                                                             : "UNSPECIFIED";
  return absl::StrCat(s, "/", t);
}

absl::Status CheckTransition(System from_system, RouteState from_state,
                             System to_system, RouteState to_state,
                             int64_t lease_ms) {
  using ::tandem::common::v1::SYSTEM_SOURCE;
  using ::tandem::common::v1::SYSTEM_TARGET;
  using ::tandem::router::v1::ROUTE_STATE_MIGRATING;
  using ::tandem::router::v1::ROUTE_STATE_STABLE;
  if ((to_system != SYSTEM_SOURCE && to_system != SYSTEM_TARGET) ||
      (to_state != ROUTE_STATE_STABLE && to_state != ROUTE_STATE_MIGRATING)) {
    return absl::InvalidArgumentError(
        "system must be SOURCE or TARGET and state STABLE or MIGRATING");
  }
  if (lease_ms < 0) {
    return absl::InvalidArgumentError("lease_ms must not be negative");
  }
  if (lease_ms > 0 && to_state != ROUTE_STATE_MIGRATING) {
    return absl::InvalidArgumentError(
        "lease_ms applies only to a change into MIGRATING");
  }
  bool legal = false;
  if (from_state == ROUTE_STATE_STABLE) {
    // Start a move or a rollback: same system, now migrating.
    legal = to_system == from_system && to_state == ROUTE_STATE_MIGRATING;
  } else if (from_state == ROUTE_STATE_MIGRATING) {
    // Finish (flip to the other system) or abort (stay), stable either way;
    // or stay migrating on the same system to renew the lease.
    legal = to_state == ROUTE_STATE_STABLE ||
            (to_system == from_system && lease_ms > 0);
  }
  if (!legal) {
    return absl::FailedPreconditionError(absl::StrCat(
        "illegal route transition ", RouteStateName(from_system, from_state),
        " -> ", RouteStateName(to_system, to_state)));
  }
  return absl::OkStatus();
}

}  // namespace tandem::router
