// What a billing database looks like now, read from information_schema: the
// tables the mapping is checked against and the column types the converter
// formats values for.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/mysql_pool.h"

namespace tandem::migrator {

struct ColumnInfo {
  std::string name;
  // information_schema DATA_TYPE, lower case: "bigint", "decimal", "varchar",
  // "datetime", "date", "json" (MariaDB reports "longtext"), ...
  std::string data_type;
  // COLUMN_TYPE, e.g. "decimal(13,5)" or "bigint(20) unsigned".
  std::string column_type;
  // Digits after the decimal point (DECIMAL); 0 otherwise.
  int scale = 0;
  // CHARACTER_MAXIMUM_LENGTH for strings; 0 otherwise.
  int64_t max_length = 0;
  bool nullable = false;
  bool has_default = false;
  bool auto_increment = false;
  bool unsigned_ = false;

  bool IsInteger() const;
  bool IsDecimal() const { return data_type == "decimal"; }
  bool IsNumeric() const { return IsInteger() || IsDecimal(); }
  bool IsString() const;
};

struct TableInfo {
  std::string name;
  // In ordinal order.
  std::vector<ColumnInfo> columns;
  // Primary key columns, in key order.
  std::vector<std::string> primary_key;
  // The table's next AUTO_INCREMENT value; 0 when it has none.
  int64_t auto_increment = 0;

  const ColumnInfo* Find(const std::string& column) const;
  int IndexOf(const std::string& column) const;  // -1 when absent
};

class LiveSchema {
 public:
  // Reads every base table of `database` through `pool`. UNAVAILABLE when
  // the server cannot be reached; NOT_FOUND when the database is missing.
  static absl::StatusOr<LiveSchema> Read(MysqlPool& pool,
                                         const std::string& database);

  // For tests: a schema built by hand.
  void AddTable(TableInfo table) { tables_[table.name] = std::move(table); }

  const TableInfo* Find(const std::string& table) const;
  const std::string& database() const { return database_; }
  const std::map<std::string, TableInfo>& tables() const { return tables_; }

 private:
  std::string database_;
  std::map<std::string, TableInfo> tables_;
};

}  // namespace tandem::migrator
