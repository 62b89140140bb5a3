// tandem-catalog: the catalog freeze, product mapping between the two billing
// systems, and the rules that decide whether a customer can move.
#include <cstdlib>

#include "absl/flags/flag.h"
#include "catalog/catalog_server.h"
#include "common/config.h"
#include "common/grpc_server.h"
#include "common/log.h"
#include "common/service_main.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:7003", "gRPC address to serve on.");
ABSL_FLAG(std::string, metrics_listen, "0.0.0.0:9103",
          "Address of the Prometheus /metrics endpoint.");
ABSL_FLAG(std::string, tls_cert_file, "", "PEM certificate chain for TLS.");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key for TLS.");
ABSL_FLAG(std::string, db_url, "tcp://127.0.0.1:3306",
          "Control database: tcp://host:port or unix:///path/to/socket.");
ABSL_FLAG(std::string, db_user, "tandem", "Control database user.");
ABSL_FLAG(std::string, db_password_file, "",
          "File holding the control database password.");
ABSL_FLAG(std::string, db_name, "tandem_control", "Control database name.");
ABSL_FLAG(std::string, source_db_url, "tcp://127.0.0.1:3306",
          "Source billing database (schema v1).");
ABSL_FLAG(std::string, source_db_user, "tandem", "Source database user.");
ABSL_FLAG(std::string, source_db_password_file, "",
          "File holding the source database password.");
ABSL_FLAG(std::string, source_db_name, "billing_v1", "Source database name.");
ABSL_FLAG(std::string, target_db_url, "tcp://127.0.0.1:3306",
          "Target billing database (schema v2).");
ABSL_FLAG(std::string, target_db_user, "tandem", "Target database user.");
ABSL_FLAG(std::string, target_db_password_file, "",
          "File holding the target database password.");
ABSL_FLAG(std::string, target_db_name, "billing_v2", "Target database name.");
ABSL_FLAG(std::string, auth_tokens_file, "",
          "Bearer tokens file: lines of `<name> <viewer|operator> <token>`.");
ABSL_FLAG(std::string, router, "127.0.0.1:7001", "The router's gRPC address.");
ABSL_FLAG(std::string, router_token_file, "",
          "File holding the bearer token for the router (viewer role).");
ABSL_FLAG(int, router_poll_ms, 2000,
          "How often to re-read the router's counts when no change arrives.");
ABSL_FLAG(int, refresh_interval_s, 60,
          "How often to re-read products from the billing databases; 0 "
          "turns it off.");
ABSL_FLAG(int, shutdown_grace_ms, 5000,
          "How long calls in flight may run after SIGTERM.");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");

int main(int argc, char** argv) {
  tandem::BlockTerminationSignals();
  tandem::ParseFlagsWithEnv(
      argc, argv,
      "tandem-catalog: the catalog freeze, product mappings and move "
      "planning. Every flag can also be set as TANDEM_<FLAG_NAME>.");
  tandem::InitLogging("catalog",
                      tandem::ParseLogLevel(absl::GetFlag(FLAGS_log_level)));
  using tandem::StartupFailed;
  tandem::catalog::CatalogServerOptions options;
  options.grpc_address = absl::GetFlag(FLAGS_listen);
  options.metrics_address = absl::GetFlag(FLAGS_metrics_listen);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  for (auto [prefix, db] : {std::pair{"", &options.control_db},
                            std::pair{"source_", &options.source_db},
                            std::pair{"target_", &options.target_db}}) {
    absl::Status applied = tandem::ApplyDbFlags(prefix, *db);
    if (!applied.ok()) return StartupFailed("flags", applied);
  }
  absl::StatusOr<std::string> tokens =
      tandem::ReadFileFlag("auth_tokens_file", tandem::FileKind::kPlain);
  if (!tokens.ok()) return StartupFailed("flags", tokens.status());
  options.tokens = *tokens;
  options.router_address = absl::GetFlag(FLAGS_router);
  absl::StatusOr<std::string> router_token =
      tandem::ReadFileFlag("router_token_file", tandem::FileKind::kSecret);
  if (!router_token.ok()) return StartupFailed("flags", router_token.status());
  options.router_token = *router_token;
  options.router_poll_interval =
      absl::Milliseconds(absl::GetFlag(FLAGS_router_poll_ms));
  options.refresh_interval =
      absl::Seconds(absl::GetFlag(FLAGS_refresh_interval_s));

  absl::StatusOr<std::unique_ptr<tandem::catalog::CatalogServer>> server =
      tandem::catalog::CatalogServer::Start(std::move(options));
  if (!server.ok()) return StartupFailed("start", server.status());

  return tandem::ServeUntilTerminated(
      absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms)),
      [&](absl::Duration grace) { (*server)->Shutdown(grace); });
}
