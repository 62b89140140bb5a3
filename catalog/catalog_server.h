// One catalog replica, assembled: the control and billing database pools,
// the router watcher, the catalog, the service, the gRPC server and metrics.
// main() and the tests both use it.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "catalog/catalog.h"
#include "catalog/catalog_service.h"
#include "catalog/mysql_billing_catalog.h"
#include "catalog/router_watcher.h"
#include "common/mysql_pool.h"
#include "common/server_frame.h"

namespace tandem::catalog {

struct CatalogServerOptions {
  std::string grpc_address = "127.0.0.1:0";
  // Empty: no metrics endpoint (tests); otherwise host:port.
  std::string metrics_address;
  std::string tls_cert_file;
  std::string tls_key_file;
  // The catalog's own tables.
  MysqlOptions control_db;
  // The billing databases (schema v1 and v2).
  MysqlOptions source_db;
  MysqlOptions target_db;
  // Contents of the tokens file (see common/auth.h).
  std::string tokens;
  // The router, and the token the catalog presents to it.
  std::string router_address;
  std::string router_token;
  absl::Duration router_poll_interval = absl::Seconds(2);
  // How often products are re-read from the billing databases (drift
  // detection, products created through the proxy); zero turns it off.
  absl::Duration refresh_interval = absl::Seconds(60);
  CatalogOptions catalog;
  int worker_threads = 8;
};

class CatalogServer {
 public:
  // Connects to the databases, applies the schema, reads the products once
  // if the catalog has none, and starts serving. Health of
  // "tandem.catalog.v1.CatalogService" follows the control database.
  static absl::StatusOr<std::unique_ptr<CatalogServer>> Start(
      CatalogServerOptions options);

  // Same as Shutdown(5 s).
  ~CatalogServer();

  // Closes WatchFreeze streams, stops accepting calls and drains the rest
  // for up to `grace`. Idempotent.
  void Shutdown(absl::Duration grace);

  int port() const { return frame_->port(); }
  int metrics_port() const { return frame_->metrics_port(); }
  Catalog& catalog() { return *catalog_; }
  prometheus::Registry& registry() { return frame_->registry(); }

 private:
  CatalogServer() = default;
  // The control and billing database pools and the billing adapters.
  absl::Status StartDatabases(CatalogServerOptions& options);
  void RefreshLoop(absl::Duration interval, Clock& clock);

  // First: its registry outlives everything that registered metrics in it.
  std::unique_ptr<ServerFrame> frame_;
  std::unique_ptr<MysqlPool> control_pool_;
  std::unique_ptr<MysqlPool> source_pool_;
  std::unique_ptr<MysqlPool> target_pool_;
  std::unique_ptr<MysqlBillingCatalog> source_;
  std::unique_ptr<MysqlBillingCatalog> target_;
  std::unique_ptr<RouterWatcher> router_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<CatalogServiceImpl> service_;
  absl::Mutex refresh_mu_;
  bool stopping_ ABSL_GUARDED_BY(refresh_mu_) = false;
  std::thread refresher_;
  bool shut_down_ = false;
};

// The health-service name of the catalog.
inline constexpr char kCatalogHealthService[] =
    "tandem.catalog.v1.CatalogService";

}  // namespace tandem::catalog
