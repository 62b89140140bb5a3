// tandem-datagen: fills the source (v1) billing database with seeded demo
// customers and loads the product catalogs of both systems.
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/strings/str_format.h"
#include "common/config.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "testbed/base/schema.h"
#include "testbed/datagen/datagen.h"

ABSL_FLAG(std::string, source_db_url, "tcp://127.0.0.1:3306",
          "Source (v1) server: tcp://host:port or unix:///path/to/socket.");
ABSL_FLAG(std::string, target_db_url, "",
          "Target (v2) server; empty = the source server.");
ABSL_FLAG(std::string, db_user, "tandem", "Database user (both servers).");
ABSL_FLAG(std::string, db_password_file, "", "File holding its password.");
ABSL_FLAG(std::string, source_db, "billing_v1", "Source database name.");
ABSL_FLAG(std::string, target_db, "billing_v2", "Target database name.");
ABSL_FLAG(bool, reset, false,
          "Drop and re-create both databases first (destroys their data).");
ABSL_FLAG(int64_t, customers, 2000, "Customers to generate.");
ABSL_FLAG(int64_t, accounts, 0, "Accounts in total; 0 = 10 per customer.");
ABSL_FLAG(int64_t, xdrs, 0, "xDRs in total; 0 = 10 per account.");
ABSL_FLAG(int64_t, large_customers, -1,
          "Customers with --large_accounts accounts each; -1 = one per 2,000 "
          "customers, capped to fit the totals.");
ABSL_FLAG(int32_t, large_accounts, 1000, "Accounts of each large customer.");
ABSL_FLAG(int32_t, huge_accounts, -1,
          "Accounts of the one huge customer; 0 = none; -1 = 5,000 from "
          "2,000 customers on when the totals allow.");
ABSL_FLAG(double, at_limit_share, 0.02,
          "Share of usage rows exactly at their resource limit.");
ABSL_FLAG(uint64_t, seed, 1, "Seed: the same seed gives the same data.");
ABSL_FLAG(int, writers, 2, "Writer connections.");
ABSL_FLAG(int, batch_rows, 1000, "Rows per INSERT statement.");
ABSL_FLAG(int, password_iterations, 1000, "PBKDF2 iterations per password.");
ABSL_FLAG(std::string, product_map_out, "",
          "Write the product-code correspondence CSV here.");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");

namespace {

absl::Status Main() {
  using namespace tandem;
  using namespace tandem::testbed;
  TANDEM_ASSIGN_OR_RETURN(
      std::string password,
      ReadSecretFile(absl::GetFlag(FLAGS_db_password_file)));
  auto options = [&](const std::string& url, const std::string& db,
                     int pool_size) {
    MysqlOptions o;
    o.url = url;
    o.user = absl::GetFlag(FLAGS_db_user);
    o.password = password;
    o.database = db;
    o.pool_size = pool_size;
    o.io_timeout = absl::Minutes(10);
    o.name = db.empty() ? "server" : db;
    return o;
  };
  const std::string source_url = absl::GetFlag(FLAGS_source_db_url);
  const std::string target_url = absl::GetFlag(FLAGS_target_db_url).empty()
                                     ? source_url
                                     : absl::GetFlag(FLAGS_target_db_url);
  const std::string source_db = absl::GetFlag(FLAGS_source_db);
  const std::string target_db = absl::GetFlag(FLAGS_target_db);
  const bool reset = absl::GetFlag(FLAGS_reset);
  {
    TANDEM_ASSIGN_OR_RETURN(auto server,
                            MysqlPool::Create(options(source_url, "", 1)));
    TANDEM_RETURN_IF_ERROR(CreateDatabase(*server, source_db, reset));
  }
  {
    TANDEM_ASSIGN_OR_RETURN(auto server,
                            MysqlPool::Create(options(target_url, "", 1)));
    TANDEM_RETURN_IF_ERROR(CreateDatabase(*server, target_db, reset));
  }
  DatagenOptions gen;
  gen.seed = absl::GetFlag(FLAGS_seed);
  gen.customers = absl::GetFlag(FLAGS_customers);
  gen.accounts = absl::GetFlag(FLAGS_accounts) > 0
                     ? absl::GetFlag(FLAGS_accounts)
                     : gen.customers * 10;
  gen.xdrs = absl::GetFlag(FLAGS_xdrs) > 0 ? absl::GetFlag(FLAGS_xdrs)
                                           : gen.accounts * 10;
  gen.large_customers = absl::GetFlag(FLAGS_large_customers);
  gen.large_accounts = absl::GetFlag(FLAGS_large_accounts);
  gen.huge_accounts = absl::GetFlag(FLAGS_huge_accounts);
  gen.at_limit_share = absl::GetFlag(FLAGS_at_limit_share);
  gen.writers = absl::GetFlag(FLAGS_writers);
  gen.batch_rows = absl::GetFlag(FLAGS_batch_rows);
  gen.password_iterations = absl::GetFlag(FLAGS_password_iterations);

  TANDEM_ASSIGN_OR_RETURN(auto source,
                          MysqlPool::Create(options(source_url, source_db,
                                                    std::max(1, gen.writers))));
  TANDEM_ASSIGN_OR_RETURN(auto target,
                          MysqlPool::Create(options(target_url, target_db, 1)));
  TANDEM_RETURN_IF_ERROR(ApplySchema(*source, SchemaVersion::kV1));
  TANDEM_RETURN_IF_ERROR(ApplySchema(*target, SchemaVersion::kV2));
  TANDEM_RETURN_IF_ERROR(LoadCatalog(*source, SchemaVersion::kV1));
  TANDEM_RETURN_IF_ERROR(LoadCatalog(*target, SchemaVersion::kV2));
  if (!absl::GetFlag(FLAGS_product_map_out).empty()) {
    std::ofstream out(absl::GetFlag(FLAGS_product_map_out));
    out << ProductCorrespondenceCsv();
    if (!out) {
      return absl::PermissionDeniedError("cannot write --product_map_out");
    }
  }
  TANDEM_ASSIGN_OR_RETURN(DatagenReport r, GenerateCustomers(*source, gen));
  double seconds = absl::ToDoubleSeconds(r.elapsed);
  std::cout << absl::StrFormat(
      "customers=%d accounts=%d subscriptions=%d usage_rows=%d xdrs=%d "
      "transactions=%d invoices=%d payment_methods=%d api_tokens=%d "
      "rows=%d large_customers=%d largest_accounts=%d seconds=%.2f "
      "rows_per_second=%.0f\n",
      r.customers, r.accounts, r.subscriptions, r.usage_rows, r.xdrs,
      r.transactions, r.invoices, r.payment_methods, r.api_tokens, r.rows,
      r.large_customers, r.largest_accounts, seconds,
      r.rows / std::max(seconds, 1e-9));
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  tandem::ParseFlagsWithEnv(
      argc, argv,
      "tandem-datagen: loads seeded demo data into the source (v1) billing "
      "database and both catalogs. Every flag can also be set as "
      "TANDEM_<FLAG_NAME>.");
  tandem::InitLogging("datagen",
                      tandem::ParseLogLevel(absl::GetFlag(FLAGS_log_level)));
  absl::Status status = Main();
  if (!status.ok()) {
    TANDEM_LOG(Error, "datagen_failed").With("error", status.ToString());
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
