// How the catalog asks the router how many customers are where.
#pragma once

#include <functional>

#include "absl/status/statusor.h"
#include "router/route_counts.h"

namespace tandem::catalog {

// How many customers are where, as the router last reported
// (router/route_counts.h is the one definition).
using RouteCounts = ::tandem::router::RouteCounts;

// Asks the router for fresh counts; UNAVAILABLE when it cannot be reached.
using RouteCountsFn = std::function<absl::StatusOr<RouteCounts>()>;

}  // namespace tandem::catalog
