// Where routes, keys and the change log live. The router's only durable
// state; every mutation is one transaction that also appends its change to
// the log under the next revision.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "router/route_table.h"
#include "tandem/router/v1/router.pb.h"

namespace tandem::router {

// Who asks for a mutation, and why.
struct Actor {
  std::string name;
  std::string reason;
};

struct RouteFilter {
  ::tandem::common::v1::System system =
      ::tandem::common::v1::SYSTEM_UNSPECIFIED;
  RouteState state = ::tandem::router::v1::ROUTE_STATE_UNSPECIFIED;
};

class RouteStore {
 public:
  virtual ~RouteStore() = default;

  // Fills `table` (which must be empty) with the state as of one revision,
  // and sets the table's revision to it.
  virtual absl::Status LoadSnapshot(RouteTable& table) = 0;

  // Returns up to `limit` changes with revision > `after`, in order.
  virtual absl::StatusOr<std::vector<RouteChange>> ChangesSince(int64_t after,
                                                                int limit) = 0;

  // Compare-and-set of one route (see SetRouteRequest for the rules).
  // Returns the committed change, or for a retry of a request whose change
  // is still the route's latest, the change as first answered with revision
  // 0 (nothing changed now). A retry whose change something else has
  // overtaken since is a new request: it meets the compare-and-set.
  virtual absl::StatusOr<RouteChange> SetRoute(
      const ::tandem::router::v1::SetRouteRequest& request,
      const Actor& actor) = 0;

  // Adds keys to a customer; revision 0 in the result means nothing changed.
  virtual absl::StatusOr<RouteChange> PutKeys(int64_t customer_id,
                                              const std::vector<Key>& keys,
                                              const Actor& actor) = 0;

  // Removes keys the customer owns; others are ignored.
  virtual absl::StatusOr<RouteChange> DeleteKeys(int64_t customer_id,
                                                 const std::vector<Key>& keys,
                                                 const Actor& actor) = 0;

  // Creates missing routes on `system` and adds missing keys, in chunks,
  // each chunk one transaction. Fills the counters of `response`.
  virtual absl::Status Import(
      ::tandem::common::v1::System system,
      const std::vector<::tandem::router::v1::ImportedCustomer>& customers,
      const Actor& actor,
      ::tandem::router::v1::ImportRoutesResponse* response) = 0;

  // Pages through routes in customer id order, after `after_customer_id`.
  virtual absl::StatusOr<std::vector<Route>> ListRoutes(
      const RouteFilter& filter, int64_t after_customer_id, int limit) = 0;

  // Returns the customer's route and keys; NOT_FOUND without a route.
  virtual absl::StatusOr<::tandem::router::v1::GetRouteResponse> GetRoute(
      int64_t customer_id) = 0;

  // Sets the default system; revision 0 in the result means it already was.
  virtual absl::StatusOr<RouteChange> SetDefaultSystem(
      ::tandem::common::v1::System system, const Actor& actor) = 0;

  // Deletes logged changes created before `created_before_ms` whose revision
  // is at most `revision_at_most`, in small batches, and the request records
  // made before `created_before_ms`; returns how many changes it deleted.
  virtual absl::StatusOr<int64_t> PruneChanges(int64_t created_before_ms,
                                               int64_t revision_at_most) = 0;

  // Aborts every move whose lease has run out by the database's clock (at
  // most `limit` of them): MIGRATING -> STABLE on the same system, one
  // compare-and-set transaction each, so a route renewed, flipped or aborted
  // meanwhile is left alone, and several replicas may run this at once.
  // Returns the committed changes.
  virtual absl::StatusOr<std::vector<RouteChange>> ExpireLeases(
      const Actor& actor, int limit) = 0;

  // The default system and who set it.
  virtual absl::StatusOr<::tandem::router::v1::GetDefaultSystemResponse>
  GetDefaultSystem() = 0;
};

}  // namespace tandem::router
