#include "router/router_server.h"

#include <malloc.h>

#include "common/log.h"
#include "common/status_macros.h"

namespace tandem::router {

absl::StatusOr<std::unique_ptr<RouterServer>> RouterServer::Start(
    RouterServerOptions options) {
  std::unique_ptr<RouterServer> server(new RouterServer());
  TANDEM_ASSIGN_OR_RETURN(
      server->frame_,
      ServerFrame::Create({.service = "router",
                           .health_service = kRouterHealthService,
                           .grpc_address = options.grpc_address,
                           .metrics_address = options.metrics_address,
                           .tls_cert_file = options.tls_cert_file,
                           .tls_key_file = options.tls_key_file,
                           .tokens = options.tokens,
                           .worker_threads = options.worker_threads}));
  prometheus::Registry* registry = &server->frame_->registry();
  std::map<std::string, ImportQuery> imports;
  if (!options.import_config.empty()) {
    TANDEM_ASSIGN_OR_RETURN(imports, ParseImportConfig(options.import_config));
  }
  TANDEM_ASSIGN_OR_RETURN(server->pool_,
                          MysqlPool::Create(options.db, registry, "router"));
  TANDEM_ASSIGN_OR_RETURN(server->store_,
                          MysqlRouteStore::Create(server->pool_.get()));
  Clock& clock = options.clock != nullptr ? *options.clock : Clock::Real();
  options.feed.clock = &clock;
  server->feed_ = std::make_unique<ChangeFeed>(
      server->store_.get(), &server->table_, options.feed, registry);
  absl::Time load_start = absl::Now();
  TANDEM_RETURN_IF_ERROR(server->feed_->Start());
  // Loading churns the heap; give the pages back so RSS shows the table.
  malloc_trim(0);
  RouteCounts counts = server->table_.Counts();
  TANDEM_LOG(Info, "routes_loaded")
      .With("routes", counts.total())
      .With("keys", counts.keys)
      .With("revision", server->table_.revision())
      .With("seconds", absl::ToDoubleSeconds(absl::Now() - load_start));
  server->reaper_ =
      std::make_unique<LeaseReaper>(server->store_.get(), server->feed_.get(),
                                    options.leases, registry, clock);
  server->reaper_->Start();
  server->service_ = std::make_unique<RouterServiceImpl>(
      &server->table_, server->feed_.get(), server->store_.get(),
      &server->frame_->auth(), &server->frame_->workers(), std::move(imports),
      registry);
  TANDEM_RETURN_IF_ERROR(server->frame_->Serve(
      server->service_.get(), server->pool_.get(), /*ready=*/true));
  TANDEM_LOG(Info, "router_serving")
      .With("port", server->port())
      .With("metrics_port", server->metrics_port());
  return server;
}

RouterServer::~RouterServer() { Shutdown(absl::Seconds(5)); }

void RouterServer::Shutdown(absl::Duration grace) {
  if (shut_down_) {
    return;
  }
  shut_down_ = true;
  if (service_ != nullptr) {
    service_->CloseWatchers();
  }
  if (frame_ != nullptr) {
    frame_->Shutdown(grace);
  }
  if (reaper_ != nullptr) {
    reaper_->Stop();
  }
  if (feed_ != nullptr) {
    feed_->Stop();
  }
}

}  // namespace tandem::router
