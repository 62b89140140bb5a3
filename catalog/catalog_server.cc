#include "catalog/catalog_server.h"

#include <grpcpp/grpcpp.h>

#include "common/log.h"
#include "common/status_macros.h"

namespace tandem::catalog {

namespace v1 = ::tandem::catalog::v1;

namespace {

// A new catalog knows no products yet: read them once before serving, so
// the first CheckChange already knows what exists.
absl::Status RefreshIfEmpty(Catalog& catalog) {
  v1::ListProductsRequest one;
  one.set_page_size(1);
  TANDEM_ASSIGN_OR_RETURN(v1::ListProductsResponse any,
                          catalog.ListProducts(one));
  if (any.products_size() > 0) return absl::OkStatus();
  Principal self{"tandem-catalog", Role::kOperator};
  absl::StatusOr<v1::RefreshProductsResponse> refreshed =
      catalog.RefreshProducts(self, {});
  if (!refreshed.ok()) {
    TANDEM_LOG(Warning, "initial_refresh_failed")
        .With("error", refreshed.status().ToString());
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CatalogServer::StartDatabases(CatalogServerOptions& options) {
  options.control_db.name = "control";
  options.source_db.name = "source";
  options.target_db.name = "target";
  TANDEM_ASSIGN_OR_RETURN(
      control_pool_,
      MysqlPool::Create(options.control_db, &frame_->registry(), "catalog"));
  TANDEM_ASSIGN_OR_RETURN(
      source_pool_,
      MysqlPool::Create(options.source_db, &frame_->registry(), "catalog"));
  TANDEM_ASSIGN_OR_RETURN(
      target_pool_,
      MysqlPool::Create(options.target_db, &frame_->registry(), "catalog"));
  source_ = std::make_unique<MysqlBillingCatalog>(
      source_pool_.get(), BillingSchemaVersion::kV1,
      ::tandem::common::v1::SYSTEM_SOURCE);
  target_ = std::make_unique<MysqlBillingCatalog>(
      target_pool_.get(), BillingSchemaVersion::kV2,
      ::tandem::common::v1::SYSTEM_TARGET);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<CatalogServer>> CatalogServer::Start(
    CatalogServerOptions options) {
  std::unique_ptr<CatalogServer> server(new CatalogServer());
  TANDEM_ASSIGN_OR_RETURN(
      server->frame_,
      ServerFrame::Create({.service = "catalog",
                           .health_service = kCatalogHealthService,
                           .grpc_address = options.grpc_address,
                           .metrics_address = options.metrics_address,
                           .tls_cert_file = options.tls_cert_file,
                           .tls_key_file = options.tls_key_file,
                           .tokens = options.tokens,
                           .worker_threads = options.worker_threads}));
  if (options.router_address.empty()) {
    return absl::InvalidArgumentError("the router's address is required");
  }
  TANDEM_RETURN_IF_ERROR(server->StartDatabases(options));
  server->router_ = std::make_unique<RouterWatcher>(
      grpc::CreateChannel(options.router_address,
                          grpc::InsecureChannelCredentials()),
      options.router_token, options.router_poll_interval,
      options.catalog.clock);
  RouterWatcher* router = server->router_.get();
  TANDEM_ASSIGN_OR_RETURN(
      server->catalog_,
      Catalog::Create(
          server->control_pool_.get(), server->source_.get(),
          server->target_.get(), [router] { return router->FetchCounts(); },
          &server->frame_->registry(), options.catalog));
  TANDEM_RETURN_IF_ERROR(RefreshIfEmpty(*server->catalog_));
  server->router_->Start(server->catalog_.get());
  server->service_ = std::make_unique<CatalogServiceImpl>(
      server->catalog_.get(), &server->frame_->auth(),
      &server->frame_->workers());
  TANDEM_RETURN_IF_ERROR(server->frame_->Serve(
      server->service_.get(), server->control_pool_.get(), /*ready=*/true));
  if (options.refresh_interval > absl::ZeroDuration()) {
    server->refresher_ =
        std::thread([s = server.get(), interval = options.refresh_interval,
                     clock = options.catalog.clock] {
          s->RefreshLoop(interval, clock != nullptr ? *clock : Clock::Real());
        });
  }
  TANDEM_LOG(Info, "catalog_serving")
      .With("port", server->port())
      .With("metrics_port", server->metrics_port());
  return server;
}

void CatalogServer::RefreshLoop(absl::Duration interval, Clock& clock) {
  Principal self{"tandem-catalog", Role::kOperator};
  while (true) {
    {
      absl::MutexLock lock(&refresh_mu_);
      auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(refresh_mu_) {
        return stopping_;
      };
      if (clock.AwaitWithDeadline(refresh_mu_, absl::Condition(&stopping),
                                  clock.Now() + interval)) {
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
  if (service_ != nullptr) service_->CloseWatchers();
  if (frame_ != nullptr) frame_->Shutdown(grace);
  router_.reset();
}

}  // namespace tandem::catalog
