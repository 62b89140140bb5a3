// tandem-migrator: moves customers between the two billing systems.
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_split.h"
#include "common/config.h"
#include "common/grpc_server.h"
#include "common/log.h"
#include "common/service_main.h"
#include "common/status_macros.h"
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
ABSL_FLAG(int, tail_threads, 4,
          "Threads that run the tail passes of flipped customers.");
ABSL_FLAG(int, tail_quiet_backoff, 8,
          "A tailing customer with nothing to carry is probed again after up "
          "to this many tail intervals (doubling while it stays quiet; "
          "never past the end of its window).");
ABSL_FLAG(int, late_write_check_interval_s, 60,
          "How often customers moved in the last day are checked for writes "
          "on the old system after their tail window (an alarm).");
ABSL_FLAG(int, item_lease_ms, 30000,
          "How long a replica's claim on a customer lasts without renewal; "
          "another replica takes the customer over after it.");
ABSL_FLAG(int, shutdown_grace_ms, 15000,
          "How long customers in flight may take to finish after SIGTERM.");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");

namespace {

// This replica's name in item claims: the flag, or host-pid.
std::string ReplicaName() {
  std::string replica = absl::GetFlag(FLAGS_replica_name);
  if (!replica.empty()) return replica;
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return std::string(host) + "-" + std::to_string(getpid());
}

// Crash tests: TANDEM_MIGRATOR_CRASH_AT names mover points ("before_flip",
// "after_flip", ...; comma-separated) where the process dies at once, as if
// killed there. Never set in production; unset, no fault hook.
std::function<absl::Status(const std::string&, int64_t)>
CrashPointsFromEnvironment() {
  const char* crash = std::getenv("TANDEM_MIGRATOR_CRASH_AT");
  if (crash == nullptr || *crash == '\0') return nullptr;
  std::vector<std::string> points = absl::StrSplit(crash, ',');
  return [points](const std::string& point, int64_t customer) {
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

// The server's options from the flags; the error names the flag at fault.
absl::StatusOr<tandem::migrator::MigratorServerOptions> OptionsFromFlags() {
  tandem::migrator::MigratorServerOptions o;
  o.grpc_address = absl::GetFlag(FLAGS_listen);
  o.metrics_address = absl::GetFlag(FLAGS_metrics_listen);
  o.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  o.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  for (auto [prefix, db] :
       {std::pair{"", &o.control_db}, std::pair{"source_", &o.source_db},
        std::pair{"target_", &o.target_db}}) {
    TANDEM_RETURN_IF_ERROR(tandem::ApplyDbFlags(prefix, *db));
  }
  o.bookkeeping_db = absl::GetFlag(FLAGS_bookkeeping_db);
  o.mapping_file = absl::GetFlag(FLAGS_mapping_file);
  using tandem::FileKind;
  using tandem::ReadFileFlag;
  TANDEM_ASSIGN_OR_RETURN(o.tokens,
                          ReadFileFlag("auth_tokens_file", FileKind::kPlain));
  o.router_address = absl::GetFlag(FLAGS_router);
  o.catalog_address = absl::GetFlag(FLAGS_catalog);
  TANDEM_ASSIGN_OR_RETURN(o.router_token,
                          ReadFileFlag("router_token_file", FileKind::kSecret));
  TANDEM_ASSIGN_OR_RETURN(
      o.catalog_token, ReadFileFlag("catalog_token_file", FileKind::kSecret));
  o.backend.worker = ReplicaName();
  o.backend.parallelism = absl::GetFlag(FLAGS_parallelism);
  o.backend.tail_threads = absl::GetFlag(FLAGS_tail_threads);
  o.backend.tail_quiet_backoff = absl::GetFlag(FLAGS_tail_quiet_backoff);
  o.backend.item_lease = absl::Milliseconds(absl::GetFlag(FLAGS_item_lease_ms));
  o.backend.sentinel_interval =
      absl::Seconds(absl::GetFlag(FLAGS_late_write_check_interval_s));
  o.mover.fault = CrashPointsFromEnvironment();
  o.mover.cutover_timeout =
      absl::Milliseconds(absl::GetFlag(FLAGS_cutover_timeout_ms));
  o.mover.tail_window = absl::Seconds(absl::GetFlag(FLAGS_tail_window_s));
  o.mover.tail_interval =
      absl::Milliseconds(absl::GetFlag(FLAGS_tail_interval_ms));
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  tandem::BlockTerminationSignals();
  tandem::ParseFlagsWithEnv(
      argc, argv,
      "tandem-migrator: moves customers between the billing systems. Every "
      "flag can also be set as TANDEM_<FLAG_NAME>.");
  tandem::InitLogging("migrator",
                      tandem::ParseLogLevel(absl::GetFlag(FLAGS_log_level)));
  absl::StatusOr<tandem::migrator::MigratorServerOptions> options =
      OptionsFromFlags();
  if (!options.ok()) return tandem::StartupFailed("flags", options.status());
  absl::StatusOr<std::unique_ptr<tandem::migrator::MigratorServer>> server =
      tandem::migrator::MigratorServer::Start(*std::move(options));
  if (!server.ok()) return tandem::StartupFailed("start", server.status());
  return tandem::ServeUntilTerminated(
      absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms)),
      [&](absl::Duration grace) { (*server)->Shutdown(grace); });
}
