// tandem-catalog: the catalog freeze, product mapping between the two billing
// systems, and the rules that decide whether a customer can move.
#include <cstdlib>

#include "absl/flags/flag.h"
#include "catalog/catalog_server.h"
#include "common/config.h"
#include "common/grpc_server.h"
#include "common/log.h"

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
  auto fail = [](absl::string_view what, const absl::Status& status) {
    TANDEM_LOG(Error, "startup_failed")
        .With("step", what)
        .With("error", status.ToString());
    return EXIT_FAILURE;
  };

  tandem::catalog::CatalogServerOptions options;
  options.grpc_address = absl::GetFlag(FLAGS_listen);
  options.metrics_address = absl::GetFlag(FLAGS_metrics_listen);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  struct Db {
    tandem::MysqlOptions* options;
    std::string url, user, password_file, name, flag;
  };
  for (const Db& db : {
           Db{&options.control_db, absl::GetFlag(FLAGS_db_url),
              absl::GetFlag(FLAGS_db_user),
              absl::GetFlag(FLAGS_db_password_file),
              absl::GetFlag(FLAGS_db_name), "db_password_file"},
           Db{&options.source_db, absl::GetFlag(FLAGS_source_db_url),
              absl::GetFlag(FLAGS_source_db_user),
              absl::GetFlag(FLAGS_source_db_password_file),
              absl::GetFlag(FLAGS_source_db_name), "source_db_password_file"},
           Db{&options.target_db, absl::GetFlag(FLAGS_target_db_url),
              absl::GetFlag(FLAGS_target_db_user),
              absl::GetFlag(FLAGS_target_db_password_file),
              absl::GetFlag(FLAGS_target_db_name), "target_db_password_file"},
       }) {
    db.options->url = db.url;
    db.options->user = db.user;
    db.options->database = db.name;
    absl::StatusOr<std::string> password =
        tandem::ReadSecretFile(db.password_file);
    if (!password.ok()) return fail(db.flag, password.status());
    db.options->password = *password;
  }
  absl::StatusOr<std::string> tokens =
      tandem::ReadFile(absl::GetFlag(FLAGS_auth_tokens_file));
  if (!tokens.ok()) return fail("auth_tokens_file", tokens.status());
  options.tokens = *tokens;
  options.router_address = absl::GetFlag(FLAGS_router);
  absl::StatusOr<std::string> router_token =
      tandem::ReadSecretFile(absl::GetFlag(FLAGS_router_token_file));
  if (!router_token.ok()) {
    return fail("router_token_file", router_token.status());
  }
  options.router_token = *router_token;
  options.router_poll_interval =
      absl::Milliseconds(absl::GetFlag(FLAGS_router_poll_ms));
  options.refresh_interval =
      absl::Seconds(absl::GetFlag(FLAGS_refresh_interval_s));

  absl::StatusOr<std::unique_ptr<tandem::catalog::CatalogServer>> server =
      tandem::catalog::CatalogServer::Start(std::move(options));
  if (!server.ok()) return fail("start", server.status());

  std::string signal = tandem::WaitForTerminationSignal();
  TANDEM_LOG(Info, "shutting_down").With("signal", signal);
  (*server)->Shutdown(
      absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms)));
  TANDEM_LOG(Info, "stopped");
  return EXIT_SUCCESS;
}
