// One router replica, assembled: database pool, store, table, change feed,
// service, gRPC server and metrics. main() and the tests both use it.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/mysql_pool.h"
#include "common/server_frame.h"
#include "router/change_feed.h"
#include "router/import_source.h"
#include "router/lease_reaper.h"
#include "router/mysql_route_store.h"
#include "router/route_table.h"
#include "router/router_service.h"

namespace tandem::router {

struct RouterServerOptions {
  std::string grpc_address = "127.0.0.1:0";
  // Empty: no metrics endpoint (tests); otherwise host:port.
  std::string metrics_address;
  std::string tls_cert_file;
  std::string tls_key_file;
  MysqlOptions db;
  // Contents of the tokens file (see common/auth.h).
  std::string tokens;
  // Contents of the import config (see router/import_source.h); may be empty.
  std::string import_config;
  ChangeFeedOptions feed;
  LeaseReaperOptions leases;
  int worker_threads = 8;
  // Measures everything the replica waits for, expires or measures (the
  // feed's polls and pruning, the lease reaper's passes); null:
  // Clock::Real(). Leases themselves are measured by the database's clock.
  Clock* clock = nullptr;
};

class RouterServer {
 public:
  // Connects to the database, applies the schema, loads the table and
  // starts serving. Health of "tandem.router.v1.RouterService" is SERVING
  // once loaded and follows the database pool afterwards.
  static absl::StatusOr<std::unique_ptr<RouterServer>> Start(
      RouterServerOptions options);

  // Same as Shutdown(5 s).
  ~RouterServer();

  // Closes Watch streams (clients move on), stops accepting calls, drains
  // the rest for up to `grace`, then stops the feed. Idempotent.
  void Shutdown(absl::Duration grace);

  int port() const { return frame_->port(); }
  int metrics_port() const { return frame_->metrics_port(); }
  RouteTable& table() { return table_; }
  ChangeFeed& feed() { return *feed_; }
  prometheus::Registry& registry() { return frame_->registry(); }

 private:
  RouterServer() = default;

  // First: its registry outlives everything that registered metrics in it.
  std::unique_ptr<ServerFrame> frame_;
  std::unique_ptr<MysqlPool> pool_;
  std::unique_ptr<MysqlRouteStore> store_;
  RouteTable table_;
  std::unique_ptr<ChangeFeed> feed_;
  std::unique_ptr<LeaseReaper> reaper_;
  std::unique_ptr<RouterServiceImpl> service_;
  bool shut_down_ = false;
};

// The health-service name of the router.
inline constexpr char kRouterHealthService[] = "tandem.router.v1.RouterService";

}  // namespace tandem::router
