// tandem-ledger-check: proves from a charging ledger that every write is
// present and unchanged on the system holding its customer. Exit status 0
// when all are, 1 when a row is missing or altered, 2 on other errors.
#include <cstdlib>
#include <iostream>

#include "absl/flags/flag.h"
#include "common/config.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "testbed/traffic/ledger_check.h"

ABSL_FLAG(std::string, ledger, "", "Ledger file written by tandem-traffic.");
ABSL_FLAG(std::string, source_db_url, "tcp://127.0.0.1:3306",
          "Source (v1) server.");
ABSL_FLAG(std::string, target_db_url, "",
          "Target (v2) server; empty = the source server.");
ABSL_FLAG(std::string, db_user, "tandem", "Database user (both servers).");
ABSL_FLAG(std::string, db_password_file, "", "File holding its password.");
ABSL_FLAG(std::string, source_db, "billing_v1", "Source database.");
ABSL_FLAG(std::string, target_db, "billing_v2", "Target database.");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");

int main(int argc, char** argv) {
  tandem::ParseFlagsWithEnv(
      argc, argv,
      "tandem-ledger-check: verifies a charging ledger against the billing "
      "databases. Every flag can also be set as TANDEM_<FLAG_NAME>.");
  tandem::InitLogging("ledger_check",
                      tandem::ParseLogLevel(absl::GetFlag(FLAGS_log_level)));
  auto run = []() -> absl::StatusOr<tandem::testbed::LedgerCheckResult> {
    tandem::MysqlOptions source;
    source.url = absl::GetFlag(FLAGS_source_db_url);
    source.user = absl::GetFlag(FLAGS_db_user);
    TANDEM_ASSIGN_OR_RETURN(
        source.password,
        tandem::ReadSecretFile(absl::GetFlag(FLAGS_db_password_file)));
    source.database = absl::GetFlag(FLAGS_source_db);
    source.pool_size = 2;
    source.name = "source";
    tandem::MysqlOptions target = source;
    if (!absl::GetFlag(FLAGS_target_db_url).empty()) {
      target.url = absl::GetFlag(FLAGS_target_db_url);
    }
    target.database = absl::GetFlag(FLAGS_target_db);
    target.name = "target";
    TANDEM_ASSIGN_OR_RETURN(auto source_pool,
                            tandem::MysqlPool::Create(source));
    TANDEM_ASSIGN_OR_RETURN(auto target_pool,
                            tandem::MysqlPool::Create(target));
    return tandem::testbed::CheckLedger(absl::GetFlag(FLAGS_ledger),
                                        *source_pool, target_pool.get());
  };
  absl::StatusOr<tandem::testbed::LedgerCheckResult> result = run();
  if (!result.ok()) {
    TANDEM_LOG(Error, "ledger_check_failed")
        .With("error", result.status().ToString());
    return 2;
  }
  std::cout << "entries=" << result->entries
            << " rows_checked=" << result->rows_checked
            << " on_source=" << result->on_source
            << " on_target=" << result->on_target
            << " missing=" << result->missing << " altered=" << result->altered
            << "\n";
  for (const std::string& p : result->problems) std::cout << p << "\n";
  return result->ok() ? EXIT_SUCCESS : 1;
}
