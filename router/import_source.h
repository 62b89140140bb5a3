// Configured import queries: read customers and their keys from a billing
// database (for example the source system's) for ImportRoutes.
//
// The config file has one section per source:
//
//   [source]
//   url = tcp://127.0.0.1:3306
//   user = tandem
//   password_file = /run/secrets/source-db
//   database = billing_v1
//   # Pages of customer ids: two placeholders, (after id, page size).
//   customers_query = SELECT i_customer FROM customers WHERE i_customer > ?
//                     ORDER BY i_customer LIMIT ?
//   # Keys of a range of customers: pairs of placeholders (first id, last id),
//   # returning (customer id, kind name, value); kind is login, account_id or
//   # api_token.
//   keys_query = SELECT i_customer, 'login', login FROM customers
//                WHERE i_customer BETWEEN ? AND ?
//
// A line that starts with whitespace continues the previous value.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/mysql_pool.h"
#include "tandem/router/v1/router.pb.h"

namespace tandem::router {

struct ImportQuery {
  std::string name;
  MysqlOptions db;
  std::string customers_query;
  std::string keys_query;
};

// Parses the config file's contents; every section needs all of url, user,
// password_file, database, customers_query and keys_query. Reads the
// password files. INVALID_ARGUMENT names the section and field.
absl::StatusOr<std::map<std::string, ImportQuery>> ParseImportConfig(
    const std::string& contents);

// Reads customers through one configured query, `page_size` customers at a
// time, and hands each page to `sink`. Stops at the first error of either.
absl::Status ReadImportSource(
    const ImportQuery& query, int page_size,
    const std::function<absl::Status(
        std::vector<::tandem::router::v1::ImportedCustomer>)>& sink);

// Maps "login", "account_id", "api_token", "customer_id" to a kind.
::tandem::router::v1::KeyKind KeyKindFromName(absl::string_view name);

}  // namespace tandem::router
