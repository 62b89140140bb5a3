// The data generator: fills the source (v1) database with customers and the
// catalogs of both systems, deterministically from a seed.
//
// Every id is assigned by the generator (not AUTO_INCREMENT), so the same
// options give the same rows, byte for byte, whatever the number of writer
// threads. Customer i (1-based) has login DemoLogin(i), password
// DemoPassword(i) and one API token DemoApiToken(i) (testbed/base/model.h).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mysql_pool.h"
#include "testbed/base/model.h"

namespace tandem::testbed {

struct DatagenOptions {
  uint64_t seed = 1;
  // Customers, and exact totals of accounts and xDRs spread over them: most
  // customers get 1-20 accounts, about one in 2,000 gets 1,000-5,000.
  // Requires customers <= accounts <= about 20 * customers.
  int64_t customers = 2000;
  int64_t accounts = 20000;
  int64_t xdrs = 200000;
  // Writer threads (each a connection) and rows per INSERT.
  int writers = 2;
  int batch_rows = 1000;
  // PBKDF2 iterations of the password hashes.
  int password_iterations = 1000;
};

struct DatagenReport {
  int64_t customers = 0;
  int64_t accounts = 0;
  int64_t subscriptions = 0;
  int64_t usage_rows = 0;
  int64_t xdrs = 0;
  int64_t transactions = 0;
  int64_t invoices = 0;
  int64_t payment_methods = 0;
  int64_t api_tokens = 0;
  int64_t rows = 0;  // all of the above
  absl::Duration elapsed;
};

// Writes DemoCatalog(version) (resource classes and types, payment systems,
// products, limits, add-ons) into the pool's database, which must hold the
// schema of `version`. ALREADY_EXISTS if a catalog is there already.
absl::Status LoadCatalog(MysqlPool& pool, SchemaVersion version);

// Generates customers with everything they own into a v1 database that
// holds the v1 catalog and no customers (FAILED_PRECONDITION otherwise).
// INVALID_ARGUMENT for impossible totals. `pool` needs options.writers
// connections.
absl::StatusOr<DatagenReport> GenerateCustomers(MysqlPool& pool,
                                                const DatagenOptions& options);

// The product-code correspondence of the two catalogs as CSV with a header:
// "product_code,v1_product_id,v2_product_id"; an empty id where a product
// exists on one side only.
std::string ProductCorrespondenceCsv();

}  // namespace tandem::testbed
