// RouteStore over the control database (MySQL/MariaDB).
//
// Revisions come from a one-row counter that every mutation increments
// inside its transaction; its row lock makes commit order equal revision
// order, so a reader polling `route_changes` for revisions above the last
// one it saw never skips a change.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/mysql_pool.h"
#include "common/schema_migrations.h"
#include "router/route_store.h"

namespace tandem::router {

// The router's control tables.
const std::vector<SchemaMigration>& RouterSchemaMigrations();

class MysqlRouteStore final : public RouteStore {
 public:
  // Applies the router's schema migrations and returns the store.
  static absl::StatusOr<std::unique_ptr<MysqlRouteStore>> Create(
      MysqlPool* pool);

  absl::Status LoadSnapshot(RouteTable& table) override;
  absl::StatusOr<std::vector<RouteChange>> ChangesSince(int64_t after,
                                                        int limit) override;
  absl::StatusOr<RouteChange> SetRoute(
      const ::tandem::router::v1::SetRouteRequest& request,
      const Actor& actor) override;
  absl::StatusOr<RouteChange> PutKeys(int64_t customer_id,
                                      const std::vector<Key>& keys,
                                      const Actor& actor) override;
  absl::StatusOr<RouteChange> DeleteKeys(int64_t customer_id,
                                         const std::vector<Key>& keys,
                                         const Actor& actor) override;
  absl::Status Import(
      ::tandem::common::v1::System system,
      const std::vector<::tandem::router::v1::ImportedCustomer>& customers,
      const Actor& actor,
      ::tandem::router::v1::ImportRoutesResponse* response) override;
  absl::StatusOr<std::vector<Route>> ListRoutes(const RouteFilter& filter,
                                                int64_t after_customer_id,
                                                int limit) override;
  absl::StatusOr<::tandem::router::v1::GetRouteResponse> GetRoute(
      int64_t customer_id) override;
  absl::StatusOr<RouteChange> SetDefaultSystem(
      ::tandem::common::v1::System system, const Actor& actor) override;
  absl::StatusOr<::tandem::router::v1::GetDefaultSystemResponse>
  GetDefaultSystem() override;
  absl::StatusOr<int64_t> PruneChanges(int64_t created_before_ms,
                                       int64_t revision_at_most) override;
  absl::StatusOr<std::vector<RouteChange>> ExpireLeases(const Actor& actor,
                                                        int limit) override;

 private:
  explicit MysqlRouteStore(MysqlPool* pool) : pool_(pool) {}

  // Updates the locked route `current` to (system, state) under the next
  // revision and appends the change to the log, in the caller's transaction.
  static absl::StatusOr<RouteChange> WriteRouteChange(
      sql::Connection& conn, const Route& current,
      ::tandem::common::v1::System system, RouteState state,
      int64_t lease_deadline_ms, const Actor& actor);
  MysqlPool* pool_;
};

}  // namespace tandem::router
