// The migrator's collaborators behind narrow interfaces: the router (the
// customer's route, compare-and-set with a lease) and the catalog (the
// freeze and the customer's plan). The gRPC implementations are in
// grpc_clients.h; tests use fakes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tandem/catalog/v1/catalog.pb.h"
#include "tandem/router/v1/router.pb.h"

namespace tandem::migrator {

class RouteClient {
 public:
  virtual ~RouteClient() = default;
  // The customer's route as stored; NOT_FOUND without one.
  virtual absl::StatusOr<::tandem::router::v1::Route> GetRoute(
      int64_t customer_id) = 0;
  // A compare-and-set of the route (see SetRouteRequest); returns the route
  // after it.
  virtual absl::StatusOr<::tandem::router::v1::Route> SetRoute(
      const ::tandem::router::v1::SetRouteRequest& request) = 0;
};

class PlanClient {
 public:
  virtual ~PlanClient() = default;
  virtual absl::StatusOr<::tandem::catalog::v1::FreezeState> GetFreeze() = 0;
  // The customer's plan for `direction` (MOVE or ROLLBACK).
  virtual absl::StatusOr<::tandem::catalog::v1::CustomerPlan> PlanCustomer(
      int64_t customer_id, ::tandem::common::v1::Direction direction) = 0;
};

}  // namespace tandem::migrator
