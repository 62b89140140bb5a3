// tandem-portal-proxy: the one portal URL in front of both billing systems.
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/config.h"
#include "common/grpc_server.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/service_main.h"
#include "common/status_macros.h"
#include "portal-proxy/proxy_server.h"

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
ABSL_FLAG(std::string, login_fields, "login",
          "comma-separated form/JSON field names of the login name, tried "
          "in order");
ABSL_FLAG(std::string, session_cookie, "tandem_session",
          "name of the billing systems' session cookie (<customer_id>.<hex>)");
ABSL_FLAG(std::string, admin_prefixes, "/admin/",
          "comma-separated path prefixes of the billing systems' admin API "
          "(an Authorization there is an administrator's)");
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
ABSL_FLAG(int64_t, max_replay_body_bytes, 64 * 1024,
          "request bodies up to this size are read whole before they are "
          "sent, so that they can be sent again");
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

constexpr char kVersion[] = "tandem-portal-proxy 0.3";

std::vector<std::string> SplitList(const std::string& value) {
  return absl::StrSplit(value, ',', absl::SkipWhitespace());
}

absl::Duration Ms(int value) { return absl::Milliseconds(value); }

// The front's options from the flags.
tandem::proxy::ProxyOptions FrontOptions() {
  tandem::proxy::ProxyOptions o;
  o.listen = absl::GetFlag(FLAGS_listen);
  o.io_threads = absl::GetFlag(FLAGS_io_threads);
  o.source_backend = absl::GetFlag(FLAGS_source_backend);
  o.target_backend = absl::GetFlag(FLAGS_target_backend);
  o.hold_timeout = Ms(absl::GetFlag(FLAGS_hold_timeout_ms));
  o.retry_after_seconds = absl::GetFlag(FLAGS_retry_after_s);
  o.hold.max_per_customer = absl::GetFlag(FLAGS_max_held_per_customer);
  o.hold.max_total = absl::GetFlag(FLAGS_max_held_total);
  o.max_header_bytes = absl::GetFlag(FLAGS_max_header_bytes);
  o.max_body_bytes = absl::GetFlag(FLAGS_max_body_bytes);
  o.max_replay_body_bytes = absl::GetFlag(FLAGS_max_replay_body_bytes);
  o.client_header_timeout = Ms(absl::GetFlag(FLAGS_client_header_timeout_ms));
  o.client_body_timeout = Ms(absl::GetFlag(FLAGS_client_body_timeout_ms));
  o.upstream_response_timeout = Ms(absl::GetFlag(FLAGS_upstream_timeout_ms));
  o.cookie_secure = absl::GetFlag(FLAGS_cookie_secure);
  o.access_log_every = absl::GetFlag(FLAGS_access_log_every);
  o.catalog_check_timeout = Ms(absl::GetFlag(FLAGS_catalog_check_timeout_ms));
  o.admin_identity_header = absl::GetFlag(FLAGS_admin_identity_header);
  o.resolver.login_paths = SplitList(absl::GetFlag(FLAGS_login_paths));
  o.resolver.login_fields = SplitList(absl::GetFlag(FLAGS_login_fields));
  o.resolver.session_cookie = absl::GetFlag(FLAGS_session_cookie);
  o.resolver.admin_prefixes = SplitList(absl::GetFlag(FLAGS_admin_prefixes));
  o.resolver.path_patterns = SplitList(absl::GetFlag(FLAGS_path_patterns));
  o.product_admin.prefixes =
      SplitList(absl::GetFlag(FLAGS_product_admin_prefixes));
  return o;
}

// Reads the secret in the file a flag names ("" when the flag is empty).
absl::StatusOr<std::string> SecretOf(const std::string& file) {
  if (file.empty()) return std::string();
  return tandem::ReadSecretFile(file);
}

// The whole server's options from the flags and the files they name.
absl::StatusOr<tandem::proxy::ProxyServerOptions> ServerOptions() {
  tandem::proxy::ProxyServerOptions o;
  o.http = FrontOptions();
  o.router = absl::GetFlag(FLAGS_router);
  TANDEM_ASSIGN_OR_RETURN(o.router_token,
                          SecretOf(absl::GetFlag(FLAGS_router_token_file)));
  o.catalog = absl::GetFlag(FLAGS_catalog);
  TANDEM_ASSIGN_OR_RETURN(o.catalog_token,
                          SecretOf(absl::GetFlag(FLAGS_catalog_token_file)));
  const std::string freeze = absl::GetFlag(FLAGS_catalog_freeze_state);
  if (!freeze.empty()) {
    tandem::proxy::FreezeState state;
    if (!tandem::catalog::v1::FreezeState_Parse(
            absl::StrCat("FREEZE_STATE_", freeze), &state)) {
      return absl::InvalidArgumentError(
          absl::StrCat("catalog_freeze_state: unknown state ", freeze));
    }
    o.static_freeze = state;
  }
  TANDEM_ASSIGN_OR_RETURN(o.cookie_key,
                          SecretOf(absl::GetFlag(FLAGS_cookie_key_file)));
  TANDEM_ASSIGN_OR_RETURN(
      o.cookie_previous_key,
      SecretOf(absl::GetFlag(FLAGS_cookie_previous_key_file)));
  o.cookie_lifetime = absl::Seconds(absl::GetFlag(FLAGS_cookie_lifetime_s));
  o.admin_listen = absl::GetFlag(FLAGS_admin_listen);
  if (!absl::GetFlag(FLAGS_auth_tokens_file).empty()) {
    TANDEM_ASSIGN_OR_RETURN(
        o.auth_tokens, tandem::ReadFile(absl::GetFlag(FLAGS_auth_tokens_file)));
  }
  o.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  o.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  o.version = kVersion;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  tandem::BlockTerminationSignals();
  tandem::ParseFlagsWithEnv(argc, argv,
                            "tandem-portal-proxy: the one portal URL");
  tandem::InitLogging("portal-proxy",
                      tandem::ParseLogLevel(absl::GetFlag(FLAGS_log_level)));
  auto options = ServerOptions();
  if (!options.ok()) return tandem::StartupFailed("flags", options.status());
  auto registry = std::make_shared<prometheus::Registry>();
  auto exposer = tandem::MetricsExposer::Start(
      absl::GetFlag(FLAGS_metrics_listen), registry);
  if (!exposer.ok())
    return tandem::StartupFailed("metrics_listen", exposer.status());
  tandem::proxy::ProxyServerDeps deps;
  deps.registry = registry;
  auto server = tandem::proxy::ProxyServer::Start(*std::move(options), deps);
  if (!server.ok()) return tandem::StartupFailed("proxy", server.status());
  return tandem::ServeUntilTerminated(
      Ms(absl::GetFlag(FLAGS_shutdown_grace_ms)),
      [&](absl::Duration grace) { (*server)->Shutdown(grace); });
}
