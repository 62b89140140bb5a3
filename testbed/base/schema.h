// The two schema versions' DDL (testbed/schema/v1.sql and v2.sql, compiled
// into the binaries) and a way to apply them.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/mysql_pool.h"
#include "testbed/base/model.h"

namespace tandem::testbed {

// The DDL of `version`, as in testbed/schema/<version>.sql.
absl::string_view SchemaSql(SchemaVersion version);

// Splits a schema file into statements at semicolons that end a line,
// dropping empty and comment-only pieces.
std::vector<std::string> SplitSqlStatements(absl::string_view sql);

// Creates the tables of `version` in the pool's database. Idempotent (every
// statement is CREATE TABLE IF NOT EXISTS).
absl::Status ApplySchema(MysqlPool& pool, SchemaVersion version);

// Creates database `name` (utf8mb4) through a pool that has no default
// database; with `drop_first`, drops it before. `name` must match
// [A-Za-z0-9_]{1,64} (identifiers cannot be bound as parameters), else
// INVALID_ARGUMENT.
absl::Status CreateDatabase(MysqlPool& server, const std::string& name,
                            bool drop_first);

}  // namespace tandem::testbed
