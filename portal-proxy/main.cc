// tandem-portal-proxy: the one portal URL in front of both billing systems.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/auth.h"
#include "common/config.h"
#include "common/grpc_server.h"
#include "common/log.h"
#include "common/metrics.h"
#include "portal-proxy/admin_service.h"
#include "portal-proxy/catalog_client.h"
#include "portal-proxy/freeze_policy.h"
#include "portal-proxy/proxy_server.h"
#include "portal-proxy/route_source.h"
#include "portal-proxy/routing_cookie.h"
#include "prometheus/gauge.h"
#include "router/client/route_cache.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:8080", "HTTP listen address");
ABSL_FLAG(int, io_threads, 2, "I/O threads (one io_context each)");
ABSL_FLAG(std::string, source_backend, "127.0.0.1:8081",
          "host:port of the source system's portal/API backend");
ABSL_FLAG(std::string, target_backend, "127.0.0.1:8082",
          "host:port of the target system's portal/API backend");
ABSL_FLAG(std::string, router, "127.0.0.1:7001", "gRPC target of the router");
ABSL_FLAG(std::string, router_token_file, "",
          "file holding a router bearer token (viewer role)");
ABSL_FLAG(std::string, cookie_key_file, "",
          "file holding the routing cookie's HMAC key (>= 16 bytes)");
ABSL_FLAG(std::string, cookie_previous_key_file, "",
          "optional file holding the previous key, still accepted");
ABSL_FLAG(int, cookie_lifetime_s, 8 * 3600, "routing cookie lifetime");
ABSL_FLAG(bool, cookie_secure, false, "mark the routing cookie Secure");
ABSL_FLAG(std::string, login_paths, "/login",
          "comma-separated paths whose POST body carries the login name");
ABSL_FLAG(std::string, login_fields, "login,username",
          "comma-separated form/JSON field names of the login name");
ABSL_FLAG(std::string, path_patterns,
          "/api/customers/{customer_id},/api/accounts/{account_id}",
          "comma-separated path patterns that name a customer");
ABSL_FLAG(std::string, product_admin_prefixes, "/admin/products",
          "comma-separated path prefixes of the product-admin API");
ABSL_FLAG(std::string, catalog, "127.0.0.1:7003",
          "gRPC target of the catalog (WatchFreeze feed, CheckChange)");
ABSL_FLAG(std::string, catalog_token_file, "",
          "file holding a catalog bearer token (viewer role); empty = the "
          "router token");
ABSL_FLAG(int, catalog_check_timeout_ms, 1000,
          "deadline of a CheckChange call; past it the change is refused");
ABSL_FLAG(std::string, catalog_freeze_state, "",
          "static override for demos and tests: OPEN, FROZEN, "
          "FROZEN_TARGET_OPEN or LIFTED; when set the catalog is not "
          "contacted and the proxy decides product changes alone");
ABSL_FLAG(std::string, admin_identity_header, "X-Admin-User",
          "request header naming the billing administrator of a product "
          "change (sent to the catalog's audit log)");
ABSL_FLAG(int, hold_timeout_ms, 10000, "longest hold during a cutover");
ABSL_FLAG(int, retry_after_s, 5, "Retry-After of the maintenance answer");
ABSL_FLAG(int, max_held_per_customer, 256, "hold bound per customer");
ABSL_FLAG(int, max_held_total, 20000, "hold bound in total");
ABSL_FLAG(int, max_header_bytes, 8192, "request head limit (431)");
ABSL_FLAG(int64_t, max_body_bytes, 64ll << 20, "request body limit (413)");
ABSL_FLAG(int, client_header_timeout_ms, 10000, "request head timeout (408)");
ABSL_FLAG(int, client_body_timeout_ms, 30000, "body gap timeout (408)");
ABSL_FLAG(int, upstream_timeout_ms, 30000, "backend response timeout (504)");
ABSL_FLAG(int, access_log_every, 1, "log every Nth request; 0 = none");
ABSL_FLAG(std::string, metrics_listen, "0.0.0.0:9104", "/metrics address");
ABSL_FLAG(std::string, admin_listen, "0.0.0.0:7004",
          "gRPC address of tandem.proxy.v1.ProxyAdminService (with health "
          "and reflection); needs --auth_tokens_file");
ABSL_FLAG(std::string, auth_tokens_file, "",
          "tokens file of the admin port (<name> <role> <token> per line); "
          "empty = no admin port");
ABSL_FLAG(std::string, tls_cert_file, "", "PEM certificate chain (admin TLS)");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key (admin TLS)");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error");
ABSL_FLAG(int, shutdown_grace_ms, 15000, "drain time on SIGTERM");

namespace {

constexpr char kVersion[] = "tandem-portal-proxy 0.2";

std::vector<std::string> SplitList(const std::string& value) {
  return absl::StrSplit(value, ',', absl::SkipWhitespace());
}

int Fail(const std::string& what, const absl::Status& status) {
  TANDEM_LOG(Error, "startup_failed")
      .With("what", what)
      .With("error", status.ToString());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  tandem::BlockTerminationSignals();
  tandem::ParseFlagsWithEnv(argc, argv,
                            "tandem-portal-proxy: the one portal URL");
  tandem::InitLogging("portal-proxy",
                      tandem::ParseLogLevel(absl::GetFlag(FLAGS_log_level)));
  using tandem::proxy::FreezeState;

  auto token = tandem::ReadSecretFile(absl::GetFlag(FLAGS_router_token_file));
  if (!token.ok()) return Fail("router_token_file", token.status());
  auto key = tandem::ReadSecretFile(absl::GetFlag(FLAGS_cookie_key_file));
  if (!key.ok()) return Fail("cookie_key_file", key.status());
  std::string previous_key;
  if (!absl::GetFlag(FLAGS_cookie_previous_key_file).empty()) {
    auto previous =
        tandem::ReadSecretFile(absl::GetFlag(FLAGS_cookie_previous_key_file));
    if (!previous.ok())
      return Fail("cookie_previous_key_file", previous.status());
    previous_key = *previous;
  }
  auto cookie = tandem::proxy::RoutingCookie::Create(
      *key, previous_key,
      absl::Seconds(absl::GetFlag(FLAGS_cookie_lifetime_s)));
  if (!cookie.ok()) return Fail("routing cookie", cookie.status());

  auto registry = std::make_shared<prometheus::Registry>();
  auto exposer = tandem::MetricsExposer::Start(
      absl::GetFlag(FLAGS_metrics_listen), registry);
  if (!exposer.ok()) return Fail("metrics_listen", exposer.status());

  tandem::router::RouteCacheOptions cache_options;
  cache_options.target = absl::GetFlag(FLAGS_router);
  cache_options.token = *token;
  cache_options.metrics_prefix = "tandem_proxy";
  auto cache = tandem::router::RouteCache::Start(cache_options, registry.get());
  // Serve once the first snapshot is in; until then every customer would go
  // to the default system, which is wrong for those already moved.
  while (!cache->WaitForSync(absl::Seconds(5))) {
    TANDEM_LOG(Warning, "waiting_for_router")
        .With("router", cache_options.target);
  }
  auto& staleness = prometheus::BuildGauge()
                        .Name("tandem_proxy_route_cache_staleness_seconds")
                        .Help(
                            "How long the route cache has been without its "
                            "router (0 while connected)")
                        .Register(*registry)
                        .Add({});

  tandem::proxy::CachedFreezePolicy freeze;
  std::unique_ptr<tandem::proxy::CatalogClient> catalog;
  const std::string freeze_name = absl::GetFlag(FLAGS_catalog_freeze_state);
  if (!freeze_name.empty()) {
    FreezeState state;
    if (!tandem::catalog::v1::FreezeState_Parse(
            absl::StrCat("FREEZE_STATE_", freeze_name), &state)) {
      return Fail("catalog_freeze_state",
                  absl::InvalidArgumentError(freeze_name));
    }
    freeze.SetState(state, true);
    TANDEM_LOG(Warning, "static_freeze_state")
        .With("state", freeze_name)
        .With("note", "the catalog is not contacted");
  } else {
    std::string catalog_token = *token;
    if (!absl::GetFlag(FLAGS_catalog_token_file).empty()) {
      auto read =
          tandem::ReadSecretFile(absl::GetFlag(FLAGS_catalog_token_file));
      if (!read.ok()) return Fail("catalog_token_file", read.status());
      catalog_token = *read;
    }
    tandem::proxy::CatalogClientOptions catalog_options;
    catalog_options.target = absl::GetFlag(FLAGS_catalog);
    catalog_options.token = catalog_token;
    catalog = tandem::proxy::CatalogClient::Start(catalog_options, &freeze,
                                                  registry.get());
  }

  tandem::proxy::RouteCacheSource routes(cache.get());
  tandem::proxy::ProxyOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.io_threads = absl::GetFlag(FLAGS_io_threads);
  options.source_backend = absl::GetFlag(FLAGS_source_backend);
  options.target_backend = absl::GetFlag(FLAGS_target_backend);
  options.hold_timeout =
      absl::Milliseconds(absl::GetFlag(FLAGS_hold_timeout_ms));
  options.retry_after_seconds = absl::GetFlag(FLAGS_retry_after_s);
  options.hold.max_per_customer = absl::GetFlag(FLAGS_max_held_per_customer);
  options.hold.max_total = absl::GetFlag(FLAGS_max_held_total);
  options.max_header_bytes = absl::GetFlag(FLAGS_max_header_bytes);
  options.max_body_bytes = absl::GetFlag(FLAGS_max_body_bytes);
  options.client_header_timeout =
      absl::Milliseconds(absl::GetFlag(FLAGS_client_header_timeout_ms));
  options.client_body_timeout =
      absl::Milliseconds(absl::GetFlag(FLAGS_client_body_timeout_ms));
  options.upstream_response_timeout =
      absl::Milliseconds(absl::GetFlag(FLAGS_upstream_timeout_ms));
  options.cookie_secure = absl::GetFlag(FLAGS_cookie_secure);
  options.access_log_every = absl::GetFlag(FLAGS_access_log_every);
  options.catalog_check_timeout =
      absl::Milliseconds(absl::GetFlag(FLAGS_catalog_check_timeout_ms));
  options.admin_identity_header = absl::GetFlag(FLAGS_admin_identity_header);
  options.resolver.login_paths = SplitList(absl::GetFlag(FLAGS_login_paths));
  options.resolver.login_fields = SplitList(absl::GetFlag(FLAGS_login_fields));
  options.resolver.path_patterns =
      SplitList(absl::GetFlag(FLAGS_path_patterns));
  options.product_admin.prefixes =
      SplitList(absl::GetFlag(FLAGS_product_admin_prefixes));
  tandem::proxy::ProxyDeps deps;
  deps.routes = &routes;
  deps.cookie = &*cookie;
  deps.freeze = &freeze;
  deps.checker = catalog.get();
  deps.registry = registry.get();
  auto server = tandem::proxy::ProxyServer::Start(options, deps);
  if (!server.ok()) return Fail("proxy", server.status());
  tandem::proxy::HoldQueue* holds = &(*server)->hold_queue();
  int listener = cache->AddListener(
      [holds](const tandem::router::v1::RouteChange* change) {
        holds->OnRouteChange(change);
      });

  // The admin port: status, held customers, drain.
  std::unique_ptr<tandem::TokenAuthenticator> auth;
  std::unique_ptr<tandem::proxy::AdminService> admin;
  std::unique_ptr<tandem::GrpcServer> admin_server;
  if (!absl::GetFlag(FLAGS_auth_tokens_file).empty()) {
    auto loaded = tandem::TokenAuthenticator::FromFile(
        absl::GetFlag(FLAGS_auth_tokens_file));
    if (!loaded.ok()) return Fail("auth_tokens_file", loaded.status());
    auth = *std::move(loaded);
    auth->RegisterMetrics(*registry, "proxy");
    tandem::proxy::AdminServiceDeps admin_deps;
    admin_deps.proxy = server->get();
    admin_deps.routes = cache.get();
    admin_deps.freeze = &freeze;
    admin_deps.catalog = catalog.get();
    admin_deps.auth = auth.get();
    admin_deps.version = kVersion;
    admin = std::make_unique<tandem::proxy::AdminService>(admin_deps);
    tandem::GrpcServerOptions grpc_options;
    grpc_options.address = absl::GetFlag(FLAGS_admin_listen);
    grpc_options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
    grpc_options.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
    grpc_options.registry = registry;
    grpc_options.health_services = {tandem::proxy::kProxyHealthService};
    auto started = tandem::GrpcServer::Start(grpc_options, {admin.get()});
    if (!started.ok()) return Fail("admin_listen", started.status());
    admin_server = *std::move(started);
    admin->SetHealth(admin_server.get());
    admin_server->SetServing(tandem::proxy::kProxyHealthService, true);
  } else {
    TANDEM_LOG(Warning, "admin_port_disabled")
        .With("why", "no --auth_tokens_file");
  }

  std::atomic<bool> stopping{false};
  std::thread gauges([&] {
    while (!stopping.load()) {
      staleness.Set(absl::ToDoubleSeconds(cache->Staleness()));
      absl::SleepFor(absl::Seconds(1));
    }
  });

  std::string signal = tandem::WaitForTerminationSignal();
  TANDEM_LOG(Info, "shutting_down").With("signal", signal);
  if (admin_server != nullptr) {
    admin_server->SetServing(tandem::proxy::kProxyHealthService, false);
  }
  (*server)->Shutdown(
      absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms)));
  cache->RemoveListener(listener);
  stopping.store(true);
  gauges.join();
  if (admin_server != nullptr) {
    admin_server->Shutdown(absl::Seconds(1));
  }
  return 0;
}
