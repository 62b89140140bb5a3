#include "catalog/mysql_catalog_store.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include <exception>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/mysql_results.h"
#include "common/request_log.h"
#include "common/status_macros.h"

namespace tandem::catalog {
namespace {

namespace v1 = ::tandem::catalog::v1;
using ::tandem::common::v1::System;

using Stmt = std::unique_ptr<sql::PreparedStatement>;
using Rows = std::unique_ptr<sql::ResultSet>;

// Binds serialized bytes to a BLOB parameter; `keep` holds the stream until
// the statement has run.
void BindBlob(sql::PreparedStatement& stmt, int index, const std::string& bytes,
              std::vector<std::unique_ptr<std::istringstream>>& keep) {
  keep.push_back(std::make_unique<std::istringstream>(bytes));
  stmt.setBlob(index, keep.back().get());
}

// The catalog's idempotency records (common/request_log.h).
const RequestLog& CatalogRequests() {
  static const RequestLog* log = new RequestLog("catalog_requests");
  return *log;
}

const char* LockClause(RowLock lock) {
  switch (lock) {
    case RowLock::kNone:
      return "";
    case RowLock::kShared:
      return " LOCK IN SHARE MODE";
    case RowLock::kExclusive:
      return " FOR UPDATE";
  }
  return "";
}

// ---------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------

FreezeRow QueryFreezeRow(sql::Connection& conn, RowLock lock) {
  std::unique_ptr<sql::Statement> stmt(conn.createStatement());
  Rows rows(stmt->executeQuery(
      absl::StrCat("SELECT state, version, actor, reason, at_ms, "
                   "previous_state, automatic, forced FROM catalog_freeze "
                   "WHERE id = 1",
                   LockClause(lock))));
  FreezeRow row;
  if (!rows->next()) return row;
  row.freeze.set_state(static_cast<v1::FreezeState>(rows->getInt("state")));
  row.freeze.set_version(rows->getInt64("version"));
  row.freeze.mutable_stamp()->set_actor(rows->getString("actor"));
  row.freeze.mutable_stamp()->set_reason(rows->getString("reason"));
  row.freeze.mutable_stamp()->set_at_unix_ms(rows->getInt64("at_ms"));
  row.previous = static_cast<v1::FreezeState>(rows->getInt("previous_state"));
  row.automatic = rows->getInt("automatic") != 0;
  row.forced = rows->getInt("forced") != 0;
  return row;
}

v1::CatalogSettings QuerySettingsRow(sql::Connection& conn, RowLock lock) {
  std::unique_ptr<sql::Statement> stmt(conn.createStatement());
  Rows rows(stmt->executeQuery(
      absl::StrCat("SELECT allow_overuse_default, auto_lift, version, actor, "
                   "reason, at_ms FROM catalog_settings WHERE id = 1",
                   LockClause(lock))));
  v1::CatalogSettings settings;
  if (!rows->next()) return settings;
  settings.set_allow_overuse_default(rows->getInt("allow_overuse_default") !=
                                     0);
  settings.set_auto_lift(rows->getInt("auto_lift") != 0);
  settings.set_version(rows->getInt64("version"));
  settings.mutable_stamp()->set_actor(rows->getString("actor"));
  settings.mutable_stamp()->set_reason(rows->getString("reason"));
  settings.mutable_stamp()->set_at_unix_ms(rows->getInt64("at_ms"));
  return settings;
}

constexpr char kProductColumns[] =
    "p.system, p.product_id, p.spec, p.version, p.subscription_count, "
    "p.customer_count, p.cloned_from, p.after_switchover, p.actor, p.reason, "
    "p.at_ms, p.refreshed_at_ms, "
    "(SELECT m.target_product_id FROM catalog_mappings m WHERE p.system = 1 "
    "AND m.source_product_id = p.product_id) AS mapped_to, "
    "EXISTS (SELECT 1 FROM catalog_mappings m WHERE p.system = 2 AND "
    "m.target_product_id = p.product_id) AS mapping_target";

ProductRow ReadProductRow(sql::ResultSet& rows) {
  ProductRow row;
  v1::Product& p = row.product;
  p.set_system(static_cast<System>(rows.getInt("system")));
  p.set_product_id(rows.getInt64("product_id"));
  p.mutable_spec()->ParseFromString(rows.getString("spec"));
  p.set_version(rows.getInt64("version"));
  p.set_subscription_count(rows.getInt64("subscription_count"));
  p.set_customer_count(rows.getInt64("customer_count"));
  p.set_cloned_from_product_id(rows.getInt64("cloned_from"));
  p.mutable_stamp()->set_actor(rows.getString("actor"));
  p.mutable_stamp()->set_reason(rows.getString("reason"));
  p.mutable_stamp()->set_at_unix_ms(rows.getInt64("at_ms"));
  p.set_refreshed_at_unix_ms(rows.getInt64("refreshed_at_ms"));
  if (!rows.isNull("mapped_to")) {
    p.set_mapped_to_product_id(rows.getInt64("mapped_to"));
  }
  row.after_switchover = rows.getInt("after_switchover") != 0;
  row.mapping_target = rows.getInt("mapping_target") != 0;
  return row;
}

constexpr char kMappingColumns[] =
    "source_product_id, target_product_id, overuse_policy, origin, version, "
    "actor, reason, at_ms";

v1::Mapping ReadMappingRow(sql::ResultSet& rows) {
  v1::Mapping m;
  m.set_source_product_id(rows.getInt64("source_product_id"));
  m.set_target_product_id(rows.getInt64("target_product_id"));
  m.set_overuse_policy(
      static_cast<v1::OverusePolicy>(rows.getInt("overuse_policy")));
  m.set_origin(static_cast<v1::MappingOrigin>(rows.getInt("origin")));
  m.set_version(rows.getInt64("version"));
  m.mutable_stamp()->set_actor(rows.getString("actor"));
  m.mutable_stamp()->set_reason(rows.getString("reason"));
  m.mutable_stamp()->set_at_unix_ms(rows.getInt64("at_ms"));
  return m;
}

// ---------------------------------------------------------------------------
// One transaction
// ---------------------------------------------------------------------------

class MysqlCatalogTxn final : public CatalogTxn {
 public:
  explicit MysqlCatalogTxn(sql::Connection& conn) : conn_(conn) {}

  // Rethrows the first database error a method reported, so that the pool
  // rolls back, discards a broken connection and retries a deadlock exactly
  // as for an exception thrown straight out of the transaction.
  void RethrowError() {
    if (error_) std::rethrow_exception(error_);
  }

  absl::StatusOr<bool> FindRequest(
      const std::string& request_id, const std::string& method,
      google::protobuf::Message* response) override {
    return Guard([&]() -> absl::StatusOr<bool> {
      return CatalogRequests().Find(conn_, request_id, method, response);
    });
  }

  absl::Status SaveRequest(const std::string& request_id,
                           const std::string& method,
                           const google::protobuf::Message& response) override {
    return Guard([&]() -> absl::Status {
      CatalogRequests().Save(conn_, request_id, method, response, kAnyVersion,
                             absl::ToUnixMillis(absl::Now()));
      return absl::OkStatus();
    });
  }

  absl::StatusOr<FreezeRow> ReadFreeze(RowLock lock) override {
    return Guard([&]() -> absl::StatusOr<FreezeRow> {
      return QueryFreezeRow(conn_, lock);
    });
  }

  absl::Status WriteFreeze(const FreezeRow& row) override {
    return Guard([&]() -> absl::Status {
      Stmt update(conn_.prepareStatement(
          "UPDATE catalog_freeze SET state = ?, version = ?, actor = ?, "
          "reason = ?, at_ms = ?, previous_state = ?, automatic = ?, forced "
          "= ? WHERE id = 1"));
      update->setInt(1, row.freeze.state());
      update->setInt64(2, row.freeze.version());
      update->setString(3, row.freeze.stamp().actor());
      update->setString(4, row.freeze.stamp().reason());
      update->setInt64(5, row.freeze.stamp().at_unix_ms());
      update->setInt(6, row.previous);
      update->setInt(7, row.automatic ? 1 : 0);
      update->setInt(8, row.forced ? 1 : 0);
      update->executeUpdate();
      return absl::OkStatus();
    });
  }

  absl::StatusOr<v1::CatalogSettings> ReadSettings(RowLock lock) override {
    return Guard([&]() -> absl::StatusOr<v1::CatalogSettings> {
      return QuerySettingsRow(conn_, lock);
    });
  }

  absl::Status WriteSettings(const v1::CatalogSettings& settings) override {
    return Guard([&]() -> absl::Status {
      Stmt update(conn_.prepareStatement(
          "UPDATE catalog_settings SET allow_overuse_default = ?, auto_lift "
          "= ?, version = ?, actor = ?, reason = ?, at_ms = ? WHERE id = 1"));
      update->setInt(1, settings.allow_overuse_default() ? 1 : 0);
      update->setInt(2, settings.auto_lift() ? 1 : 0);
      update->setInt64(3, settings.version());
      update->setString(4, settings.stamp().actor());
      update->setString(5, settings.stamp().reason().substr(0, 1024));
      update->setInt64(6, settings.stamp().at_unix_ms());
      update->executeUpdate();
      return absl::OkStatus();
    });
  }

  absl::StatusOr<std::optional<ProductRow>> LockProduct(
      System system, int64_t product_id) override {
    return Guard([&]() -> absl::StatusOr<std::optional<ProductRow>> {
      Stmt select(conn_.prepareStatement(
          absl::StrCat("SELECT ", kProductColumns,
                       " FROM catalog_products p WHERE p.system = ? AND "
                       "p.product_id = ? FOR UPDATE")));
      select->setInt(1, system);
      select->setInt64(2, product_id);
      Rows rows(select->executeQuery());
      if (!rows->next()) return std::nullopt;
      return ReadProductRow(*rows);
    });
  }

  absl::StatusOr<std::vector<ProductRow>> LockProducts(System system) override {
    return Guard([&]() -> absl::StatusOr<std::vector<ProductRow>> {
      Stmt select(conn_.prepareStatement(
          absl::StrCat("SELECT ", kProductColumns,
                       " FROM catalog_products p WHERE p.system = ? "
                       "FOR UPDATE")));
      select->setInt(1, system);
      Rows rows(select->executeQuery());
      std::vector<ProductRow> out;
      while (rows->next()) out.push_back(ReadProductRow(*rows));
      return out;
    });
  }

  absl::StatusOr<bool> ProductKnown(System system,
                                    int64_t product_id) override {
    return Guard([&]() -> absl::StatusOr<bool> {
      Stmt known(conn_.prepareStatement(
          "SELECT 1 FROM catalog_products WHERE system = ? AND product_id = "
          "?"));
      known->setInt(1, system);
      known->setInt64(2, product_id);
      Rows rows(known->executeQuery());
      return rows->next();
    });
  }

  absl::StatusOr<std::vector<v1::ProductSpec>> MainProductSpecs(
      System system) override {
    return Guard([&]() -> absl::StatusOr<std::vector<v1::ProductSpec>> {
      Stmt offers(conn_.prepareStatement(
          "SELECT spec FROM catalog_products WHERE system = ? AND kind = ?"));
      offers->setInt(1, system);
      offers->setInt(2, v1::PRODUCT_KIND_MAIN);
      Rows rows(offers->executeQuery());
      std::vector<v1::ProductSpec> specs;
      while (rows->next()) {
        specs.emplace_back().ParseFromString(rows->getString("spec"));
      }
      return specs;
    });
  }

  absl::Status UpsertProduct(const v1::Product& p,
                             bool after_switchover) override {
    return Guard([&]() -> absl::Status {
      std::vector<std::unique_ptr<std::istringstream>> keep;
      Stmt upsert(conn_.prepareStatement(
          "INSERT INTO catalog_products (system, product_id, code, kind, "
          "spec, version, subscription_count, customer_count, cloned_from, "
          "after_switchover, actor, reason, at_ms, refreshed_at_ms) VALUES "
          "(?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON DUPLICATE KEY UPDATE code = "
          "VALUES(code), kind = VALUES(kind), spec = VALUES(spec), version = "
          "VALUES(version), subscription_count = VALUES(subscription_count), "
          "customer_count = VALUES(customer_count), cloned_from = "
          "VALUES(cloned_from), actor = VALUES(actor), reason = "
          "VALUES(reason), at_ms = VALUES(at_ms), refreshed_at_ms = "
          "VALUES(refreshed_at_ms)"));
      upsert->setInt(1, p.system());
      upsert->setInt64(2, p.product_id());
      upsert->setString(3, p.spec().code());
      upsert->setInt(4, p.spec().kind());
      BindBlob(*upsert, 5, p.spec().SerializeAsString(), keep);
      upsert->setInt64(6, p.version());
      upsert->setInt64(7, p.subscription_count());
      upsert->setInt64(8, p.customer_count());
      upsert->setInt64(9, p.cloned_from_product_id());
      upsert->setInt(10, after_switchover ? 1 : 0);
      upsert->setString(11, p.stamp().actor());
      upsert->setString(12, p.stamp().reason().substr(0, 1024));
      upsert->setInt64(13, p.stamp().at_unix_ms());
      upsert->setInt64(14, p.refreshed_at_unix_ms());
      upsert->executeUpdate();
      return absl::OkStatus();
    });
  }

  absl::Status RemoveProduct(System system, int64_t product_id) override {
    return Guard([&]() -> absl::Status {
      Stmt remove(conn_.prepareStatement(
          "DELETE FROM catalog_products WHERE system = ? AND product_id = "
          "?"));
      remove->setInt(1, system);
      remove->setInt64(2, product_id);
      remove->executeUpdate();
      return absl::OkStatus();
    });
  }

  absl::StatusOr<std::optional<v1::Mapping>> LockMapping(
      int64_t source_product_id) override {
    return Guard([&]() -> absl::StatusOr<std::optional<v1::Mapping>> {
      Stmt select(conn_.prepareStatement(
          absl::StrCat("SELECT ", kMappingColumns,
                       " FROM catalog_mappings WHERE source_product_id = ? "
                       "FOR UPDATE")));
      select->setInt64(1, source_product_id);
      Rows rows(select->executeQuery());
      if (!rows->next()) return std::nullopt;
      return ReadMappingRow(*rows);
    });
  }

  absl::Status WriteMapping(const v1::Mapping& m) override {
    return Guard([&]() -> absl::Status {
      Stmt upsert(conn_.prepareStatement(
          "INSERT INTO catalog_mappings (source_product_id, "
          "target_product_id, overuse_policy, origin, version, actor, "
          "reason, at_ms) VALUES (?,?,?,?,?,?,?,?) ON DUPLICATE KEY UPDATE "
          "target_product_id = VALUES(target_product_id), overuse_policy = "
          "VALUES(overuse_policy), origin = VALUES(origin), version = "
          "VALUES(version), actor = VALUES(actor), reason = VALUES(reason), "
          "at_ms = VALUES(at_ms)"));
      upsert->setInt64(1, m.source_product_id());
      upsert->setInt64(2, m.target_product_id());
      upsert->setInt(3, m.overuse_policy());
      upsert->setInt(4, m.origin());
      upsert->setInt64(5, m.version());
      upsert->setString(6, m.stamp().actor());
      upsert->setString(7, m.stamp().reason().substr(0, 1024));
      upsert->setInt64(8, m.stamp().at_unix_ms());
      upsert->executeUpdate();
      return absl::OkStatus();
    });
  }

  absl::Status RemoveMapping(int64_t source_product_id) override {
    return Guard([&]() -> absl::Status {
      Stmt remove(conn_.prepareStatement(
          "DELETE FROM catalog_mappings WHERE source_product_id = ?"));
      remove->setInt64(1, source_product_id);
      remove->executeUpdate();
      return absl::OkStatus();
    });
  }

  absl::StatusOr<int64_t> AppendAudit(v1::AuditEntry entry) override {
    return Guard([&]() -> absl::StatusOr<int64_t> {
      std::unique_ptr<sql::Statement> stmt(conn_.createStatement());
      // The counters row stays locked until the transaction ends.
      stmt->executeUpdate(
          "UPDATE catalog_counters SET audit_seq = LAST_INSERT_ID(audit_seq "
          "+ 1) WHERE id = 1");
      Rows seq_rows(stmt->executeQuery("SELECT LAST_INSERT_ID()"));
      seq_rows->next();
      entry.set_seq(seq_rows->getInt64(1));
      System system = ::tandem::common::v1::SYSTEM_UNSPECIFIED;
      int64_t product_id = 0;
      if (entry.has_change()) {
        system = entry.change().system();
        product_id = entry.change().product_id();
      } else if (entry.has_mapping()) {
        system = ::tandem::common::v1::SYSTEM_SOURCE;
        product_id = entry.mapping().mapping().source_product_id();
      }
      std::vector<std::unique_ptr<std::istringstream>> keep;
      Stmt insert(conn_.prepareStatement(
          "INSERT INTO catalog_audit (seq, kind, at_ms, system, product_id, "
          "entry) VALUES (?, ?, ?, ?, ?, ?)"));
      insert->setInt64(1, entry.seq());
      insert->setInt(2, entry.kind());
      insert->setInt64(3, entry.stamp().at_unix_ms());
      insert->setInt(4, system);
      insert->setInt64(5, product_id);
      BindBlob(*insert, 6, entry.SerializeAsString(), keep);
      insert->executeUpdate();
      return entry.seq();
    });
  }

  absl::Status BumpRevision() override {
    return Guard([&]() -> absl::Status {
      std::unique_ptr<sql::Statement> stmt(conn_.createStatement());
      stmt->executeUpdate(
          "UPDATE catalog_counters SET revision = revision + 1 WHERE id = 1");
      return absl::OkStatus();
    });
  }

 private:
  // Runs `fn`, turning a database exception into a status (and keeping it
  // for RethrowError).
  template <typename Fn>
  auto Guard(Fn&& fn) -> decltype(fn()) {
    try {
      return fn();
    } catch (const sql::SQLException& e) {
      if (!error_) error_ = std::current_exception();
      return MysqlErrorToStatus(e, "catalog transaction");
    }
  }

  sql::Connection& conn_;
  std::exception_ptr error_;
};

}  // namespace

// ---------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------

// Longer than 80 lines: it is the schema, one column per line, not logic.
const std::vector<SchemaMigration>& CatalogSchemaMigrations() {
  static const auto* migrations = new std::vector<SchemaMigration>{
      {1,
       "freeze, settings, counters, products, mappings, audit, request ids",
       {
           // The freeze row is what product changes lock in share mode and
           // transitions lock exclusively; nothing else lives in it.
           "CREATE TABLE IF NOT EXISTS catalog_freeze ("
           " id TINYINT NOT NULL PRIMARY KEY,"
           " state TINYINT NOT NULL,"
           " version BIGINT NOT NULL,"
           " actor VARCHAR(128) NOT NULL,"
           " reason VARCHAR(1024) NOT NULL,"
           " at_ms BIGINT NOT NULL,"
           " previous_state TINYINT NOT NULL,"
           " automatic TINYINT NOT NULL,"
           " forced TINYINT NOT NULL) ENGINE=InnoDB",
           "INSERT IGNORE INTO catalog_freeze VALUES (1, 1, 1, "
           "'tandem-catalog',"
           " 'initial state', ROUND(UNIX_TIMESTAMP(NOW(3)) * 1000), 0, 0, 0)",
           "CREATE TABLE IF NOT EXISTS catalog_settings ("
           " id TINYINT NOT NULL PRIMARY KEY,"
           " allow_overuse_default TINYINT NOT NULL,"
           " auto_lift TINYINT NOT NULL,"
           " version BIGINT NOT NULL,"
           " actor VARCHAR(128) NOT NULL,"
           " reason VARCHAR(1024) NOT NULL,"
           " at_ms BIGINT NOT NULL) ENGINE=InnoDB",
           "INSERT IGNORE INTO catalog_settings VALUES (1, 0, 1, 1,"
           " 'tandem-catalog', 'defaults', ROUND(UNIX_TIMESTAMP(NOW(3)) * "
           "1000))",
           // revision: grows with every change of the cached state;
           // audit_seq: the last audit entry.
           "CREATE TABLE IF NOT EXISTS catalog_counters ("
           " id TINYINT NOT NULL PRIMARY KEY,"
           " revision BIGINT NOT NULL,"
           " audit_seq BIGINT NOT NULL) ENGINE=InnoDB",
           "INSERT IGNORE INTO catalog_counters VALUES (1, 1, 0)",
           "CREATE TABLE IF NOT EXISTS catalog_products ("
           " system TINYINT NOT NULL,"
           " product_id BIGINT NOT NULL,"
           " code VARCHAR(64) NOT NULL,"
           " kind TINYINT NOT NULL,"
           " spec MEDIUMBLOB NOT NULL,"
           " version BIGINT NOT NULL,"
           " subscription_count BIGINT NOT NULL,"
           " customer_count BIGINT NOT NULL,"
           " cloned_from BIGINT NOT NULL,"
           " after_switchover TINYINT NOT NULL,"
           " actor VARCHAR(128) NOT NULL,"
           " reason VARCHAR(1024) NOT NULL,"
           " at_ms BIGINT NOT NULL,"
           " refreshed_at_ms BIGINT NOT NULL,"
           " PRIMARY KEY (system, product_id),"
           " KEY k_code (system, code)) ENGINE=InnoDB",
           "CREATE TABLE IF NOT EXISTS catalog_mappings ("
           " source_product_id BIGINT NOT NULL PRIMARY KEY,"
           " target_product_id BIGINT NOT NULL,"
           " overuse_policy TINYINT NOT NULL,"
           " origin TINYINT NOT NULL,"
           " version BIGINT NOT NULL,"
           " actor VARCHAR(128) NOT NULL,"
           " reason VARCHAR(1024) NOT NULL,"
           " at_ms BIGINT NOT NULL,"
           " KEY k_target (target_product_id)) ENGINE=InnoDB",
           "CREATE TABLE IF NOT EXISTS catalog_audit ("
           " seq BIGINT NOT NULL PRIMARY KEY,"
           " kind TINYINT NOT NULL,"
           " at_ms BIGINT NOT NULL,"
           " system TINYINT NOT NULL,"
           " product_id BIGINT NOT NULL,"
           " entry MEDIUMBLOB NOT NULL,"
           " KEY k_at (at_ms),"
           " KEY k_product (system, product_id, seq)) ENGINE=InnoDB",
           "CREATE TABLE IF NOT EXISTS catalog_requests ("
           " request_id VARCHAR(64) NOT NULL PRIMARY KEY,"
           " method VARCHAR(64) NOT NULL,"
           " response MEDIUMBLOB NOT NULL,"
           " created_at_ms BIGINT NOT NULL,"
           " KEY k_created (created_at_ms)) ENGINE=InnoDB",
       }},
      {2,
       "request records in the shape every service shares (RequestLog)",
       {"ALTER TABLE catalog_requests ADD COLUMN IF NOT EXISTS "
        "resource_version BIGINT NOT NULL DEFAULT -1 AFTER response"}},
  };
  return *migrations;
}

// ---------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<MysqlCatalogStore>> MysqlCatalogStore::Create(
    MysqlPool* pool) {
  TANDEM_RETURN_IF_ERROR(
      ApplySchemaMigrations(*pool, "catalog", CatalogSchemaMigrations()));
  return std::unique_ptr<MysqlCatalogStore>(new MysqlCatalogStore(pool));
}

absl::Status MysqlCatalogStore::RunTransaction(
    absl::string_view what,
    const std::function<absl::Status(CatalogTxn&)>& fn) {
  return pool_->Transaction(what, [&](sql::Connection& conn) -> absl::Status {
    MysqlCatalogTxn txn(conn);
    absl::Status status = fn(txn);
    txn.RethrowError();
    return status;
  });
}

absl::StatusOr<std::optional<CachedState>>
MysqlCatalogStore::ReadStateIfChanged(int64_t known_revision) {
  return RunReturning(
      *pool_, "reload catalog state",
      [&](sql::Connection& conn) -> absl::StatusOr<std::optional<CachedState>> {
        std::unique_ptr<sql::Statement> stmt(conn.createStatement());
        Rows rows(stmt->executeQuery(
            "SELECT revision FROM catalog_counters WHERE id = 1"));
        if (!rows->next()) return absl::InternalError("no counters row");
        const int64_t revision = rows->getInt64(1);
        if (revision == known_revision) return std::nullopt;
        // Read after the revision: rows are at least as new as it says.
        CachedState state;
        state.revision = revision;
        state.freeze = QueryFreezeRow(conn, RowLock::kNone);
        state.settings = QuerySettingsRow(conn, RowLock::kNone);
        Rows products(stmt->executeQuery(absl::StrCat(
            "SELECT ", kProductColumns, " FROM catalog_products p")));
        while (products->next()) {
          ProductRow row = ReadProductRow(*products);
          state.facts[{row.product.system(), row.product.product_id()}] =
              FactsOf(row);
        }
        return state;
      });
}

absl::StatusOr<FreezeProbe> MysqlCatalogStore::ProbeFreeze() {
  return RunReturning(
      *pool_, "probe freeze",
      [&](sql::Connection& conn) -> absl::StatusOr<FreezeProbe> {
        std::unique_ptr<sql::Statement> stmt(conn.createStatement());
        Rows rows(stmt->executeQuery(
            "SELECT c.revision, f.state, f.version, f.actor, f.reason, "
            "f.at_ms FROM catalog_counters c JOIN catalog_freeze f ON f.id = "
            "1 WHERE c.id = 1"));
        if (!rows->next()) return absl::InternalError("no freeze row");
        FreezeProbe probe;
        probe.revision = rows->getInt64("revision");
        probe.freeze.set_state(
            static_cast<v1::FreezeState>(rows->getInt("state")));
        probe.freeze.set_version(rows->getInt64("version"));
        probe.freeze.mutable_stamp()->set_actor(rows->getString("actor"));
        probe.freeze.mutable_stamp()->set_reason(rows->getString("reason"));
        probe.freeze.mutable_stamp()->set_at_unix_ms(rows->getInt64("at_ms"));
        return probe;
      });
}

absl::StatusOr<std::optional<ProductRow>> MysqlCatalogStore::ReadOneProduct(
    absl::string_view what, System system, const int64_t* product_id,
    const std::string* code) {
  return RunReturning(
      *pool_, what,
      [&](sql::Connection& conn) -> absl::StatusOr<std::optional<ProductRow>> {
        Stmt select(conn.prepareStatement(absl::StrCat(
            "SELECT ", kProductColumns,
            " FROM catalog_products p WHERE p.system = ? AND ",
            product_id != nullptr ? "p.product_id = ?" : "p.code = ?")));
        select->setInt(1, system);
        if (product_id != nullptr) {
          select->setInt64(2, *product_id);
        } else {
          select->setString(2, *code);
        }
        Rows rows(select->executeQuery());
        if (!rows->next()) return std::nullopt;
        return ReadProductRow(*rows);
      });
}

absl::StatusOr<std::optional<ProductRow>> MysqlCatalogStore::ReadProduct(
    System system, int64_t product_id) {
  return ReadOneProduct("read product", system, &product_id, nullptr);
}

absl::StatusOr<std::optional<ProductRow>> MysqlCatalogStore::ReadProductByCode(
    System system, const std::string& code) {
  return ReadOneProduct("read product by code", system, nullptr, &code);
}

absl::StatusOr<std::vector<ProductRow>> MysqlCatalogStore::ListProducts(
    const ProductQuery& q) {
  std::string where = "(p.system, p.product_id) > (?, ?)";
  if (q.system != ::tandem::common::v1::SYSTEM_UNSPECIFIED) {
    where += " AND p.system = ?";
  }
  if (q.kind != v1::PRODUCT_KIND_UNSPECIFIED) where += " AND p.kind = ?";
  if (q.unmapped_only) {
    where +=
        " AND p.system = 1 AND NOT EXISTS (SELECT 1 FROM catalog_mappings m "
        "WHERE m.source_product_id = p.product_id)";
  }
  if (!q.code_prefix.empty()) {
    where += " AND LEFT(p.code, CHAR_LENGTH(?)) = ?";
  }
  return RunReturning(
      *pool_, "list products",
      [&](sql::Connection& conn) -> absl::StatusOr<std::vector<ProductRow>> {
        Stmt select(conn.prepareStatement(absl::StrCat(
            "SELECT ", kProductColumns, " FROM catalog_products p WHERE ",
            where, " ORDER BY p.system, p.product_id LIMIT ?")));
        int i = 1;
        select->setInt(i++, q.after_system);
        select->setInt64(i++, q.after_product_id);
        if (q.system != ::tandem::common::v1::SYSTEM_UNSPECIFIED) {
          select->setInt(i++, q.system);
        }
        if (q.kind != v1::PRODUCT_KIND_UNSPECIFIED) select->setInt(i++, q.kind);
        if (!q.code_prefix.empty()) {
          select->setString(i++, q.code_prefix);
          select->setString(i++, q.code_prefix);
        }
        select->setInt(i++, q.limit);
        Rows rows(select->executeQuery());
        std::vector<ProductRow> out;
        while (rows->next()) out.push_back(ReadProductRow(*rows));
        return out;
      });
}

absl::StatusOr<std::vector<v1::AuditEntry>> MysqlCatalogStore::ListAudit(
    const AuditQuery& q) {
  std::string where = "seq < ?";
  if (!q.kinds.empty()) {
    where += " AND kind IN (";
    for (size_t i = 0; i < q.kinds.size(); ++i) where += i == 0 ? "?" : ",?";
    where += ")";
  }
  const bool by_system = q.system != ::tandem::common::v1::SYSTEM_UNSPECIFIED;
  if (by_system) where += " AND system = ?";
  if (q.product_id != 0) where += " AND product_id = ?";
  if (q.since_unix_ms != 0) where += " AND at_ms >= ?";
  if (q.until_unix_ms != 0) where += " AND at_ms < ?";
  return RunReturning(
      *pool_, "list audit",
      [&](sql::Connection& conn)
          -> absl::StatusOr<std::vector<v1::AuditEntry>> {
        Stmt select(conn.prepareStatement(
            absl::StrCat("SELECT entry FROM catalog_audit WHERE ", where,
                         " ORDER BY seq DESC LIMIT ?")));
        int p = 1;
        select->setInt64(p++, q.before_seq);
        for (int kind : q.kinds) select->setInt(p++, kind);
        if (by_system) select->setInt(p++, q.system);
        if (q.product_id != 0) select->setInt64(p++, q.product_id);
        if (q.since_unix_ms != 0) select->setInt64(p++, q.since_unix_ms);
        if (q.until_unix_ms != 0) select->setInt64(p++, q.until_unix_ms);
        select->setInt(p++, q.limit);
        Rows rows(select->executeQuery());
        std::vector<v1::AuditEntry> out;
        while (rows->next()) {
          if (!out.emplace_back().ParseFromString(rows->getString("entry"))) {
            return absl::InternalError("unreadable audit entry");
          }
        }
        return out;
      });
}

absl::StatusOr<std::vector<v1::Mapping>> MysqlCatalogStore::ListMappings(
    const MappingQuery& q) {
  return RunReturning(
      *pool_, "list mappings",
      [&](sql::Connection& conn) -> absl::StatusOr<std::vector<v1::Mapping>> {
        Stmt select(conn.prepareStatement(absl::StrCat(
            "SELECT ", kMappingColumns,
            " FROM catalog_mappings WHERE source_product_id > ? AND (? = 0 OR "
            "target_product_id = ?) AND (? = 0 OR origin = ?) ORDER BY "
            "source_product_id")));
        select->setInt64(1, q.after_source_product_id);
        select->setInt64(2, q.target_product_id);
        select->setInt64(3, q.target_product_id);
        select->setInt(4, q.origin);
        select->setInt(5, q.origin);
        Rows rows(select->executeQuery());
        std::vector<v1::Mapping> out;
        while (rows->next()) out.push_back(ReadMappingRow(*rows));
        return out;
      });
}

absl::StatusOr<CatalogSnapshot> MysqlCatalogStore::LoadSnapshot() {
  return RunReturning(
      *pool_, "load catalog snapshot",
      [&](sql::Connection& conn) -> absl::StatusOr<CatalogSnapshot> {
        std::unique_ptr<sql::Statement> stmt(conn.createStatement());
        // Every change of products, mappings or settings raises the
        // revision in its transaction: the snapshot of an unchanged
        // revision is the one read last (a plan per customer moved read
        // and parsed the whole catalog each time). Rows are read after the
        // revision, so a snapshot is never older than the revision it is
        // kept under.
        Rows counters(stmt->executeQuery(
            "SELECT revision FROM catalog_counters WHERE id = 1"));
        if (!counters->next()) return absl::InternalError("no counters row");
        const int64_t revision = counters->getInt64(1);
        {
          absl::MutexLock lock(&snapshot_mu_);
          if (snapshot_ != nullptr && snapshot_revision_ == revision) {
            return *snapshot_;
          }
        }
        CatalogSnapshot snapshot;
        Rows products(stmt->executeQuery(absl::StrCat(
            "SELECT ", kProductColumns, " FROM catalog_products p")));
        while (products->next()) {
          snapshot.AddProduct(ReadProductRow(*products).product);
        }
        Rows mappings(stmt->executeQuery(absl::StrCat(
            "SELECT ", kMappingColumns, " FROM catalog_mappings")));
        while (mappings->next()) snapshot.AddMapping(ReadMappingRow(*mappings));
        snapshot.set_allow_overuse_default(
            QuerySettingsRow(conn, RowLock::kNone).allow_overuse_default());
        absl::MutexLock lock(&snapshot_mu_);
        snapshot_ = std::make_shared<const CatalogSnapshot>(snapshot);
        snapshot_revision_ = revision;
        return snapshot;
      });
}

}  // namespace tandem::catalog
