// One migrator replica, assembled: the mapping (loaded and checked against
// both live schemas), the three database pools, the router and catalog
// clients, the store, the mover, the back end, the service, the gRPC server
// and metrics. main() and the tests both use it.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/auth.h"
#include "common/grpc_server.h"
#include "common/metrics.h"
#include "common/mysql_pool.h"
#include "common/worker_pool.h"
#include "migrator/batch/batch_metrics.h"
#include "migrator/batch/batch_watch.h"
#include "migrator/batch/governor.h"
#include "migrator/batch/mysql_batch_store.h"
#include "migrator/engine/billing_db.h"
#include "migrator/mapping/live_schema.h"
#include "migrator/mapping/mapping.h"
#include "migrator/migrator_service.h"
#include "migrator/move/backend.h"
#include "migrator/move/clients.h"
#include "migrator/move/mover.h"
#include "migrator/move/mysql_move_store.h"

namespace tandem::migrator {

struct MigratorServerOptions {
  std::string grpc_address = "127.0.0.1:0";
  // Empty: no metrics endpoint (tests); otherwise host:port.
  std::string metrics_address;
  std::string tls_cert_file;
  std::string tls_key_file;
  MysqlOptions control_db;
  MysqlOptions source_db;
  MysqlOptions target_db;
  // The migrator's own database on each billing server (id map, tail marks).
  std::string bookkeeping_db = "tandem_migrator";
  // The mapping file's path.
  std::string mapping_file;
  // Contents of the tokens file (see common/auth.h).
  std::string tokens;
  std::string router_address;
  std::string router_token;
  std::string catalog_address;
  std::string catalog_token;
  BackendOptions backend;
  MoverOptions mover;
  GovernorOptions governor;
  int worker_threads = 8;
  // Test hooks: collaborators to use instead of gRPC clients.
  RouteClient* router_override = nullptr;
  PlanClient* catalog_override = nullptr;
};

class MigratorServer {
 public:
  // Loads the mapping, connects, checks the mapping against both schemas
  // (an invalid mapping still starts, to report itself through GetMapping
  // and health NOT_SERVING, but moves nothing), applies the control schema
  // and starts serving and working.
  static absl::StatusOr<std::unique_ptr<MigratorServer>> Start(
      MigratorServerOptions options);
  ~MigratorServer();

  // Stops the back end (customers in a cutover finish it), then the server.
  void Shutdown(absl::Duration grace);

  int port() const { return grpc_->port(); }
  int metrics_port() const { return metrics_ ? metrics_->port() : 0; }
  prometheus::Registry& registry() { return *registry_; }
  const std::vector<SchemaIssue>& mapping_issues() const { return issues_; }
  Mover& mover() { return *mover_; }
  Backend& backend() { return *backend_; }
  MoveStore& store() { return *store_; }
  BatchStore& batches() { return *batches_; }
  Governor& governor() { return *governor_; }
  // The billing databases (by SchemaSide).
  BillingDb& db(SchemaSide side) { return *dbs_[side]; }

 private:
  MigratorServer() = default;

  // Start's steps, in order: the three pools (sized for the workers) and
  // both live schemas; the mapping checked against them; the stores, the
  // governor, the mover and its back end; the gRPC service and server.
  absl::Status OpenDatabases(MigratorServerOptions& options);
  void CheckMappingAgainstSchemas();
  absl::Status StartMoving(MigratorServerOptions& options, RouteClient* router,
                           PlanClient* catalog);
  absl::Status StartServing(const MigratorServerOptions& options,
                            RouteClient* router, PlanClient* catalog);

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<MetricsExposer> metrics_;
  std::unique_ptr<TokenAuthenticator> auth_;
  Mapping mapping_;
  std::vector<SchemaIssue> issues_;
  std::unique_ptr<MysqlPool> control_, source_, target_;
  LiveSchema schemas_[2];
  std::unique_ptr<BillingDb> dbs_[2];
  std::unique_ptr<RouteClient> router_;
  std::unique_ptr<PlanClient> catalog_;
  std::unique_ptr<MysqlMoveStore> store_;
  std::unique_ptr<MysqlBatchStore> batches_;
  std::unique_ptr<BatchMetrics> batch_metrics_;
  std::unique_ptr<LoadProbe> probe_;
  std::unique_ptr<Governor> governor_;
  std::unique_ptr<BatchWatchHub> watch_;
  std::unique_ptr<MoverMetrics> mover_metrics_;
  std::unique_ptr<Mover> mover_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<WorkerPool> workers_;
  std::unique_ptr<MigratorServiceImpl> service_;
  std::unique_ptr<GrpcServer> grpc_;
  bool shut_down_ = false;
};

}  // namespace tandem::migrator
