// A customer's rows as the migrator holds them: every value as the text the
// database returns for it (NULL as nullopt), each row under its primary
// key. Text keeps money exact and makes a value read back from the database
// compare equal to the value written.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "migrator/mapping/live_schema.h"

namespace tandem::migrator {

using Value = std::optional<std::string>;

// One row's values, in the table's column order.
using Row = std::vector<Value>;

// Encodes primary key values unambiguously ("<len>:<bytes>" each), so keys
// compare and sort as strings.
std::string EncodeKey(const std::vector<std::string>& parts);
// The inverse of EncodeKey.
std::vector<std::string> DecodeKey(absl::string_view key);

// The primary key of `row` in `table`. Key columns are never NULL.
std::string KeyOf(const TableInfo& table, const Row& row);

// The rows of one table that belong to one customer.
struct TableRows {
  const TableInfo* info = nullptr;
  std::map<std::string, Row> rows;  // by KeyOf
};

// A customer's rows on one side, by table name.
struct CustomerRows {
  std::map<std::string, TableRows> tables;

  // The table's rows; an empty set (with `info`) when none were read.
  TableRows& Table(const TableInfo& info);
  const TableRows* Find(const std::string& table) const;
  size_t RowCount() const;
};

// The MD5 (hex) of a row in the form the database computes it for
// HashExpression(): the values joined by '|', each preceded by its length
// in bytes (-1 and no value for NULL).
std::string RowHash(const Row& row);

// The SQL expression computing RowHash() of a row of `table` on the server
// (column names quoted), for change detection and verification without
// transferring rows.
std::string HashExpression(const TableInfo& table);

// `name` quoted as a MySQL identifier. Names come from the mapping file and
// the live schema, never from requests; quoting keeps any name inert.
std::string QuoteIdent(absl::string_view name);

}  // namespace tandem::migrator
