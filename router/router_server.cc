#include "router/router_server.h"

#include <malloc.h>

#include "common/log.h"
#include "common/status_macros.h"

namespace tandem::router {

absl::StatusOr<std::unique_ptr<RouterServer>> RouterServer::Start(
    RouterServerOptions options) {
  std::unique_ptr<RouterServer> server(new RouterServer());
  server->registry_ = std::make_shared<prometheus::Registry>();
  if (!options.metrics_address.empty()) {
    TANDEM_ASSIGN_OR_RETURN(
        server->metrics_,
        MetricsExposer::Start(options.metrics_address, server->registry_));
  }
  TANDEM_ASSIGN_OR_RETURN(server->auth_,
                          TokenAuthenticator::FromString(options.tokens));
  server->auth_->RegisterMetrics(*server->registry_, "router");
  std::map<std::string, ImportQuery> imports;
  if (!options.import_config.empty()) {
    TANDEM_ASSIGN_OR_RETURN(imports, ParseImportConfig(options.import_config));
  }
  TANDEM_ASSIGN_OR_RETURN(
      server->pool_,
      MysqlPool::Create(options.db, server->registry_.get(), "router"));
  TANDEM_ASSIGN_OR_RETURN(server->store_,
                          MysqlRouteStore::Create(server->pool_.get()));
  server->feed_ =
      std::make_unique<ChangeFeed>(server->store_.get(), &server->table_,
                                   options.feed, server->registry_.get());
  absl::Time load_start = absl::Now();
  TANDEM_RETURN_IF_ERROR(server->feed_->Start());
  // Loading churns the heap; give the pages back so RSS shows the table.
  malloc_trim(0);
  RouteCounts counts = server->table_.Counts();
  TANDEM_LOG(Info, "routes_loaded")
      .With("routes", counts.source_stable + counts.source_migrating +
                          counts.target_stable + counts.target_migrating)
      .With("keys", counts.keys)
      .With("revision", server->table_.revision())
      .With("seconds", absl::ToDoubleSeconds(absl::Now() - load_start));
  server->reaper_ =
      std::make_unique<LeaseReaper>(server->store_.get(), server->feed_.get(),
                                    options.leases, server->registry_.get());
  server->reaper_->Start();
  server->workers_ = std::make_unique<WorkerPool>(options.worker_threads);
  server->service_ = std::make_unique<RouterServiceImpl>(
      &server->table_, server->feed_.get(), server->store_.get(),
      server->auth_.get(), server->workers_.get(), std::move(imports),
      server->registry_.get());
  GrpcServerOptions grpc_options;
  grpc_options.address = options.grpc_address;
  grpc_options.tls_cert_file = options.tls_cert_file;
  grpc_options.tls_key_file = options.tls_key_file;
  grpc_options.registry = server->registry_;
  grpc_options.health_services = {kRouterHealthService};
  TANDEM_ASSIGN_OR_RETURN(
      server->grpc_, GrpcServer::Start(grpc_options, {server->service_.get()}));
  server->grpc_->SetServing(kRouterHealthService, true);
  GrpcServer* grpc = server->grpc_.get();
  server->pool_->SetHealthListener([grpc](bool healthy) {
    grpc->SetServing(kRouterHealthService, healthy);
  });
  TANDEM_LOG(Info, "router_serving")
      .With("port", server->grpc_->port())
      .With("metrics_port", server->metrics_port());
  return server;
}

RouterServer::~RouterServer() { Shutdown(absl::Seconds(5)); }

void RouterServer::Shutdown(absl::Duration grace) {
  if (shut_down_) {
    return;
  }
  shut_down_ = true;
  if (pool_ != nullptr) {
    pool_->SetHealthListener(nullptr);
  }
  if (service_ != nullptr) {
    service_->CloseWatchers();
  }
  if (grpc_ != nullptr) {
    absl::Time start = absl::Now();
    grpc_->Shutdown(grace);
    TANDEM_LOG(Info, "grpc_drained")
        .With("seconds", absl::ToDoubleSeconds(absl::Now() - start));
  }
  // Offloaded calls finish before the pool they use goes away.
  workers_.reset();
  if (reaper_ != nullptr) {
    reaper_->Stop();
  }
  if (feed_ != nullptr) {
    feed_->Stop();
  }
}

}  // namespace tandem::router
