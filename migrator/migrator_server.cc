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
  options.control_db.name = "control";
  options.source_db.name = "source";
  options.target_db.name = "target";
  // Each worker holds up to copy_connections + 1 connections of a billing
  // server at once (the parallel writes of its copy and its fence, or its
  // snapshot read); the tail, the sentinel and the load probe one each.
  // Fewer, and workers wait for connections until they fail.
  const int needed = std::max(0, options.backend.parallelism) *
                         (std::max(1, options.mover.copy_connections) + 1) +
                     3;
  options.source_db.pool_size = std::max(options.source_db.pool_size, needed);
  options.target_db.pool_size = std::max(options.target_db.pool_size, needed);
  // The control database: each worker's item updates and lease renewals,
  // and the loop's claims, the governor and the RPCs.
  options.control_db.pool_size =
      std::max(options.control_db.pool_size,
               std::max(0, options.backend.parallelism) + 4);
  TANDEM_ASSIGN_OR_RETURN(
      s->control_,
      MysqlPool::Create(options.control_db, s->registry_.get(), "migrator"));
  TANDEM_ASSIGN_OR_RETURN(
      s->source_,
      MysqlPool::Create(options.source_db, s->registry_.get(), "migrator"));
  TANDEM_ASSIGN_OR_RETURN(
      s->target_,
      MysqlPool::Create(options.target_db, s->registry_.get(), "migrator"));
  TANDEM_ASSIGN_OR_RETURN(
      s->schemas_[kSourceSide],
      LiveSchema::Read(*s->source_, options.source_db.database));
  TANDEM_ASSIGN_OR_RETURN(
      s->schemas_[kTargetSide],
      LiveSchema::Read(*s->target_, options.target_db.database));
  const LiveSchema* schemas[2] = {&s->schemas_[0], &s->schemas_[1]};
  s->issues_ = CheckMapping(s->mapping_, schemas);
  for (const SchemaIssue& issue : s->issues_) {
    ::tandem::LogLine(issue.error ? LogLevel::kError : LogLevel::kWarning,
                      "mapping_issue")
        .With("location", issue.location)
        .With("table", issue.table)
        .With("column", issue.column)
        .With("message", issue.message);
  }
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
  TANDEM_ASSIGN_OR_RETURN(s->store_, MysqlMoveStore::Create(s->control_.get()));
  s->batches_ = std::make_unique<MysqlBatchStore>(s->control_.get());
  s->batch_metrics_ = std::make_unique<BatchMetrics>(s->registry_.get());
  s->probe_ = NewMysqlLoadProbe(s->dbs_[kSourceSide].get(), &s->mapping_);
  options.governor.worker = options.backend.worker;
  s->governor_ =
      std::make_unique<Governor>(s->batches_.get(), s->probe_.get(),
                                 s->batch_metrics_.get(), options.governor);
  s->watch_ = std::make_unique<BatchWatchHub>(s->batches_.get());
  s->mover_metrics_ = std::make_unique<MoverMetrics>(s->registry_.get());
  MoverDeps deps;
  deps.mapping = &s->mapping_;
  deps.schemas[0] = &s->schemas_[0];
  deps.schemas[1] = &s->schemas_[1];
  deps.dbs[0] = s->dbs_[0].get();
  deps.dbs[1] = s->dbs_[1].get();
  deps.router = router;
  deps.catalog = catalog;
  deps.store = s->store_.get();
  deps.control = s->governor_.get();
  deps.clock = &Clock::Real();
  deps.metrics = s->mover_metrics_.get();
  s->mover_ = std::make_unique<Mover>(deps, options.mover);
  options.backend.tail_interval = options.mover.tail_interval;
  BillingDb* const dbs[2] = {s->dbs_[0].get(), s->dbs_[1].get()};
  s->backend_ = std::make_unique<Backend>(s->store_.get(), s->mover_.get(),
                                          options.backend, Clock::Real(),
                                          s->governor_.get(), dbs);
  if (!HasErrors(s->issues_)) s->backend_->Start();
  s->workers_ = std::make_unique<WorkerPool>(options.worker_threads);
  ServiceDeps service;
  service.mapping = &s->mapping_;
  service.mapping_issues = s->issues_;
  service.mapping_loaded_at_ms = absl::ToUnixMillis(absl::Now());
  service.store = s->store_.get();
  service.batches = s->batches_.get();
  service.selector.mapping = &s->mapping_;
  service.selector.dbs[0] = s->dbs_[0].get();
  service.selector.dbs[1] = s->dbs_[1].get();
  service.selector.router = router;
  service.selector.store = s->batches_.get();
  service.watch = s->watch_.get();
  service.backend = s->backend_.get();
  service.mover = s->mover_.get();
  service.router = router;
  service.catalog = catalog;
  service.auth = s->auth_.get();
  service.workers = s->workers_.get();
  service.registry = s->registry_.get();
  s->service_ = std::make_unique<MigratorServiceImpl>(std::move(service));
  GrpcServerOptions grpc_options;
  grpc_options.address = options.grpc_address;
  grpc_options.tls_cert_file = options.tls_cert_file;
  grpc_options.tls_key_file = options.tls_key_file;
  grpc_options.registry = s->registry_;
  grpc_options.health_services = {kMigratorHealthService};
  TANDEM_ASSIGN_OR_RETURN(s->grpc_,
                          GrpcServer::Start(grpc_options, {s->service_.get()}));
  const bool usable = !HasErrors(s->issues_);
  s->grpc_->SetServing(kMigratorHealthService,
                       usable && s->control_->healthy());
  GrpcServer* grpc = s->grpc_.get();
  s->control_->SetHealthListener([grpc, usable](bool healthy) {
    grpc->SetServing(kMigratorHealthService, usable && healthy);
  });
  TANDEM_LOG(Info, "migrator_serving")
      .With("port", s->grpc_->port())
      .With("metrics_port", s->metrics_port())
      .With("mapping", s->mapping_.path())
      .With("mapping_digest", s->mapping_.digest())
      .With("mapping_valid", usable);
  return s;
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
