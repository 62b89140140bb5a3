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
  // Customers, and exact totals of accounts and xDRs spread over them
  // (xDRs evenly over accounts, so a large customer has many). Most
  // customers get 1-20 accounts; besides them:
  int64_t customers = 2000;
  int64_t accounts = 20000;
  int64_t xdrs = 200000;
  // Customers with `large_accounts` accounts each. -1: one per 2,000
  // customers (at least one from 100 customers on), each capped so that
  // they take at most 30% of the spare accounts (none if that is under 100).
  int64_t large_customers = -1;
  int32_t large_accounts = 1000;
  // One customer with this many accounts; 0: none. -1: 5,000 from 2,000
  // customers on when the totals allow, else none.
  int32_t huge_accounts = -1;
  // Share of usage rows exactly at their limit (a customer who can use no
  // more, and moves only if the target limit is not lower).
  double at_limit_share = 0.02;
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
  // Customers with more than 20 accounts, and the most accounts one has.
  int64_t large_customers = 0;
  int64_t largest_accounts = 0;
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
//
// The balance rule (the ledger checker relies on it): every account's
// balance is the sum of its balance transactions (i_account = the account),
// and every customer's balance the sum of its customer-level transactions
// (i_account NULL). Each account and each customer has one 'opening'
// transaction, the balance brought forward, dated at its creation.
absl::StatusOr<DatagenReport> GenerateCustomers(MysqlPool& pool,
                                                const DatagenOptions& options);

// The product correspondence of the two catalogs as CSV with a header:
// "v1_code,v1_product_id,v2_code,v2_product_id": each v1 product with the v2
// product it corresponds to (the same code, or the code it was renamed to:
// BB-250 -> FIBER-250), then the v2 products with no v1 counterpart; empty
// fields where a product exists on one side only.
std::string ProductCorrespondenceCsv();

}  // namespace tandem::testbed
