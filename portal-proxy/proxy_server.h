// The portal-proxy process, wired: the composition root that main.cc and
// the integration tests share, so that the tests run the wiring the binary
// runs. It builds, in order: the route cache following the router's Watch
// (and waits for its first snapshot: until then every customer would go to
// the default system, wrong for those already moved), the routing cookie,
// the freeze policy fed by the catalog's WatchFreeze (or a static state),
// the HTTP front (http_front.h) with the route cache's changes waking held
// requests, and the gRPC admin port (admin_service.h) when tokens are
// given.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/auth.h"
#include "common/clock.h"
#include "common/grpc_server.h"
#include "portal-proxy/admin_service.h"
#include "portal-proxy/catalog_client.h"
#include "portal-proxy/freeze_policy.h"
#include "portal-proxy/http_front.h"
#include "portal-proxy/route_cache_source.h"
#include "portal-proxy/routing_cookie.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "router/client/route_cache.h"

namespace tandem::proxy {

struct ProxyServerOptions {
  // The HTTP front.
  ProxyOptions http;

  // The router's gRPC target and a viewer token.
  std::string router = "127.0.0.1:7001";
  std::string router_token;
  absl::Duration router_min_backoff = absl::Milliseconds(100);
  absl::Duration router_max_backoff = absl::Seconds(5);
  // How long Start waits for the route cache's first snapshot (a warning is
  // logged every 5 s meanwhile); zero waits for ever. Past it: UNAVAILABLE.
  absl::Duration sync_timeout = absl::ZeroDuration();

  // The catalog's gRPC target and a viewer token (empty: the router's).
  std::string catalog = "127.0.0.1:7003";
  std::string catalog_token;
  absl::Duration catalog_min_backoff = absl::Milliseconds(100);
  absl::Duration catalog_max_backoff = absl::Seconds(5);
  // A static freeze state (demos and tests): the catalog is not contacted
  // and the proxy decides product changes alone.
  std::optional<FreezeState> static_freeze;

  // The routing cookie's keys (at least 16 bytes each; the previous one may
  // be empty) and lifetime.
  std::string cookie_key;
  std::string cookie_previous_key;
  absl::Duration cookie_lifetime = absl::Hours(8);

  // The admin port: served when `auth_tokens` (the tokens file's content,
  // "<name> <role> <token>" per line) is not empty.
  std::string admin_listen = "0.0.0.0:7004";
  std::string auth_tokens;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string version = "tandem-portal-proxy";
};

// What a test may put in place of the real thing; the defaults are the
// production wiring.
struct ProxyServerDeps {
  // Where the metrics go; null: a registry of the server's own.
  std::shared_ptr<prometheus::Registry> registry;
  // Routes from here instead of a route cache following the router (tests
  // without a router); the admin port is then not served.
  const RouteSource* routes = nullptr;
  // Signs and expires routing cookies, measures the catalog feed's backoff
  // and staleness; null: Clock::Real().
  Clock* clock = nullptr;
};

class ProxyServer {
 public:
  // Wires and starts everything. INVALID_ARGUMENT for bad options (a short
  // cookie key, a bad address), UNAVAILABLE when a port cannot be bound or
  // the router did not deliver its snapshot within `sync_timeout`.
  static absl::StatusOr<std::unique_ptr<ProxyServer>> Start(
      ProxyServerOptions options, ProxyServerDeps deps = {});

  // Shuts down with a zero grace if Shutdown was not called.
  ~ProxyServer();

  // The HTTP port, and the admin port (0 when not served).
  int port() const { return front_->port(); }
  int admin_port() const;

  HttpFront& front() { return *front_; }
  // Null when the routes were injected.
  router::RouteCache* route_cache() { return cache_.get(); }
  // The freeze the door enforces (a test may set a state on it when the
  // options gave a static one).
  CachedFreezePolicy& freeze() { return freeze_; }
  // Null with a static freeze state.
  CatalogClient* catalog() { return catalog_.get(); }
  prometheus::Registry& registry() { return *registry_; }

  // SIGTERM: readiness NOT_SERVING, then the front drains for up to
  // `grace` (requests in flight and held ones finish), then the rest stops.
  // Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  ProxyServer() = default;
  absl::Status StartRoutes(const ProxyServerOptions& options,
                           const ProxyServerDeps& deps);
  absl::Status StartFreeze(const ProxyServerOptions& options, Clock* clock);
  absl::Status StartAdmin(const ProxyServerOptions& options);
  // Keeps tandem_proxy_route_cache_staleness_seconds current.
  void GaugeLoop();

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<router::RouteCache> cache_;
  std::unique_ptr<RouteCacheSource> cache_source_;
  const RouteSource* routes_ = nullptr;
  std::optional<RoutingCookie> cookie_;
  CachedFreezePolicy freeze_;
  std::unique_ptr<CatalogClient> catalog_;
  std::unique_ptr<HttpFront> front_;
  int listener_ = -1;
  std::unique_ptr<TokenAuthenticator> auth_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<GrpcServer> admin_server_;
  prometheus::Gauge* staleness_ = nullptr;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread gauges_;
  bool shut_down_ = false;
};

}  // namespace tandem::proxy
