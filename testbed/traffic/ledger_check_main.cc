// tandem-ledger-check: proves from a charging ledger that the system holding
// each customer (the router says which) has every write exactly once,
// correctly converted, nothing extra, and balances that add up
// (ledger_check.h). Prints a verdict, every discrepancy and the balances.
// Exit status 0 when all holds, 1 on any discrepancy, 2 on other errors
// (bad flags, unreadable ledger, unreachable database or router).
#include <cstdlib>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/config.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "testbed/base/model.h"
#include "testbed/traffic/ledger_check.h"

ABSL_FLAG(std::string, ledger, "", "Ledger file written by tandem-traffic.");
ABSL_FLAG(std::string, source_db_url, "tcp://127.0.0.1:3306",
          "Source (v1) server.");
ABSL_FLAG(std::string, source_db_user, "tandem", "Its user.");
ABSL_FLAG(std::string, source_db_password_file, "",
          "File holding its password.");
ABSL_FLAG(std::string, source_db, "billing_v1", "Source database.");
ABSL_FLAG(std::string, target_db_url, "",
          "Target (v2) server; empty = none (every customer must then be "
          "held by the source).");
ABSL_FLAG(std::string, target_db_user, "tandem", "Its user.");
ABSL_FLAG(std::string, target_db_password_file, "",
          "File holding its password; empty = the source's.");
ABSL_FLAG(std::string, target_db, "billing_v2", "Target database.");
ABSL_FLAG(std::string, router_address, "",
          "The router (host:port) that says who holds each customer.");
ABSL_FLAG(std::string, router_token_file, "",
          "File holding a router token (viewer role or above).");
ABSL_FLAG(bool, all_on_source, false,
          "No router: take every customer to be held by the source.");
ABSL_FLAG(std::string, balances, "customers",
          "Balances to print: none, customers (each customer's own) or all "
          "(accounts too).");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");

namespace {

using namespace tandem::testbed;

absl::StatusOr<std::unique_ptr<tandem::MysqlPool>> Pool(
    const char* which, const std::string& url, const std::string& user,
    const std::string& password_file, const std::string& db) {
  tandem::MysqlOptions o;
  o.url = url;
  o.user = user;
  absl::StatusOr<std::string> password = tandem::ReadSecretFile(password_file);
  if (!password.ok()) {
    return absl::Status(password.status().code(),
                        absl::StrCat("--", which, "_db_password_file: ",
                                     password.status().message()));
  }
  o.password = *password;
  o.database = db;
  o.pool_size = 2;
  o.name = which;
  absl::StatusOr<std::unique_ptr<tandem::MysqlPool>> pool =
      tandem::MysqlPool::Create(o);
  if (!pool.ok()) {
    return absl::Status(pool.status().code(),
                        absl::StrCat("the ", which, " database ", db, " at ",
                                     url, ": ", pool.status().message()));
  }
  return pool;
}

absl::StatusOr<LedgerCheckResult> Run() {
  const std::string router = absl::GetFlag(FLAGS_router_address);
  const bool all_on_source = absl::GetFlag(FLAGS_all_on_source);
  if (absl::GetFlag(FLAGS_ledger).empty()) {
    return absl::InvalidArgumentError("--ledger is required");
  }
  if (router.empty() == !all_on_source) {
    return absl::InvalidArgumentError(
        "give --router_address (who holds each customer) or --all_on_source");
  }
  const std::string balances = absl::GetFlag(FLAGS_balances);
  if (balances != "none" && balances != "customers" && balances != "all") {
    return absl::InvalidArgumentError(
        "--balances must be none, customers or all");
  }
  std::unique_ptr<HolderSource> holders;
  if (all_on_source) {
    holders = std::make_unique<SourceOnlyHolders>();
  } else {
    absl::StatusOr<std::string> token =
        tandem::ReadSecretFile(absl::GetFlag(FLAGS_router_token_file));
    if (!token.ok()) {
      return absl::Status(
          token.status().code(),
          absl::StrCat("--router_token_file: ", token.status().message()));
    }
    holders = RouterHolders(router, *token);
  }
  TANDEM_ASSIGN_OR_RETURN(auto source,
                          Pool("source", absl::GetFlag(FLAGS_source_db_url),
                               absl::GetFlag(FLAGS_source_db_user),
                               absl::GetFlag(FLAGS_source_db_password_file),
                               absl::GetFlag(FLAGS_source_db)));
  std::unique_ptr<tandem::MysqlPool> target;
  if (!absl::GetFlag(FLAGS_target_db_url).empty()) {
    std::string password_file = absl::GetFlag(FLAGS_target_db_password_file);
    if (password_file.empty()) {
      password_file = absl::GetFlag(FLAGS_source_db_password_file);
    }
    TANDEM_ASSIGN_OR_RETURN(
        target, Pool("target", absl::GetFlag(FLAGS_target_db_url),
                     absl::GetFlag(FLAGS_target_db_user), password_file,
                     absl::GetFlag(FLAGS_target_db)));
  }
  return CheckLedger(absl::GetFlag(FLAGS_ledger), *source, target.get(),
                     *holders);
}

void Print(const LedgerCheckResult& r) {
  std::cout << absl::StrFormat(
      "%s: %d writes of %d customers (%d held by the source, %d by the "
      "target; %d written on the target, %d route-blind), %d rows, settings "
      "and usage checked, %d rounded within v1's precision\n",
      r.ok() ? "OK" : "FAILED", r.entries, r.customers, r.on_source,
      r.on_target, r.written_on_target, r.blind, r.rows_checked, r.rounded);
  std::cout << absl::StrFormat(
      "missing=%d duplicates=%d wrong_values=%d wrong_balances=%d extra=%d "
      "unsettled=%d\n",
      r.missing, r.duplicates, r.wrong_values, r.wrong_balances, r.extra,
      r.unsettled);
  for (const std::string& p : r.problems) std::cout << "  " << p << "\n";
  const std::string which = absl::GetFlag(FLAGS_balances);
  if (which == "none") return;
  int64_t accounts = 0, accounts_ok = 0;
  for (const BalanceLine& b : r.balances) {
    if (b.account_id) {
      ++accounts;
      accounts_ok += b.ok();
      if (which != "all") continue;
    }
    std::cout << absl::StrFormat(
        "  %s customer %d%s on %s: balance %s = opening %s + %d "
        "transactions %s\n",
        b.ok() ? "ok " : "BAD", b.customer_id,
        b.account_id ? absl::StrCat(" account ", *b.account_id) : "",
        b.on_target ? "target" : "source", MicrosToDecimal(b.balance_micros),
        MicrosToDecimal(b.opening_micros), b.transactions,
        MicrosToDecimal(b.transactions_micros));
  }
  std::cout << absl::StrFormat(
      "  accounts: %d of %d balances equal opening + transactions\n",
      accounts_ok, accounts);
}

}  // namespace

int main(int argc, char** argv) {
  tandem::ParseFlagsWithEnv(
      argc, argv,
      "tandem-ledger-check: verifies a charging ledger against the billing "
      "system that holds each customer. Every flag can also be set as "
      "TANDEM_<FLAG_NAME>.");
  tandem::InitLogging("ledger_check",
                      tandem::ParseLogLevel(absl::GetFlag(FLAGS_log_level)));
  absl::StatusOr<LedgerCheckResult> result = Run();
  if (!result.ok()) {
    std::cerr << "tandem-ledger-check: " << result.status() << "\n";
    return 2;
  }
  Print(*result);
  return result->ok() ? EXIT_SUCCESS : 1;
}
