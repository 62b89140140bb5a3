// tandem-billing-sim: a stand-in for one billing system (schema v1 or v2):
// customer portal and API, admin product API, over a real MariaDB schema.
#include <csignal>
#include <cstdlib>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/config.h"
#include "common/grpc_server.h"
#include "common/log.h"
#include "testbed/sim/sim_server.h"

ABSL_FLAG(std::string, schema, "v1", "Schema version served: v1 or v2.");
ABSL_FLAG(std::string, listen_address, "0.0.0.0", "HTTP address.");
ABSL_FLAG(int, port, 8081, "HTTP port (0 picks a free one).");
ABSL_FLAG(int, io_threads, 2, "HTTP I/O threads.");
ABSL_FLAG(int, worker_threads, 16, "Threads for requests that use the DB.");
ABSL_FLAG(std::string, db_url, "tcp://127.0.0.1:3306",
          "Billing database: tcp://host:port or unix:///path/to/socket.");
ABSL_FLAG(std::string, db_user, "tandem", "Billing database user.");
ABSL_FLAG(std::string, db_password_file, "",
          "File holding the billing database password.");
ABSL_FLAG(std::string, db_name, "", "Database; default billing_<schema>.");
ABSL_FLAG(int, db_pool_size, 16, "Billing database connections.");
ABSL_FLAG(bool, create_schema, false, "Create missing tables at start-up.");
ABSL_FLAG(std::string, admin_token_file, "",
          "File holding the admin API bearer token; none = admin API off.");
ABSL_FLAG(int, session_ttl_seconds, 8 * 3600, "Portal session lifetime.");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");

int main(int argc, char** argv) {
  tandem::BlockTerminationSignals();
  tandem::ParseFlagsWithEnv(
      argc, argv,
      "tandem-billing-sim: serves one billing system's portal and API. "
      "Every flag can also be set as TANDEM_<FLAG_NAME>.");
  tandem::InitLogging("billing_sim",
                      tandem::ParseLogLevel(absl::GetFlag(FLAGS_log_level)));
  auto fail = [](absl::string_view step, const absl::Status& status) {
    TANDEM_LOG(Error, "startup_failed")
        .With("step", step)
        .With("error", status.ToString());
    return EXIT_FAILURE;
  };
  absl::StatusOr<tandem::testbed::SchemaVersion> version =
      tandem::testbed::ParseVersion(absl::GetFlag(FLAGS_schema));
  if (!version.ok()) return fail("schema", version.status());

  tandem::testbed::SimOptions options;
  options.version = *version;
  options.create_schema = absl::GetFlag(FLAGS_create_schema);
  options.db.url = absl::GetFlag(FLAGS_db_url);
  options.db.user = absl::GetFlag(FLAGS_db_user);
  options.db.database =
      absl::GetFlag(FLAGS_db_name).empty()
          ? absl::StrCat("billing_", absl::GetFlag(FLAGS_schema))
          : absl::GetFlag(FLAGS_db_name);
  options.db.pool_size = absl::GetFlag(FLAGS_db_pool_size);
  options.db.name = absl::GetFlag(FLAGS_schema);
  absl::StatusOr<std::string> password =
      tandem::ReadSecretFile(absl::GetFlag(FLAGS_db_password_file));
  if (!password.ok()) return fail("db_password_file", password.status());
  options.db.password = *password;
  if (!absl::GetFlag(FLAGS_admin_token_file).empty()) {
    absl::StatusOr<std::string> token =
        tandem::ReadSecretFile(absl::GetFlag(FLAGS_admin_token_file));
    if (!token.ok()) return fail("admin_token_file", token.status());
    options.portal.admin_token = *token;
  }
  options.portal.session_ttl =
      absl::Seconds(absl::GetFlag(FLAGS_session_ttl_seconds));
  options.http.address = absl::GetFlag(FLAGS_listen_address);
  options.http.port = absl::GetFlag(FLAGS_port);
  options.http.io_threads = absl::GetFlag(FLAGS_io_threads);
  options.http.worker_threads = absl::GetFlag(FLAGS_worker_threads);

  absl::StatusOr<std::unique_ptr<tandem::testbed::SimServer>> server =
      tandem::testbed::SimServer::Start(std::move(options));
  if (!server.ok()) return fail("start", server.status());
  TANDEM_LOG(Info, "serving")
      .With("schema", absl::GetFlag(FLAGS_schema))
      .With("port", (*server)->port());
  std::string signal = tandem::WaitForTerminationSignal();
  TANDEM_LOG(Info, "shutting_down").With("signal", signal);
  server->reset();
  return EXIT_SUCCESS;
}
