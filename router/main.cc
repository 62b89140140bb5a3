// tandem-router: which billing system holds each customer.
#include <cstdlib>

#include "absl/flags/flag.h"
#include "common/config.h"
#include "common/grpc_server.h"
#include "common/log.h"
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
  options.db.url = absl::GetFlag(FLAGS_db_url);
  options.db.user = absl::GetFlag(FLAGS_db_user);
  options.db.database = absl::GetFlag(FLAGS_db_name);
  options.db.pool_size = absl::GetFlag(FLAGS_db_pool_size);
  options.feed.retention =
      absl::Hours(absl::GetFlag(FLAGS_change_retention_hours));
  options.feed.poll_interval =
      absl::Milliseconds(absl::GetFlag(FLAGS_poll_interval_ms));
  options.leases.interval =
      absl::Milliseconds(absl::GetFlag(FLAGS_lease_check_interval_ms));

  auto fail = [](absl::string_view what, const absl::Status& status) {
    TANDEM_LOG(Error, "startup_failed")
        .With("step", what)
        .With("error", status.ToString());
    return EXIT_FAILURE;
  };
  absl::StatusOr<std::string> password =
      tandem::ReadSecretFile(absl::GetFlag(FLAGS_db_password_file));
  if (!password.ok()) return fail("db_password_file", password.status());
  options.db.password = *password;
  absl::StatusOr<std::string> tokens =
      tandem::ReadFile(absl::GetFlag(FLAGS_auth_tokens_file));
  if (!tokens.ok()) return fail("auth_tokens_file", tokens.status());
  options.tokens = *tokens;
  if (!absl::GetFlag(FLAGS_import_config_file).empty()) {
    absl::StatusOr<std::string> config =
        tandem::ReadFile(absl::GetFlag(FLAGS_import_config_file));
    if (!config.ok()) return fail("import_config_file", config.status());
    options.import_config = *config;
  }

  absl::StatusOr<std::unique_ptr<tandem::router::RouterServer>> server =
      tandem::router::RouterServer::Start(std::move(options));
  if (!server.ok()) return fail("start", server.status());

  std::string signal = tandem::WaitForTerminationSignal();
  TANDEM_LOG(Info, "shutting_down").With("signal", signal);
  (*server)->Shutdown(
      absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms)));
  TANDEM_LOG(Info, "stopped");
  return EXIT_SUCCESS;
}
