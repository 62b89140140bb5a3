#include "portal-proxy/proxy_server.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace tandem::proxy {

absl::StatusOr<std::unique_ptr<ProxyServer>> ProxyServer::Start(
    ProxyServerOptions options, ProxyServerDeps deps) {
  std::unique_ptr<ProxyServer> server(new ProxyServer());
  server->registry_ = deps.registry != nullptr
                          ? deps.registry
                          : std::make_shared<prometheus::Registry>();
  auto cookie = RoutingCookie::Create(
      options.cookie_key, options.cookie_previous_key, options.cookie_lifetime);
  if (!cookie.ok()) return cookie.status();
  server->cookie_.emplace(*std::move(cookie));
  TANDEM_RETURN_IF_ERROR(server->StartRoutes(options, deps));
  TANDEM_RETURN_IF_ERROR(server->StartFreeze(options, deps.clock));

  ProxyDeps front_deps;
  front_deps.routes = server->routes_;
  front_deps.cookie = &*server->cookie_;
  front_deps.freeze = &server->freeze_;
  front_deps.checker = server->catalog_.get();
  front_deps.registry = server->registry_.get();
  front_deps.clock = deps.clock;
  auto front = HttpFront::Start(options.http, front_deps);
  if (!front.ok()) return front.status();
  server->front_ = *std::move(front);
  if (server->cache_ != nullptr) {
    HoldQueue* holds = &server->front_->hold_queue();
    server->listener_ = server->cache_->AddListener(
        [holds](const router::v1::RouteChange* change) {
          holds->OnRouteChange(change);
        });
    TANDEM_RETURN_IF_ERROR(server->StartAdmin(options));
  }
  return server;
}

absl::Status ProxyServer::StartRoutes(const ProxyServerOptions& options,
                                      const ProxyServerDeps& deps) {
  if (deps.routes != nullptr) {
    routes_ = deps.routes;
    return absl::OkStatus();
  }
  router::RouteCacheOptions cache_options;
  cache_options.target = options.router;
  cache_options.token = options.router_token;
  cache_options.min_backoff = options.router_min_backoff;
  cache_options.max_backoff = options.router_max_backoff;
  cache_options.metrics_prefix = "tandem_proxy";
  cache_ = router::RouteCache::Start(cache_options, registry_.get());
  const absl::Time give_up = options.sync_timeout == absl::ZeroDuration()
                                 ? absl::InfiniteFuture()
                                 : absl::Now() + options.sync_timeout;
  while (
      !cache_->WaitForSync(std::min(absl::Seconds(5), give_up - absl::Now()))) {
    if (absl::Now() >= give_up) {
      return absl::UnavailableError(absl::StrCat(
          "the router at ", options.router, " sent no snapshot within ",
          absl::FormatDuration(options.sync_timeout)));
    }
    TANDEM_LOG(Warning, "waiting_for_router").With("router", options.router);
  }
  cache_source_ = std::make_unique<RouteCacheSource>(cache_.get());
  routes_ = cache_source_.get();
  staleness_ = &prometheus::BuildGauge()
                    .Name("tandem_proxy_route_cache_staleness_seconds")
                    .Help(
                        "How long the route cache has been without its "
                        "router (0 while connected)")
                    .Register(*registry_)
                    .Add({});
  gauges_ = std::thread([this] { GaugeLoop(); });
  return absl::OkStatus();
}

absl::Status ProxyServer::StartFreeze(const ProxyServerOptions& options,
                                      Clock* clock) {
  if (options.static_freeze) {
    freeze_.SetState(*options.static_freeze, true);
    TANDEM_LOG(Warning, "static_freeze_state")
        .With("state", FreezeState_Name(*options.static_freeze))
        .With("note", "the catalog is not contacted");
    return absl::OkStatus();
  }
  CatalogClientOptions catalog_options;
  catalog_options.target = options.catalog;
  catalog_options.token = options.catalog_token.empty() ? options.router_token
                                                        : options.catalog_token;
  catalog_options.min_backoff = options.catalog_min_backoff;
  catalog_options.max_backoff = options.catalog_max_backoff;
  catalog_options.clock = clock;
  catalog_ = CatalogClient::Start(catalog_options, &freeze_, registry_.get());
  return absl::OkStatus();
}

absl::Status ProxyServer::StartAdmin(const ProxyServerOptions& options) {
  if (options.auth_tokens.empty()) {
    TANDEM_LOG(Warning, "admin_port_disabled").With("why", "no auth tokens");
    return absl::OkStatus();
  }
  TANDEM_ASSIGN_OR_RETURN(auth_,
                          TokenAuthenticator::FromString(options.auth_tokens));
  auth_->RegisterMetrics(*registry_, "proxy");
  AdminServiceDeps admin_deps;
  admin_deps.proxy = front_.get();
  admin_deps.routes = cache_.get();
  admin_deps.freeze = &freeze_;
  admin_deps.catalog = catalog_.get();
  admin_deps.auth = auth_.get();
  admin_deps.version = options.version;
  admin_ = std::make_unique<AdminService>(admin_deps);
  GrpcServerOptions grpc_options;
  grpc_options.address = options.admin_listen;
  grpc_options.tls_cert_file = options.tls_cert_file;
  grpc_options.tls_key_file = options.tls_key_file;
  grpc_options.registry = registry_;
  grpc_options.health_services = {kProxyHealthService};
  TANDEM_ASSIGN_OR_RETURN(admin_server_,
                          GrpcServer::Start(grpc_options, {admin_.get()}));
  admin_->SetHealth(admin_server_.get());
  admin_server_->SetServing(kProxyHealthService, true);
  return absl::OkStatus();
}

int ProxyServer::admin_port() const {
  return admin_server_ != nullptr ? admin_server_->port() : 0;
}

void ProxyServer::GaugeLoop() {
  absl::MutexLock lock(&mu_);
  auto stop = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_; };
  do {
    staleness_->Set(absl::ToDoubleSeconds(cache_->Staleness()));
  } while (!mu_.AwaitWithTimeout(absl::Condition(&stop), absl::Seconds(1)));
}

void ProxyServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  if (admin_server_ != nullptr) {
    admin_server_->SetServing(kProxyHealthService, false);
  }
  if (front_ != nullptr) front_->Shutdown(grace);
  if (cache_ != nullptr && listener_ >= 0) cache_->RemoveListener(listener_);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (gauges_.joinable()) gauges_.join();
  if (admin_server_ != nullptr) admin_server_->Shutdown(absl::Seconds(1));
}

ProxyServer::~ProxyServer() { Shutdown(absl::ZeroDuration()); }

}  // namespace tandem::proxy
