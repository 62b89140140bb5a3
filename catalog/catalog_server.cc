#include "catalog/catalog_server.h"

#include <grpcpp/grpcpp.h>

#include "common/log.h"
#include "common/status_macros.h"

namespace tandem::catalog {

namespace v1 = ::tandem::catalog::v1;

absl::StatusOr<std::unique_ptr<CatalogServer>> CatalogServer::Start(
    CatalogServerOptions options) {
  std::unique_ptr<CatalogServer> server(new CatalogServer());
  server->registry_ = std::make_shared<prometheus::Registry>();
  if (!options.metrics_address.empty()) {
    TANDEM_ASSIGN_OR_RETURN(
        server->metrics_,
        MetricsExposer::Start(options.metrics_address, server->registry_));
  }
  TANDEM_ASSIGN_OR_RETURN(server->auth_,
                          TokenAuthenticator::FromString(options.tokens));
  server->auth_->RegisterMetrics(*server->registry_, "catalog");
  if (options.router_address.empty()) {
    return absl::InvalidArgumentError("the router's address is required");
  }
  options.control_db.name = "control";
  options.source_db.name = "source";
  options.target_db.name = "target";
  TANDEM_ASSIGN_OR_RETURN(
      server->control_pool_,
      MysqlPool::Create(options.control_db, server->registry_.get(),
                        "catalog"));
  TANDEM_ASSIGN_OR_RETURN(
      server->source_pool_,
      MysqlPool::Create(options.source_db, server->registry_.get(), "catalog"));
  TANDEM_ASSIGN_OR_RETURN(
      server->target_pool_,
      MysqlPool::Create(options.target_db, server->registry_.get(), "catalog"));
  server->source_ = std::make_unique<MysqlBillingCatalog>(
      server->source_pool_.get(), BillingSchemaVersion::kV1,
      ::tandem::common::v1::SYSTEM_SOURCE);
  server->target_ = std::make_unique<MysqlBillingCatalog>(
      server->target_pool_.get(), BillingSchemaVersion::kV2,
      ::tandem::common::v1::SYSTEM_TARGET);
  server->router_ = std::make_unique<RouterWatcher>(
      grpc::CreateChannel(options.router_address,
                          grpc::InsecureChannelCredentials()),
      options.router_token, options.router_poll_interval);
  RouterWatcher* router = server->router_.get();
  TANDEM_ASSIGN_OR_RETURN(
      server->catalog_,
      Catalog::Create(
          server->control_pool_.get(), server->source_.get(),
          server->target_.get(), [router] { return router->FetchCounts(); },
          server->registry_.get(), options.catalog));
  // A new catalog knows no products yet: read them once before serving, so
  // the first CheckChange already knows what exists.
  TANDEM_ASSIGN_OR_RETURN(v1::ListProductsResponse any,
                          server->catalog_->ListProducts([] {
                            v1::ListProductsRequest r;
                            r.set_page_size(1);
                            return r;
                          }()));
  if (any.products_size() == 0) {
    Principal self{"tandem-catalog", Role::kOperator};
    absl::StatusOr<v1::RefreshProductsResponse> refreshed =
        server->catalog_->RefreshProducts(self, {});
    if (!refreshed.ok()) {
      TANDEM_LOG(Warning, "initial_refresh_failed")
          .With("error", refreshed.status().ToString());
    }
  }
  server->router_->Start(server->catalog_.get());
  server->workers_ = std::make_unique<WorkerPool>(options.worker_threads);
  server->service_ = std::make_unique<CatalogServiceImpl>(
      server->catalog_.get(), server->auth_.get(), server->workers_.get());
  GrpcServerOptions grpc_options;
  grpc_options.address = options.grpc_address;
  grpc_options.tls_cert_file = options.tls_cert_file;
  grpc_options.tls_key_file = options.tls_key_file;
  grpc_options.registry = server->registry_;
  grpc_options.health_services = {kCatalogHealthService};
  TANDEM_ASSIGN_OR_RETURN(
      server->grpc_, GrpcServer::Start(grpc_options, {server->service_.get()}));
  server->grpc_->SetServing(kCatalogHealthService, true);
  GrpcServer* grpc = server->grpc_.get();
  server->control_pool_->SetHealthListener([grpc](bool healthy) {
    grpc->SetServing(kCatalogHealthService, healthy);
  });
  if (options.refresh_interval > absl::ZeroDuration()) {
    server->refresher_ =
        std::thread([s = server.get(), interval = options.refresh_interval] {
          s->RefreshLoop(interval);
        });
  }
  TANDEM_LOG(Info, "catalog_serving")
      .With("port", server->grpc_->port())
      .With("metrics_port", server->metrics_port());
  return server;
}

void CatalogServer::RefreshLoop(absl::Duration interval) {
  Principal self{"tandem-catalog", Role::kOperator};
  while (true) {
    {
      absl::MutexLock lock(&refresh_mu_);
      auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(refresh_mu_) {
        return stopping_;
      };
      if (refresh_mu_.AwaitWithTimeout(absl::Condition(&stopping), interval)) {
        return;
      }
    }
    absl::StatusOr<v1::RefreshProductsResponse> refreshed =
        catalog_->RefreshProducts(self, {});
    if (!refreshed.ok()) {
      TANDEM_LOG(Warning, "periodic_refresh_failed")
          .With("error", refreshed.status().ToString());
    }
  }
}

CatalogServer::~CatalogServer() { Shutdown(absl::Seconds(5)); }

void CatalogServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  {
    absl::MutexLock lock(&refresh_mu_);
    stopping_ = true;
  }
  if (refresher_.joinable()) refresher_.join();
  if (control_pool_ != nullptr) control_pool_->SetHealthListener(nullptr);
  if (service_ != nullptr) service_->CloseWatchers();
  if (grpc_ != nullptr) grpc_->Shutdown(grace);
  // Offloaded calls finish before what they use goes away.
  workers_.reset();
  router_.reset();
}

}  // namespace tandem::catalog
