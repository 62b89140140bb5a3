// Versioned schema migrations for a service's own control tables, applied at
// start-up. Applied versions are recorded in `tandem_schema_migrations`
// (component, version); replicas starting together serialise on a named
// lock, so each migration runs once.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/mysql_pool.h"

namespace tandem {

struct SchemaMigration {
  // Strictly increasing within a component, starting at 1.
  int version;
  std::string description;
  // Run in order. MySQL commits DDL implicitly, so a crash can leave a
  // migration half applied: write statements that can run again
  // (CREATE TABLE IF NOT EXISTS, ADD COLUMN IF NOT EXISTS, INSERT IGNORE).
  std::vector<std::string> statements;
};

// Applies the migrations of `component` that are not yet recorded, in version
// order. Returns FAILED_PRECONDITION when the database already has a version
// newer than this binary knows (a downgrade), and the database error
// otherwise.
absl::Status ApplySchemaMigrations(
    MysqlPool& pool, const std::string& component,
    const std::vector<SchemaMigration>& migrations);

}  // namespace tandem
