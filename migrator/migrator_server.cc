#include "migrator/migrator_server.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "migrator/move/grpc_clients.h"

namespace tandem::migrator {

absl::StatusOr<std::unique_ptr<MigratorServer>> MigratorServer::Start(
    MigratorServerOptions options) {
  std::unique_ptr<MigratorServer> s(new MigratorServer());
  s->registry_ = std::make_shared<prometheus::Registry>();
  if (!options.metrics_address.empty()) {
    TANDEM_ASSIGN_OR_RETURN(
        s->metrics_,
        MetricsExposer::Start(options.metrics_address, s->registry_));
  }
  TANDEM_ASSIGN_OR_RETURN(s->auth_,
                          TokenAuthenticator::FromString(options.tokens));
  s->auth_->RegisterMetrics(*s->registry_, "migrator");
  TANDEM_ASSIGN_OR_RETURN(s->mapping_, Mapping::Load(options.mapping_file));
  TANDEM_RETURN_IF_ERROR(s->OpenDatabases(options));
  s->CheckMappingAgainstSchemas();
  s->dbs_[kSourceSide] = std::make_unique<BillingDb>(
      s->source_.get(), options.source_db.database, &s->schemas_[0],
      &s->mapping_, kSourceSide, options.bookkeeping_db);
  s->dbs_[kTargetSide] = std::make_unique<BillingDb>(
      s->target_.get(), options.target_db.database, &s->schemas_[1],
      &s->mapping_, kTargetSide, options.bookkeeping_db);
  for (auto& db : s->dbs_) TANDEM_RETURN_IF_ERROR(db->EnsureBookkeeping());
  if (options.router_override == nullptr) {
    s->router_ =
        NewGrpcRouteClient(options.router_address, options.router_token);
  }
  if (options.catalog_override == nullptr) {
    s->catalog_ =
        NewGrpcPlanClient(options.catalog_address, options.catalog_token);
  }
  RouteClient* router =
      options.router_override ? options.router_override : s->router_.get();
  PlanClient* catalog =
      options.catalog_override ? options.catalog_override : s->catalog_.get();
  TANDEM_RETURN_IF_ERROR(s->StartMoving(options, router, catalog));
  TANDEM_RETURN_IF_ERROR(s->StartServing(options, router, catalog));
  return s;
}

absl::Status MigratorServer::OpenDatabases(MigratorServerOptions& options) {
  options.control_db.name = "control";
  options.source_db.name = "source";
  options.target_db.name = "target";
  // Each worker holds up to copy_connections + 1 connections of a billing
  // server at once (the parallel writes of its copy and its fence, or its
  // snapshot read); each tail thread, the sentinel and the load probe one
  // each. Fewer, and workers wait for connections until they fail.
  const int tail_threads = std::max(1, options.backend.tail_threads);
  const int needed = std::max(0, options.backend.parallelism) *
                         (std::max(1, options.mover.copy_connections) + 1) +
                     tail_threads + 2;
  options.source_db.pool_size = std::max(options.source_db.pool_size, needed);
  options.target_db.pool_size = std::max(options.target_db.pool_size, needed);
  // The control database: each worker's and tail thread's item updates,
  // and the loop's claims and lease renewals, the governor and the RPCs.
  options.control_db.pool_size =
      std::max(options.control_db.pool_size,
               std::max(0, options.backend.parallelism) + tail_threads + 4);
  TANDEM_ASSIGN_OR_RETURN(
      control_,
      MysqlPool::Create(options.control_db, registry_.get(), "migrator"));
  TANDEM_ASSIGN_OR_RETURN(
      source_,
      MysqlPool::Create(options.source_db, registry_.get(), "migrator"));
  TANDEM_ASSIGN_OR_RETURN(
      target_,
      MysqlPool::Create(options.target_db, registry_.get(), "migrator"));
  TANDEM_ASSIGN_OR_RETURN(
      schemas_[kSourceSide],
      LiveSchema::Read(*source_, options.source_db.database));
  TANDEM_ASSIGN_OR_RETURN(
      schemas_[kTargetSide],
      LiveSchema::Read(*target_, options.target_db.database));
  return absl::OkStatus();
}

void MigratorServer::CheckMappingAgainstSchemas() {
  const LiveSchema* schemas[2] = {&schemas_[0], &schemas_[1]};
  issues_ = CheckMapping(mapping_, schemas);
  for (const SchemaIssue& issue : issues_) {
    ::tandem::LogLine(issue.error ? LogLevel::kError : LogLevel::kWarning,
                      "mapping_issue")
        .With("location", issue.location)
        .With("table", issue.table)
        .With("column", issue.column)
        .With("message", issue.message);
  }
}

absl::Status MigratorServer::StartMoving(MigratorServerOptions& options,
                                         RouteClient* router,
                                         PlanClient* catalog) {
  TANDEM_ASSIGN_OR_RETURN(store_, MysqlMoveStore::Create(control_.get()));
  batches_ = std::make_unique<MysqlBatchStore>(control_.get());
  batch_metrics_ = std::make_unique<BatchMetrics>(registry_.get());
  probe_ = NewMysqlLoadProbe(dbs_[kSourceSide].get(), &mapping_);
  options.governor.worker = options.backend.worker;
  governor_ = std::make_unique<Governor>(
      batches_.get(), probe_.get(), batch_metrics_.get(), options.governor);
  watch_ = std::make_unique<BatchWatchHub>(batches_.get());
  mover_metrics_ = std::make_unique<MoverMetrics>(registry_.get());
  MoverDeps deps;
  deps.mapping = &mapping_;
  deps.schemas[0] = &schemas_[0];
  deps.schemas[1] = &schemas_[1];
  deps.dbs[0] = dbs_[0].get();
  deps.dbs[1] = dbs_[1].get();
  deps.router = router;
  deps.catalog = catalog;
  deps.store = store_.get();
  deps.control = governor_.get();
  deps.clock = &Clock::Real();
  deps.metrics = mover_metrics_.get();
  mover_ = std::make_unique<Mover>(deps, options.mover);
  options.backend.tail_interval = options.mover.tail_interval;
  BillingDb* const dbs[2] = {dbs_[0].get(), dbs_[1].get()};
  backend_ =
      std::make_unique<Backend>(store_.get(), mover_.get(), options.backend,
                                Clock::Real(), governor_.get(), dbs);
  // A mapping with errors moves nobody; the service says why.
  if (!HasErrors(issues_)) backend_->Start();
  return absl::OkStatus();
}

absl::Status MigratorServer::StartServing(const MigratorServerOptions& options,
                                          RouteClient* router,
                                          PlanClient* catalog) {
  workers_ = std::make_unique<WorkerPool>(options.worker_threads);
  ServiceDeps service;
  service.mapping = &mapping_;
  service.mapping_issues = issues_;
  service.mapping_loaded_at_ms = absl::ToUnixMillis(absl::Now());
  service.store = store_.get();
  service.batches = batches_.get();
  service.selector.mapping = &mapping_;
  service.selector.dbs[0] = dbs_[0].get();
  service.selector.dbs[1] = dbs_[1].get();
  service.selector.router = router;
  service.selector.store = batches_.get();
  service.watch = watch_.get();
  service.backend = backend_.get();
  service.mover = mover_.get();
  service.router = router;
  service.catalog = catalog;
  service.auth = auth_.get();
  service.workers = workers_.get();
  service.registry = registry_.get();
  service_ = std::make_unique<MigratorServiceImpl>(std::move(service));
  GrpcServerOptions grpc_options;
  grpc_options.address = options.grpc_address;
  grpc_options.tls_cert_file = options.tls_cert_file;
  grpc_options.tls_key_file = options.tls_key_file;
  grpc_options.registry = registry_;
  grpc_options.health_services = {kMigratorHealthService};
  TANDEM_ASSIGN_OR_RETURN(grpc_,
                          GrpcServer::Start(grpc_options, {service_.get()}));
  const bool usable = !HasErrors(issues_);
  grpc_->SetServing(kMigratorHealthService, usable && control_->healthy());
  GrpcServer* grpc = grpc_.get();
  control_->SetHealthListener([grpc, usable](bool healthy) {
    grpc->SetServing(kMigratorHealthService, usable && healthy);
  });
  TANDEM_LOG(Info, "migrator_serving")
      .With("port", grpc_->port())
      .With("metrics_port", metrics_port())
      .With("mapping", mapping_.path())
      .With("mapping_digest", mapping_.digest())
      .With("mapping_valid", usable);
  return absl::OkStatus();
}

MigratorServer::~MigratorServer() { Shutdown(absl::Seconds(5)); }

void MigratorServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  if (control_ != nullptr) control_->SetHealthListener(nullptr);
  if (backend_ != nullptr) backend_->Stop(grace);
  if (watch_ != nullptr) watch_->Shutdown();
  if (grpc_ != nullptr) grpc_->Shutdown(grace);
  workers_.reset();
}

}  // namespace tandem::migrator
