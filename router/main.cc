// tandem-router: which billing system holds each customer.
#include <cstdlib>

#include "absl/flags/flag.h"
#include "common/config.h"
#include "common/grpc_server.h"
#include "common/log.h"
#include "common/service_main.h"
#include "router/router_server.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:7001", "gRPC address to serve on.");
ABSL_FLAG(std::string, metrics_listen, "0.0.0.0:9101",
          "Address of the Prometheus /metrics endpoint.");
ABSL_FLAG(std::string, tls_cert_file, "", "PEM certificate chain for TLS.");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key for TLS.");
ABSL_FLAG(std::string, db_url, "tcp://127.0.0.1:3306",
          "Control database: tcp://host:port or unix:///path/to/socket.");
ABSL_FLAG(std::string, db_user, "tandem", "Control database user.");
ABSL_FLAG(std::string, db_password_file, "",
          "File holding the control database password.");
ABSL_FLAG(std::string, db_name, "tandem_control", "Control database name.");
ABSL_FLAG(int, db_pool_size, 8, "Control database connections.");
ABSL_FLAG(std::string, auth_tokens_file, "",
          "Bearer tokens file: lines of `<name> <viewer|operator> <token>`.");
ABSL_FLAG(std::string, import_config_file, "",
          "Optional import queries (see router/import_source.h).");
ABSL_FLAG(int, poll_interval_ms, 10,
          "How often to poll the change log for other replicas' changes.");
ABSL_FLAG(int, change_retention_hours, 24 * 7,
          "Route changes older than this leave the change log (the newest "
          "100,000 always stay); 0 keeps them all.");
ABSL_FLAG(int, lease_check_interval_ms, 100,
          "How often to abort moves whose lease ran out.");
ABSL_FLAG(int, shutdown_grace_ms, 5000,
          "How long calls in flight may run after SIGTERM.");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");

int main(int argc, char** argv) {
  tandem::BlockTerminationSignals();
  tandem::ParseFlagsWithEnv(
      argc, argv,
      "tandem-router: serves the routing table. Every flag can also be set "
      "as TANDEM_<FLAG_NAME>.");
  tandem::InitLogging("router",
                      tandem::ParseLogLevel(absl::GetFlag(FLAGS_log_level)));

  tandem::router::RouterServerOptions options;
  options.grpc_address = absl::GetFlag(FLAGS_listen);
  options.metrics_address = absl::GetFlag(FLAGS_metrics_listen);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  options.db.pool_size = absl::GetFlag(FLAGS_db_pool_size);
  options.feed.retention =
      absl::Hours(absl::GetFlag(FLAGS_change_retention_hours));
  options.feed.poll_interval =
      absl::Milliseconds(absl::GetFlag(FLAGS_poll_interval_ms));
  options.leases.interval =
      absl::Milliseconds(absl::GetFlag(FLAGS_lease_check_interval_ms));

  using tandem::FileKind;
  using tandem::ReadFileFlag;
  using tandem::StartupFailed;
  absl::Status db = tandem::ApplyDbFlags("", options.db);
  if (!db.ok()) return StartupFailed("flags", db);
  absl::StatusOr<std::string> tokens =
      ReadFileFlag("auth_tokens_file", FileKind::kPlain);
  if (!tokens.ok()) return StartupFailed("flags", tokens.status());
  options.tokens = *tokens;
  if (!absl::GetFlag(FLAGS_import_config_file).empty()) {
    absl::StatusOr<std::string> config =
        ReadFileFlag("import_config_file", FileKind::kPlain);
    if (!config.ok()) return StartupFailed("flags", config.status());
    options.import_config = *config;
  }

  absl::StatusOr<std::unique_ptr<tandem::router::RouterServer>> server =
      tandem::router::RouterServer::Start(std::move(options));
  if (!server.ok()) return StartupFailed("start", server.status());
  return tandem::ServeUntilTerminated(
      absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms)),
      [&](absl::Duration grace) { (*server)->Shutdown(grace); });
}
