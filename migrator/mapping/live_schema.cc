#include "migrator/mapping/live_schema.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <mysql_connection.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tandem::migrator {

bool ColumnInfo::IsInteger() const {
  return data_type == "tinyint" || data_type == "smallint" ||
         data_type == "mediumint" || data_type == "int" ||
         data_type == "bigint";
}

bool ColumnInfo::IsString() const {
  return data_type == "varchar" || data_type == "char" || data_type == "text" ||
         data_type == "longtext" || data_type == "mediumtext" ||
         data_type == "json";
}

const ColumnInfo* TableInfo::Find(const std::string& column) const {
  for (const ColumnInfo& c : columns) {
    if (c.name == column) return &c;
  }
  return nullptr;
}

int TableInfo::IndexOf(const std::string& column) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == column) return static_cast<int>(i);
  }
  return -1;
}

const TableInfo* LiveSchema::Find(const std::string& table) const {
  auto it = tables_.find(table);
  return it == tables_.end() ? nullptr : &it->second;
}

absl::StatusOr<LiveSchema> LiveSchema::Read(MysqlPool& pool,
                                            const std::string& database) {
  LiveSchema schema;
  schema.database_ = database;
  TANDEM_RETURN_IF_ERROR(
      pool.Run("read schema", [&](sql::Connection& conn) -> absl::Status {
        std::unique_ptr<sql::PreparedStatement> tables(conn.prepareStatement(
            "SELECT TABLE_NAME, IFNULL(AUTO_INCREMENT, 0) FROM "
            "information_schema.TABLES WHERE TABLE_SCHEMA = ? AND "
            "TABLE_TYPE = 'BASE TABLE'"));
        tables->setString(1, database);
        std::unique_ptr<sql::ResultSet> rows(tables->executeQuery());
        while (rows->next()) {
          TableInfo t;
          t.name = rows->getString(1);
          t.auto_increment = rows->getInt64(2);
          schema.tables_[t.name] = std::move(t);
        }
        if (schema.tables_.empty()) {
          std::unique_ptr<sql::PreparedStatement> exists(conn.prepareStatement(
              "SELECT 1 FROM information_schema.SCHEMATA WHERE "
              "SCHEMA_NAME = ?"));
          exists->setString(1, database);
          std::unique_ptr<sql::ResultSet> found(exists->executeQuery());
          if (!found->next()) {
            return absl::NotFoundError(
                absl::StrCat("database ", database, " does not exist"));
          }
        }
        std::unique_ptr<sql::PreparedStatement> columns(conn.prepareStatement(
            "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, "
            "IFNULL(NUMERIC_SCALE, 0), IFNULL(CHARACTER_MAXIMUM_LENGTH, 0), "
            "IS_NULLABLE, COLUMN_DEFAULT IS NOT NULL, EXTRA, COLUMN_KEY "
            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? "
            "ORDER BY TABLE_NAME, ORDINAL_POSITION"));
        columns->setString(1, database);
        rows.reset(columns->executeQuery());
        while (rows->next()) {
          auto table = schema.tables_.find(rows->getString(1));
          if (table == schema.tables_.end()) continue;  // a view
          ColumnInfo c;
          c.name = rows->getString(2);
          c.data_type = absl::AsciiStrToLower(std::string(rows->getString(3)));
          c.column_type =
              absl::AsciiStrToLower(std::string(rows->getString(4)));
          c.scale = rows->getInt(5);
          c.max_length = rows->getInt64(6);
          c.nullable = rows->getString(7) == "YES";
          c.has_default = rows->getBoolean(8);
          c.auto_increment = absl::StrContains(std::string(rows->getString(9)),
                                               "auto_increment");
          c.unsigned_ = absl::StrContains(c.column_type, "unsigned");
          table->second.columns.push_back(std::move(c));
        }
        std::unique_ptr<sql::PreparedStatement> keys(conn.prepareStatement(
            "SELECT TABLE_NAME, COLUMN_NAME FROM "
            "information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = ? AND "
            "CONSTRAINT_NAME = 'PRIMARY' ORDER BY TABLE_NAME, "
            "ORDINAL_POSITION"));
        keys->setString(1, database);
        rows.reset(keys->executeQuery());
        while (rows->next()) {
          auto table = schema.tables_.find(rows->getString(1));
          if (table == schema.tables_.end()) continue;
          table->second.primary_key.push_back(rows->getString(2));
        }
        return absl::OkStatus();
      }));
  return schema;
}

}  // namespace tandem::migrator
