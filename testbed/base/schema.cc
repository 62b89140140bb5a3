#include "testbed/base/schema.h"

#include <cppconn/statement.h>
#include <mysql_connection.h>

#include <algorithm>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tandem::testbed {

// Defined in the generated schema_sql.cc.
extern const char* const kSchemaV1Sql;
extern const char* const kSchemaV2Sql;

absl::string_view SchemaSql(SchemaVersion version) {
  return version == SchemaVersion::kV1 ? kSchemaV1Sql : kSchemaV2Sql;
}

std::vector<std::string> SplitSqlStatements(absl::string_view sql) {
  std::vector<std::string> out;
  std::string current;
  for (absl::string_view line : absl::StrSplit(sql, '\n')) {
    absl::string_view stripped = absl::StripAsciiWhitespace(line);
    if (stripped.empty() || absl::StartsWith(stripped, "--")) continue;
    current.append(line.data(), line.size());
    current.push_back('\n');
    if (absl::EndsWith(stripped, ";")) {
      absl::string_view stmt = absl::StripAsciiWhitespace(current);
      stmt.remove_suffix(1);
      out.emplace_back(stmt);
      current.clear();
    }
  }
  if (!absl::StripAsciiWhitespace(current).empty()) {
    out.emplace_back(absl::StripAsciiWhitespace(current));
  }
  return out;
}

absl::Status ApplySchema(MysqlPool& pool, SchemaVersion version) {
  std::vector<std::string> statements = SplitSqlStatements(SchemaSql(version));
  return pool.Run("apply schema", [&](sql::Connection& conn) -> absl::Status {
    std::unique_ptr<sql::Statement> stmt(conn.createStatement());
    for (const std::string& s : statements) stmt->execute(s);
    return absl::OkStatus();
  });
}

absl::Status CreateDatabase(MysqlPool& server, const std::string& name,
                            bool drop_first) {
  if (name.empty() || name.size() > 64 ||
      !std::all_of(name.begin(), name.end(),
                   [](char c) { return absl::ascii_isalnum(c) || c == '_'; })) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad database name '", name, "'"));
  }
  return server.Run("create database", [&](sql::Connection& conn) {
    std::unique_ptr<sql::Statement> stmt(conn.createStatement());
    if (drop_first)
      stmt->execute(absl::StrCat("DROP DATABASE IF EXISTS `", name, "`"));
    stmt->execute(absl::StrCat("CREATE DATABASE IF NOT EXISTS `", name,
                               "` CHARACTER SET utf8mb4"));
    return absl::OkStatus();
  });
}

}  // namespace tandem::testbed
