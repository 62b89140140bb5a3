// tandem-migrator: moves customers between the two billing systems.
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_split.h"
#include "common/config.h"
#include "common/grpc_server.h"
#include "common/log.h"
#include "migrator/migrator_server.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:7005", "gRPC address to serve on.");
ABSL_FLAG(std::string, metrics_listen, "0.0.0.0:9105",
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
          "Source (v1) billing server.");
ABSL_FLAG(std::string, source_db_user, "tandem", "Source database user.");
ABSL_FLAG(std::string, source_db_password_file, "",
          "File holding the source database password.");
ABSL_FLAG(std::string, source_db_name, "billing_v1", "Source database name.");
ABSL_FLAG(std::string, target_db_url, "tcp://127.0.0.1:3306",
          "Target (v2) billing server.");
ABSL_FLAG(std::string, target_db_user, "tandem", "Target database user.");
ABSL_FLAG(std::string, target_db_password_file, "",
          "File holding the target database password.");
ABSL_FLAG(std::string, target_db_name, "billing_v2", "Target database name.");
ABSL_FLAG(std::string, bookkeeping_db, "tandem_migrator",
          "The migrator's own database on each billing server.");
ABSL_FLAG(std::string, mapping_file, "migrator/mapping/v1_v2.yaml",
          "The declarative schema mapping.");
ABSL_FLAG(std::string, auth_tokens_file, "",
          "Bearer tokens file: lines of `<name> <viewer|operator> <token>`.");
ABSL_FLAG(std::string, router, "127.0.0.1:7001", "The router's gRPC address.");
ABSL_FLAG(std::string, router_token_file, "",
          "File holding the token the migrator presents to the router "
          "(operator role).");
ABSL_FLAG(std::string, catalog, "127.0.0.1:7003",
          "The catalog's gRPC address.");
ABSL_FLAG(std::string, catalog_token_file, "",
          "File holding the token the migrator presents to the catalog.");
ABSL_FLAG(std::string, replica_name, "",
          "This replica's name in item claims; default: host name and pid.");
ABSL_FLAG(int, parallelism, 4, "Customers worked on at once.");
ABSL_FLAG(int, cutover_timeout_ms, 5000,
          "The longest a customer stays MIGRATING (its route's lease); keep "
          "it below the proxy's hold timeout.");
ABSL_FLAG(int, tail_window_s, 300,
          "How long late writes on the old system are carried after a flip.");
ABSL_FLAG(int, tail_interval_ms, 1000, "How often the tail looks for them.");
ABSL_FLAG(int, late_write_check_interval_s, 60,
          "How often customers moved in the last day are checked for writes "
          "on the old system after their tail window (an alarm).");
ABSL_FLAG(int, item_lease_ms, 30000,
          "How long a replica's claim on a customer lasts without renewal; "
          "another replica takes the customer over after it.");
ABSL_FLAG(int, shutdown_grace_ms, 15000,
          "How long customers in flight may take to finish after SIGTERM.");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");

int main(int argc, char** argv) {
  tandem::BlockTerminationSignals();
  tandem::ParseFlagsWithEnv(
      argc, argv,
      "tandem-migrator: moves customers between the billing systems. Every "
      "flag can also be set as TANDEM_<FLAG_NAME>.");
  tandem::InitLogging("migrator",
                      tandem::ParseLogLevel(absl::GetFlag(FLAGS_log_level)));
  auto fail = [](absl::string_view what, const absl::Status& status) {
    TANDEM_LOG(Error, "startup_failed")
        .With("step", what)
        .With("error", status.ToString());
    return EXIT_FAILURE;
  };
  tandem::migrator::MigratorServerOptions o;
  o.grpc_address = absl::GetFlag(FLAGS_listen);
  o.metrics_address = absl::GetFlag(FLAGS_metrics_listen);
  o.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  o.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  struct Db {
    tandem::MysqlOptions* options;
    std::string url, user, password_file, name, flag;
  };
  for (const Db& db :
       {Db{&o.control_db, absl::GetFlag(FLAGS_db_url),
           absl::GetFlag(FLAGS_db_user), absl::GetFlag(FLAGS_db_password_file),
           absl::GetFlag(FLAGS_db_name), "db_password_file"},
        Db{&o.source_db, absl::GetFlag(FLAGS_source_db_url),
           absl::GetFlag(FLAGS_source_db_user),
           absl::GetFlag(FLAGS_source_db_password_file),
           absl::GetFlag(FLAGS_source_db_name), "source_db_password_file"},
        Db{&o.target_db, absl::GetFlag(FLAGS_target_db_url),
           absl::GetFlag(FLAGS_target_db_user),
           absl::GetFlag(FLAGS_target_db_password_file),
           absl::GetFlag(FLAGS_target_db_name), "target_db_password_file"}}) {
    db.options->url = db.url;
    db.options->user = db.user;
    db.options->database = db.name;
    absl::StatusOr<std::string> password =
        tandem::ReadSecretFile(db.password_file);
    if (!password.ok()) return fail(db.flag, password.status());
    db.options->password = *password;
  }
  o.bookkeeping_db = absl::GetFlag(FLAGS_bookkeeping_db);
  o.mapping_file = absl::GetFlag(FLAGS_mapping_file);
  absl::StatusOr<std::string> tokens =
      tandem::ReadFile(absl::GetFlag(FLAGS_auth_tokens_file));
  if (!tokens.ok()) return fail("auth_tokens_file", tokens.status());
  o.tokens = *tokens;
  o.router_address = absl::GetFlag(FLAGS_router);
  o.catalog_address = absl::GetFlag(FLAGS_catalog);
  absl::StatusOr<std::string> router_token =
      tandem::ReadSecretFile(absl::GetFlag(FLAGS_router_token_file));
  if (!router_token.ok())
    return fail("router_token_file", router_token.status());
  o.router_token = *router_token;
  absl::StatusOr<std::string> catalog_token =
      tandem::ReadSecretFile(absl::GetFlag(FLAGS_catalog_token_file));
  if (!catalog_token.ok()) {
    return fail("catalog_token_file", catalog_token.status());
  }
  o.catalog_token = *catalog_token;
  std::string replica = absl::GetFlag(FLAGS_replica_name);
  if (replica.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    replica = std::string(host) + "-" + std::to_string(getpid());
  }
  o.backend.worker = replica;
  o.backend.parallelism = absl::GetFlag(FLAGS_parallelism);
  o.backend.item_lease = absl::Milliseconds(absl::GetFlag(FLAGS_item_lease_ms));
  o.backend.sentinel_interval =
      absl::Seconds(absl::GetFlag(FLAGS_late_write_check_interval_s));
  // Crash tests: TANDEM_MIGRATOR_CRASH_AT names mover points ("before_flip",
  // "after_flip", ...; comma-separated) where the process dies at once, as
  // if killed there. Never set in production.
  if (const char* crash = std::getenv("TANDEM_MIGRATOR_CRASH_AT");
      crash != nullptr && *crash != '\0') {
    std::vector<std::string> points = absl::StrSplit(crash, ',');
    o.mover.fault = [points](const std::string& point, int64_t customer) {
      for (const std::string& p : points) {
        if (p == point) {
          TANDEM_LOG(Warning, "crash_point")
              .With("point", point)
              .With("customer_id", customer);
          _exit(137);
        }
      }
      return absl::OkStatus();
    };
  }
  o.mover.cutover_timeout =
      absl::Milliseconds(absl::GetFlag(FLAGS_cutover_timeout_ms));
  o.mover.tail_window = absl::Seconds(absl::GetFlag(FLAGS_tail_window_s));
  o.mover.tail_interval =
      absl::Milliseconds(absl::GetFlag(FLAGS_tail_interval_ms));

  absl::StatusOr<std::unique_ptr<tandem::migrator::MigratorServer>> server =
      tandem::migrator::MigratorServer::Start(std::move(o));
  if (!server.ok()) return fail("start", server.status());
  std::string signal = tandem::WaitForTerminationSignal();
  TANDEM_LOG(Info, "shutting_down").With("signal", signal);
  (*server)->Shutdown(
      absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms)));
  TANDEM_LOG(Info, "stopped");
  return EXIT_SUCCESS;
}
