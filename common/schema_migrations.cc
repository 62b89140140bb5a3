#include "common/schema_migrations.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace tandem {

absl::Status ApplySchemaMigrations(
    MysqlPool& pool, const std::string& component,
    const std::vector<SchemaMigration>& migrations) {
  return pool.Run(
      absl::StrCat("schema migrations of ", component),
      [&](sql::Connection& conn) -> absl::Status {
        std::unique_ptr<sql::Statement> stmt(conn.createStatement());
        stmt->execute(
            "CREATE TABLE IF NOT EXISTS tandem_schema_migrations ("
            " component VARCHAR(64) NOT NULL,"
            " version INT NOT NULL,"
            " description VARCHAR(255) NOT NULL,"
            " applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),"
            " PRIMARY KEY (component, version)) ENGINE=InnoDB");
        std::unique_ptr<sql::PreparedStatement> lock(
            conn.prepareStatement("SELECT GET_LOCK(?, 60)"));
        std::string lock_name = absl::StrCat("tandem_migrations_", component);
        lock->setString(1, lock_name);
        std::unique_ptr<sql::ResultSet> got(lock->executeQuery());
        if (!got->next() || got->getInt(1) != 1) {
          return absl::UnavailableError(absl::StrCat(
              "timed out waiting for the migration lock of ", component));
        }
        absl::Status result = [&]() -> absl::Status {
          std::unique_ptr<sql::PreparedStatement> query(conn.prepareStatement(
              "SELECT COALESCE(MAX(version), 0) FROM tandem_schema_migrations "
              "WHERE component = ?"));
          query->setString(1, component);
          std::unique_ptr<sql::ResultSet> rs(query->executeQuery());
          rs->next();
          int current = rs->getInt(1);
          int newest = migrations.empty() ? 0 : migrations.back().version;
          if (current > newest) {
            return absl::FailedPreconditionError(absl::StrCat(
                "database schema of ", component, " is at version ", current,
                " but this binary knows only up to ", newest));
          }
          for (const SchemaMigration& m : migrations) {
            if (m.version <= current) {
              continue;
            }
            for (const std::string& sql : m.statements) {
              stmt->execute(sql);
            }
            std::unique_ptr<sql::PreparedStatement> record(
                conn.prepareStatement(
                    "INSERT IGNORE INTO tandem_schema_migrations "
                    "(component, version, description) VALUES (?, ?, ?)"));
            record->setString(1, component);
            record->setInt(2, m.version);
            record->setString(3, m.description);
            record->executeUpdate();
            TANDEM_LOG(Info, "schema_migration_applied")
                .With("component", component)
                .With("version", m.version)
                .With("description", m.description);
          }
          return absl::OkStatus();
        }();
        std::unique_ptr<sql::PreparedStatement> unlock(
            conn.prepareStatement("SELECT RELEASE_LOCK(?)"));
        unlock->setString(1, lock_name);
        std::unique_ptr<sql::ResultSet> released(unlock->executeQuery());
        return result;
      });
}

}  // namespace tandem
