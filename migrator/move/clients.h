// The migrator's collaborators behind narrow interfaces: the router (the
// customer's route, compare-and-set with a lease) and the catalog (the
// freeze and the customer's plan). The gRPC implementations are in
// grpc_clients.h; tests use fakes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

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
  // The routes of many customers at once (those without one are absent).
  // The default asks GetRoute for each.
  virtual absl::StatusOr<std::map<int64_t, ::tandem::router::v1::Route>>
  LookupRoutes(const std::vector<int64_t>& customer_ids) {
    std::map<int64_t, ::tandem::router::v1::Route> out;
    for (int64_t id : customer_ids) {
      absl::StatusOr<::tandem::router::v1::Route> r = GetRoute(id);
      if (r.ok()) {
        out[id] = *std::move(r);
      } else if (r.status().code() != absl::StatusCode::kNotFound) {
        return r.status();
      }
    }
    return out;
  }
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
