#include "catalog/catalog.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "catalog/product_spec.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace tandem::catalog {
namespace {

namespace v1 = ::tandem::catalog::v1;
using ::tandem::common::v1::Direction;
using ::tandem::common::v1::System;

using Stmt = std::unique_ptr<sql::PreparedStatement>;
using Rows = std::unique_ptr<sql::ResultSet>;

constexpr System kSource = ::tandem::common::v1::SYSTEM_SOURCE;
constexpr System kTarget = ::tandem::common::v1::SYSTEM_TARGET;
constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
constexpr char kSelfActor[] = "tandem-catalog";
// Customers PlanCustomers plans at once.
constexpr int kPlanReaders = 4;

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

// Binds serialized bytes to a BLOB parameter; `keep` holds the stream until
// the statement has run.
void BindBlob(sql::PreparedStatement& stmt, int index, const std::string& bytes,
              std::vector<std::unique_ptr<std::istringstream>>& keep) {
  keep.push_back(std::make_unique<std::istringstream>(bytes));
  stmt.setBlob(index, keep.back().get());
}

absl::Status ValidateRequestId(const std::string& request_id) {
  if (request_id.size() > 64) {
    return absl::InvalidArgumentError("request_id must be at most 64 bytes");
  }
  return absl::OkStatus();
}

absl::Status ValidateSystem(System system) {
  if (system != kSource && system != kTarget) {
    return absl::InvalidArgumentError(
        "system must be SYSTEM_SOURCE or SYSTEM_TARGET");
  }
  return absl::OkStatus();
}

absl::StatusOr<int> PageSize(int32_t requested) {
  if (requested < 0) {
    return absl::InvalidArgumentError("page_size must not be negative");
  }
  if (requested == 0) return kDefaultPageSize;
  return std::min<int>(requested, kMaxPageSize);
}

std::string SystemName(System system) {
  return system == kSource ? "source" : "target";
}

// ---------------------------------------------------------------------------
// Request ids
// ---------------------------------------------------------------------------

// Looks up a recorded response; true when `request_id` was already applied.
absl::StatusOr<bool> FindRequest(sql::Connection& conn,
                                 const std::string& request_id,
                                 const std::string& method,
                                 google::protobuf::Message* response) {
  if (request_id.empty()) return false;
  Stmt select(conn.prepareStatement(
      "SELECT method, response FROM catalog_requests WHERE request_id = ? "
      "FOR UPDATE"));
  select->setString(1, request_id);
  Rows rows(select->executeQuery());
  if (!rows->next()) return false;
  if (rows->getString("method") != method) {
    return absl::InvalidArgumentError(
        absl::StrCat("request_id ", request_id, " was used for ",
                     std::string(rows->getString("method"))));
  }
  if (!response->ParseFromString(rows->getString("response"))) {
    return absl::InternalError("unreadable recorded response");
  }
  return true;
}

void SaveRequest(sql::Connection& conn, const std::string& request_id,
                 const std::string& method,
                 const google::protobuf::Message& response) {
  if (request_id.empty()) return;
  std::vector<std::unique_ptr<std::istringstream>> keep;
  Stmt insert(conn.prepareStatement(
      "INSERT INTO catalog_requests (request_id, method, response, "
      "created_at_ms) VALUES (?, ?, ?, ?)"));
  insert->setString(1, request_id);
  insert->setString(2, method);
  BindBlob(*insert, 3, response.SerializeAsString(), keep);
  insert->setInt64(4, NowMs());
  insert->executeUpdate();
}

// ---------------------------------------------------------------------------
// Counters and the audit log
// ---------------------------------------------------------------------------

// Marks the cached state stale for every replica.
void BumpRevision(sql::Connection& conn) {
  std::unique_ptr<sql::Statement> stmt(conn.createStatement());
  stmt->executeUpdate(
      "UPDATE catalog_counters SET revision = revision + 1 WHERE id = 1");
}

// Appends an entry with the next sequence number. The counter row stays
// locked until the transaction ends, so sequence numbers commit in order and
// without gaps.
int64_t AppendAudit(sql::Connection& conn, v1::AuditEntry entry) {
  std::unique_ptr<sql::Statement> stmt(conn.createStatement());
  stmt->executeUpdate(
      "UPDATE catalog_counters SET audit_seq = LAST_INSERT_ID(audit_seq + 1) "
      "WHERE id = 1");
  Rows seq_rows(stmt->executeQuery("SELECT LAST_INSERT_ID()"));
  seq_rows->next();
  entry.set_seq(seq_rows->getInt64(1));
  System system = ::tandem::common::v1::SYSTEM_UNSPECIFIED;
  int64_t product_id = 0;
  if (entry.has_change()) {
    system = entry.change().system();
    product_id = entry.change().product_id();
  } else if (entry.has_mapping()) {
    system = kSource;
    product_id = entry.mapping().mapping().source_product_id();
  }
  std::vector<std::unique_ptr<std::istringstream>> keep;
  Stmt insert(conn.prepareStatement(
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
}

v1::ProductChange ChangeOf(System system, int64_t product_id,
                           const std::string& code, v1::ChangeKind kind,
                           v1::FreezeState state) {
  v1::ProductChange change;
  change.set_system(system);
  change.set_product_id(product_id);
  change.set_product_code(code);
  change.set_kind(kind);
  change.set_freeze_state(state);
  return change;
}

v1::AuditEntry NewAudit(v1::AuditKind kind, const std::string& actor,
                        const std::string& reason,
                        const std::string& request_id) {
  v1::AuditEntry entry;
  entry.set_kind(kind);
  entry.mutable_stamp()->set_actor(actor);
  entry.mutable_stamp()->set_reason(reason);
  entry.mutable_stamp()->set_at_unix_ms(NowMs());
  entry.set_request_id(request_id);
  return entry;
}

// ---------------------------------------------------------------------------
// The freeze and settings rows
// ---------------------------------------------------------------------------

struct FreezeRow {
  v1::Freeze freeze;
  v1::FreezeState previous = v1::FREEZE_STATE_UNSPECIFIED;
  bool automatic = false;
  bool forced = false;
};

// Reads the freeze row; `lock` is "", "LOCK IN SHARE MODE" or "FOR UPDATE".
FreezeRow ReadFreezeRow(sql::Connection& conn, absl::string_view lock) {
  std::unique_ptr<sql::Statement> stmt(conn.createStatement());
  Rows rows(stmt->executeQuery(absl::StrCat(
      "SELECT state, version, actor, reason, at_ms, previous_state, "
      "automatic, forced FROM catalog_freeze WHERE id = 1 ",
      lock)));
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

v1::CatalogSettings ReadSettingsRow(sql::Connection& conn, bool lock) {
  std::unique_ptr<sql::Statement> stmt(conn.createStatement());
  Rows rows(stmt->executeQuery(absl::StrCat(
      "SELECT allow_overuse_default, auto_lift, version, actor, reason, at_ms "
      "FROM catalog_settings WHERE id = 1",
      lock ? " FOR UPDATE" : "")));
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

// ---------------------------------------------------------------------------
// Product rows
// ---------------------------------------------------------------------------

constexpr char kProductColumns[] =
    "p.system, p.product_id, p.spec, p.version, p.subscription_count, "
    "p.customer_count, p.cloned_from, p.after_switchover, p.actor, p.reason, "
    "p.at_ms, p.refreshed_at_ms, "
    "(SELECT m.target_product_id FROM catalog_mappings m WHERE p.system = 1 "
    "AND m.source_product_id = p.product_id) AS mapped_to, "
    "EXISTS (SELECT 1 FROM catalog_mappings m WHERE p.system = 2 AND "
    "m.target_product_id = p.product_id) AS mapping_target";

struct ProductRow {
  v1::Product product;
  bool after_switchover = false;
  bool mapping_target = false;
};

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

ProductFacts FactsOf(const ProductRow& row) {
  ProductFacts facts;
  facts.known = true;
  facts.created_after_switchover = row.after_switchover;
  facts.mapping_target = row.mapping_target;
  return facts;
}

absl::StatusOr<ProductRow> LockProduct(sql::Connection& conn, System system,
                                       int64_t product_id) {
  Stmt select(conn.prepareStatement(
      absl::StrCat("SELECT ", kProductColumns,
                   " FROM catalog_products p WHERE p.system = ? AND "
                   "p.product_id = ? FOR UPDATE")));
  select->setInt(1, system);
  select->setInt64(2, product_id);
  Rows rows(select->executeQuery());
  if (!rows->next()) {
    return absl::NotFoundError(absl::StrCat(
        "no product ", product_id, " on the ", SystemName(system), " system"));
  }
  return ReadProductRow(*rows);
}

void UpsertProduct(sql::Connection& conn, const v1::Product& p,
                   bool after_switchover) {
  std::vector<std::unique_ptr<std::istringstream>> keep;
  Stmt upsert(conn.prepareStatement(
      "INSERT INTO catalog_products (system, product_id, code, kind, spec, "
      "version, subscription_count, customer_count, cloned_from, "
      "after_switchover, actor, reason, at_ms, refreshed_at_ms) VALUES "
      "(?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON DUPLICATE KEY UPDATE code = "
      "VALUES(code), kind = VALUES(kind), spec = VALUES(spec), version = "
      "VALUES(version), subscription_count = VALUES(subscription_count), "
      "customer_count = VALUES(customer_count), cloned_from = "
      "VALUES(cloned_from), actor = VALUES(actor), reason = VALUES(reason), "
      "at_ms = VALUES(at_ms), refreshed_at_ms = VALUES(refreshed_at_ms)"));
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
}

// ---------------------------------------------------------------------------
// Mapping rows
// ---------------------------------------------------------------------------

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

std::optional<v1::Mapping> LockMapping(sql::Connection& conn,
                                       int64_t source_product_id) {
  Stmt select(conn.prepareStatement(
      absl::StrCat("SELECT ", kMappingColumns,
                   " FROM catalog_mappings WHERE source_product_id = ? FOR "
                   "UPDATE")));
  select->setInt64(1, source_product_id);
  Rows rows(select->executeQuery());
  if (!rows->next()) return std::nullopt;
  return ReadMappingRow(*rows);
}

void WriteMapping(sql::Connection& conn, const v1::Mapping& m) {
  Stmt upsert(conn.prepareStatement(
      "INSERT INTO catalog_mappings (source_product_id, target_product_id, "
      "overuse_policy, origin, version, actor, reason, at_ms) VALUES "
      "(?,?,?,?,?,?,?,?) ON DUPLICATE KEY UPDATE target_product_id = "
      "VALUES(target_product_id), overuse_policy = VALUES(overuse_policy), "
      "origin = VALUES(origin), version = VALUES(version), actor = "
      "VALUES(actor), reason = VALUES(reason), at_ms = VALUES(at_ms)"));
  upsert->setInt64(1, m.source_product_id());
  upsert->setInt64(2, m.target_product_id());
  upsert->setInt(3, m.overuse_policy());
  upsert->setInt(4, m.origin());
  upsert->setInt64(5, m.version());
  upsert->setString(6, m.stamp().actor());
  upsert->setString(7, m.stamp().reason().substr(0, 1024));
  upsert->setInt64(8, m.stamp().at_unix_ms());
  upsert->executeUpdate();
}

// Warnings about what a mapping will do to its customers.
std::vector<std::string> MappingWarnings(const v1::Product& source,
                                         const v1::Product& target,
                                         const v1::ProductComparison& c) {
  std::vector<std::string> warnings;
  if (!c.contract_pool_matches()) {
    warnings.push_back(absl::StrCat(
        "contract pool differs (",
        source.spec().contract_pool().empty() ? "none"
                                              : source.spec().contract_pool(),
        " vs ",
        target.spec().contract_pool().empty() ? "none"
                                              : target.spec().contract_pool(),
        "): every customer will be refused"));
  }
  for (const v1::ResourceTypeComparison& r : c.resource_types()) {
    switch (r.comparison()) {
      case v1::RESOURCE_COMPARISON_MISSING:
        warnings.push_back(absl::StrCat("resource type ", r.source_code(),
                                        " missing on target: objects will be "
                                        "lost"));
        break;
      case v1::RESOURCE_COMPARISON_LIMIT_ZERO:
        warnings.push_back(absl::StrCat("resource ", r.source_code(),
                                        " has limit 0 on target: objects "
                                        "will be lost"));
        break;
      case v1::RESOURCE_COMPARISON_LIMIT_LOWERED:
        warnings.push_back(absl::StrCat(
            "resource ", r.source_code(),
            " limit lowered: customers above it are refused unless overuse "
            "is allowed"));
        break;
      case v1::RESOURCE_COMPARISON_TAKEN_OVER:
        warnings.push_back(absl::StrCat("resource type ", r.source_code(),
                                        " taken over by ", r.target_code()));
        break;
      default:
        break;
    }
  }
  if (c.activation_parameters_differ()) {
    warnings.push_back("activation parameters differ: rewritten on move");
  }
  for (int64_t addon : c.addons_not_carried_product_ids()) {
    warnings.push_back(absl::StrCat("add-on ", addon, " will not be carried"));
  }
  return warnings;
}

std::string NormalizeName(absl::string_view name) {
  std::vector<absl::string_view> words =
      absl::StrSplit(name, absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty());
  return absl::AsciiStrToLower(absl::StrJoin(words, " "));
}

}  // namespace

// ---------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------

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
  };
  return *migrations;
}

// ---------------------------------------------------------------------------
// Life cycle and the cached state
// ---------------------------------------------------------------------------

Catalog::Catalog(MysqlPool* control, BillingCatalog* source,
                 BillingCatalog* target, RouteCountsFn route_counts,
                 prometheus::Registry* registry, CatalogOptions options)
    : control_(control),
      source_(source),
      target_(target),
      route_counts_(std::move(route_counts)),
      options_(options) {
  if (registry != nullptr) {
    state_gauge_ = &prometheus::BuildGauge()
                        .Name("tandem_catalog_freeze_state")
                        .Help(
                            "The freeze state: 1 OPEN, 2 FROZEN, 3 "
                            "FROZEN_TARGET_OPEN, 4 LIFTED")
                        .Register(*registry)
                        .Add({});
    on_source_gauge_ =
        &prometheus::BuildGauge()
             .Name("tandem_catalog_customers_on_source")
             .Help(
                 "Customers keeping the freeze from lifting, as the router "
                 "last reported; -1 when unknown")
             .Register(*registry)
             .Add({});
    on_source_gauge_->Set(-1);
    transitions_ = &prometheus::BuildCounter()
                        .Name("tandem_catalog_freeze_transitions_total")
                        .Help("Freeze transitions made by this replica")
                        .Register(*registry);
    refusals_ = &prometheus::BuildCounter()
                     .Name("tandem_catalog_change_refusals_total")
                     .Help("Product changes refused by the freeze")
                     .Register(*registry);
    checks_ = &prometheus::BuildCounter()
                   .Name("tandem_catalog_change_checks_total")
                   .Help("CheckChange answers by result")
                   .Register(*registry);
    outcomes_ = &prometheus::BuildCounter()
                     .Name("tandem_catalog_plan_outcomes_total")
                     .Help("Subscriptions planned, by outcome")
                     .Register(*registry);
    plans_ = &prometheus::BuildCounter()
                  .Name("tandem_catalog_plans_total")
                  .Help("Customers planned, by verdict")
                  .Register(*registry);
    drift_ = &prometheus::BuildCounter()
                  .Name("tandem_catalog_drift_detected_total")
                  .Help(
                      "Frozen products found changed behind the catalog's "
                      "back")
                  .Register(*registry)
                  .Add({});
    applied_ = &prometheus::BuildCounter()
                    .Name("tandem_catalog_changes_applied_total")
                    .Help("Product changes applied through the catalog")
                    .Register(*registry)
                    .Add({});
  }
}

absl::StatusOr<std::unique_ptr<Catalog>> Catalog::Create(
    MysqlPool* control, BillingCatalog* source, BillingCatalog* target,
    RouteCountsFn route_counts, prometheus::Registry* registry,
    CatalogOptions options) {
  TANDEM_RETURN_IF_ERROR(
      ApplySchemaMigrations(*control, "catalog", CatalogSchemaMigrations()));
  std::unique_ptr<Catalog> catalog(new Catalog(
      control, source, target, std::move(route_counts), registry, options));
  TANDEM_RETURN_IF_ERROR(catalog->Reload(/*force=*/true));
  catalog->poller_ = std::thread([c = catalog.get()] { c->PollLoop(); });
  return catalog;
}

Catalog::~Catalog() {
  {
    std::lock_guard<std::mutex> lock(poll_mu_);
    stopping_ = true;
  }
  poll_cv_.notify_all();
  if (poller_.joinable()) poller_.join();
}

BillingCatalog* Catalog::Billing(System system) const {
  return system == kSource ? source_ : target_;
}

absl::Status Catalog::ReloadNow() { return Reload(/*force=*/true); }

absl::Status Catalog::Reload(bool force) {
  Cached fresh;
  FreezeRow freeze_row;
  bool unchanged = false;
  TANDEM_RETURN_IF_ERROR(control_->Run(
      "reload catalog state", [&](sql::Connection& conn) -> absl::Status {
        std::unique_ptr<sql::Statement> stmt(conn.createStatement());
        Rows rows(stmt->executeQuery(
            "SELECT revision FROM catalog_counters WHERE id = 1"));
        if (!rows->next()) return absl::InternalError("no counters row");
        fresh.revision = rows->getInt64(1);
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (!force && fresh.revision == cached_.revision) {
            unchanged = true;
            return absl::OkStatus();
          }
        }
        freeze_row = ReadFreezeRow(conn, "");
        fresh.freeze = freeze_row.freeze;
        fresh.settings = ReadSettingsRow(conn, false);
        Rows products(stmt->executeQuery(absl::StrCat(
            "SELECT ", kProductColumns, " FROM catalog_products p")));
        while (products->next()) {
          ProductRow row = ReadProductRow(*products);
          fresh.facts[{row.product.system(), row.product.product_id()}] =
              FactsOf(row);
        }
        return absl::OkStatus();
      }));
  if (unchanged) return absl::OkStatus();
  // Installing and publishing under publish_mu_ keeps events in version
  // order when two reloads race.
  std::lock_guard<std::mutex> publishing(publish_mu_);
  std::optional<v1::WatchFreezeResponse> event;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // A concurrent reload may have installed a newer revision already.
    if (fresh.revision < cached_.revision) return absl::OkStatus();
    if (cached_.revision >= 0 &&
        fresh.freeze.version() > cached_.freeze.version()) {
      event.emplace();
      v1::FreezeTransition* t = event->mutable_transition();
      t->set_from_state(freeze_row.previous);
      t->set_to_state(fresh.freeze.state());
      t->set_version(fresh.freeze.version());
      t->set_automatic(freeze_row.automatic);
      t->set_forced(freeze_row.forced);
    }
    cached_ = std::move(fresh);
    if (state_gauge_ != nullptr) state_gauge_->Set(cached_.freeze.state());
  }
  if (event.has_value()) {
    *event->mutable_freeze() = CurrentFreeze();
    PublishLocked(*event);
  }
  return absl::OkStatus();
}

void Catalog::PollLoop() {
  std::unique_lock<std::mutex> lock(poll_mu_);
  while (!poll_cv_.wait_for(lock,
                            absl::ToChronoMilliseconds(options_.poll_interval),
                            [this] { return stopping_; })) {
    lock.unlock();
    absl::Status status = Reload(/*force=*/false);
    if (!status.ok()) {
      TANDEM_LOG(Warning, "catalog_reload_failed")
          .With("error", status.ToString());
    }
    lock.lock();
  }
}

v1::Freeze Catalog::CurrentFreeze() const {
  std::lock_guard<std::mutex> lock(mu_);
  v1::Freeze freeze = cached_.freeze;
  freeze.set_customers_on_source(customers_on_source_);
  freeze.set_auto_lift(cached_.settings.auto_lift());
  return freeze;
}

void Catalog::PublishLocked(const v1::WatchFreezeResponse& event) {
  std::vector<FreezeListener> listeners;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [handle, listener] : listeners_) {
      listeners.push_back(listener);
    }
  }
  for (const FreezeListener& listener : listeners) listener(event);
}

int64_t Catalog::AddFreezeListener(FreezeListener listener) {
  // Holding publish_mu_ keeps a transition from reaching the listener before
  // the current freeze does, or from slipping between the two.
  std::lock_guard<std::mutex> publishing(publish_mu_);
  v1::WatchFreezeResponse first;
  *first.mutable_freeze() = CurrentFreeze();
  listener(first);
  std::lock_guard<std::mutex> lock(mu_);
  int64_t handle = next_listener_++;
  listeners_[handle] = std::move(listener);
  return handle;
}

void Catalog::RemoveFreezeListener(int64_t handle) {
  // Waits out a publication that may still be calling this listener.
  std::lock_guard<std::mutex> publishing(publish_mu_);
  std::lock_guard<std::mutex> lock(mu_);
  listeners_.erase(handle);
}

// ---------------------------------------------------------------------------
// The freeze
// ---------------------------------------------------------------------------

v1::GetFreezeResponse Catalog::GetFreeze() const {
  v1::GetFreezeResponse response;
  *response.mutable_freeze() = CurrentFreeze();
  return response;
}

absl::StatusOr<v1::SetFreezeResponse> Catalog::SetFreeze(
    const Principal& who, const v1::SetFreezeRequest& req) {
  if (req.state() == v1::FREEZE_STATE_UNSPECIFIED ||
      !v1::FreezeState_IsValid(req.state())) {
    return absl::InvalidArgumentError("state must be a freeze state");
  }
  if (req.reason().empty()) {
    return absl::InvalidArgumentError("reason is required");
  }
  if (req.reason().size() > 1024) {
    return absl::InvalidArgumentError("reason must be at most 1,024 bytes");
  }
  if (req.expected_version() < 0) {
    return absl::InvalidArgumentError("expected_version must not be negative");
  }
  if (req.force() && req.state() != v1::FREEZE_STATE_LIFTED) {
    return absl::InvalidArgumentError("force applies only to LIFTED");
  }
  TANDEM_RETURN_IF_ERROR(ValidateRequestId(req.request_id()));
  return Transition(who.name, req, /*automatic=*/false);
}

absl::StatusOr<v1::SetFreezeResponse> Catalog::Transition(
    const std::string& actor, const v1::SetFreezeRequest& req, bool automatic) {
  // The route preconditions are asked before the transaction so that it
  // does not wait on the network while holding the freeze row.
  std::optional<RouteCounts> counts;
  if (req.state() == v1::FREEZE_STATE_LIFTED ||
      req.state() == v1::FREEZE_STATE_OPEN) {
    absl::StatusOr<RouteCounts> fresh = route_counts_();
    if (!fresh.ok()) {
      if (!(req.state() == v1::FREEZE_STATE_LIFTED && req.force())) {
        return absl::UnavailableError(
            absl::StrCat("cannot ask the router where customers are: ",
                         fresh.status().message()));
      }
    } else {
      counts = *fresh;
    }
  }
  v1::SetFreezeResponse response;
  bool changed = false;
  TANDEM_RETURN_IF_ERROR(control_->Transaction(
      "set freeze", [&](sql::Connection& conn) -> absl::Status {
        response.Clear();
        changed = false;
        TANDEM_ASSIGN_OR_RETURN(
            bool replayed,
            FindRequest(conn, req.request_id(), "SetFreeze", &response));
        if (replayed) return absl::OkStatus();
        FreezeRow row = ReadFreezeRow(conn, "FOR UPDATE");
        const v1::Freeze& current = row.freeze;
        if (req.expected_version() != 0 &&
            req.expected_version() != current.version()) {
          return absl::AbortedError(
              absl::StrCat("freeze version is ", current.version(), ", not ",
                           req.expected_version(), "; re-read and retry"));
        }
        if (req.state() == current.state()) {
          *response.mutable_freeze() = current;
          return absl::OkStatus();
        }
        if (!IsLegalTransition(current.state(), req.state())) {
          return absl::FailedPreconditionError(absl::StrCat(
              "illegal freeze transition ", FreezeStateName(current.state()),
              " -> ", FreezeStateName(req.state())));
        }
        bool forced = false;
        if (req.state() == v1::FREEZE_STATE_LIFTED) {
          if (!counts.has_value() || counts->on_source() > 0) {
            if (!req.force()) {
              return absl::FailedPreconditionError(absl::StrCat(
                  "cannot lift the freeze: ", counts->on_source(),
                  " customers are still on the source or migrating (force "
                  "to lift anyway)"));
            }
            forced = true;
          }
        }
        if (req.state() == v1::FREEZE_STATE_OPEN &&
            counts->source_migrating + counts->target_stable +
                    counts->target_migrating >
                0) {
          return absl::FailedPreconditionError(
              absl::StrCat("cannot open the catalog again: ",
                           counts->source_migrating + counts->target_stable +
                               counts->target_migrating,
                           " customers have started moving"));
        }
        const int64_t now = NowMs();
        Stmt update(conn.prepareStatement(
            "UPDATE catalog_freeze SET state = ?, version = version + 1, "
            "actor = ?, reason = ?, at_ms = ?, previous_state = ?, automatic "
            "= ?, forced = ? WHERE id = 1"));
        update->setInt(1, req.state());
        update->setString(2, actor);
        update->setString(3, req.reason());
        update->setInt64(4, now);
        update->setInt(5, current.state());
        update->setInt(6, automatic ? 1 : 0);
        update->setInt(7, forced ? 1 : 0);
        update->executeUpdate();
        v1::Freeze after = current;
        after.set_state(req.state());
        after.set_version(current.version() + 1);
        after.mutable_stamp()->set_actor(actor);
        after.mutable_stamp()->set_reason(req.reason());
        after.mutable_stamp()->set_at_unix_ms(now);
        v1::FreezeTransition* transition = response.mutable_transition();
        transition->set_from_state(current.state());
        transition->set_to_state(req.state());
        transition->set_version(after.version());
        transition->set_automatic(automatic);
        transition->set_forced(forced);
        v1::AuditEntry entry = NewAudit(v1::AUDIT_KIND_FREEZE_TRANSITION, actor,
                                        req.reason(), req.request_id());
        entry.mutable_stamp()->set_at_unix_ms(now);
        *entry.mutable_transition() = *transition;
        AppendAudit(conn, std::move(entry));
        BumpRevision(conn);
        *response.mutable_freeze() = after;
        SaveRequest(conn, req.request_id(), "SetFreeze", response);
        changed = true;
        return absl::OkStatus();
      }));
  if (changed) {
    if (transitions_ != nullptr) {
      transitions_
          ->Add({{"to", FreezeStateName(req.state())},
                 {"automatic", automatic ? "true" : "false"}})
          .Increment();
    }
    TANDEM_LOG(Info, "freeze_transition")
        .With("from", FreezeStateName(response.transition().from_state()))
        .With("to", FreezeStateName(response.transition().to_state()))
        .With("version", response.transition().version())
        .With("actor", actor)
        .With("automatic", automatic)
        .With("forced", response.transition().forced());
    absl::Status reloaded = Reload(/*force=*/true);
    if (!reloaded.ok()) {
      TANDEM_LOG(Warning, "catalog_reload_failed")
          .With("error", reloaded.ToString());
    }
  }
  v1::Freeze& freeze = *response.mutable_freeze();
  {
    std::lock_guard<std::mutex> lock(mu_);
    freeze.set_customers_on_source(customers_on_source_);
    freeze.set_auto_lift(cached_.settings.auto_lift());
  }
  return response;
}

void Catalog::OnRouteCounts(const RouteCounts& counts, bool known) {
  v1::Freeze freeze;
  bool auto_lift = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    customers_on_source_ = known ? counts.on_source() : -1;
    freeze = cached_.freeze;
    auto_lift = cached_.settings.auto_lift();
  }
  if (on_source_gauge_ != nullptr) {
    on_source_gauge_->Set(known ? counts.on_source() : -1);
  }
  // An empty router has not been imported yet: that is not "everyone has
  // moved", so it never lifts the freeze.
  if (!known || !auto_lift ||
      freeze.state() != v1::FREEZE_STATE_FROZEN_TARGET_OPEN ||
      counts.on_source() != 0 || counts.total() == 0) {
    return;
  }
  std::unique_lock<std::mutex> lifting(lift_mu_, std::try_to_lock);
  if (!lifting.owns_lock()) return;
  v1::SetFreezeRequest req;
  req.set_state(v1::FREEZE_STATE_LIFTED);
  req.set_expected_version(freeze.version());
  req.set_reason(absl::StrCat("no customer left on the source (",
                              counts.target_stable,
                              " customers on the target)"));
  // Transition asks the router again before it commits.
  absl::StatusOr<v1::SetFreezeResponse> lifted =
      Transition(kSelfActor, req, /*automatic=*/true);
  if (!lifted.ok() && !absl::IsAborted(lifted.status())) {
    TANDEM_LOG(Warning, "automatic_lift_failed")
        .With("error", lifted.status().ToString());
  }
}

void Catalog::CountRefusal(v1::ChangeRefusal refusal) {
  if (refusals_ == nullptr) return;
  refusals_
      ->Add({{"refusal",
              std::string(absl::StripPrefix(v1::ChangeRefusal_Name(refusal),
                                            "CHANGE_REFUSAL_"))}})
      .Increment();
}

void Catalog::AuditRefusal(const Principal& who, const std::string& reason,
                           const std::string& request_id,
                           const v1::ProductChange& change) {
  CountRefusal(change.refusal());
  TANDEM_LOG(Info, "change_refused")
      .With("system", SystemName(change.system()))
      .With("product_id", change.product_id())
      .With("kind", v1::ChangeKind_Name(change.kind()))
      .With("refusal", v1::ChangeRefusal_Name(change.refusal()))
      .With("actor", who.name);
  absl::Status audited = control_->Transaction(
      "audit refusal", [&](sql::Connection& conn) -> absl::Status {
        v1::AuditEntry entry = NewAudit(v1::AUDIT_KIND_CHANGE_REFUSED, who.name,
                                        reason, request_id);
        *entry.mutable_change() = change;
        AppendAudit(conn, std::move(entry));
        return absl::OkStatus();
      });
  if (!audited.ok()) {
    // The refusal stands either way; only its audit entry is missing.
    TANDEM_LOG(Error, "refusal_not_audited").With("error", audited.ToString());
  }
}

absl::StatusOr<v1::CheckChangeResponse> Catalog::CheckChange(
    const Principal& who, const v1::CheckChangeRequest& req) {
  TANDEM_RETURN_IF_ERROR(ValidateSystem(req.system()));
  if (req.kind() == v1::CHANGE_KIND_UNSPECIFIED ||
      !v1::ChangeKind_IsValid(req.kind())) {
    return absl::InvalidArgumentError("kind must be a change kind");
  }
  if (req.kind() == v1::CHANGE_KIND_CREATE ? req.product_id() != 0
                                           : req.product_id() <= 0) {
    return absl::InvalidArgumentError(
        "product_id must be 0 for CREATE and positive otherwise");
  }
  if (req.detail().size() > 1024 || req.on_behalf_of().size() > 256) {
    return absl::InvalidArgumentError(
        "detail must be at most 1,024 bytes and on_behalf_of at most 256");
  }
  v1::CheckChangeResponse response;
  ProductFacts facts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cached_.facts.find({req.system(), req.product_id()});
    if (it != cached_.facts.end()) facts = it->second;
  }
  *response.mutable_freeze() = CurrentFreeze();
  ChangeDecision decision =
      DecideChange(response.freeze(), req.system(), req.kind(), facts);
  response.set_allowed(decision.allowed);
  response.set_refusal(decision.refusal);
  response.set_reason(decision.reason);
  if (checks_ != nullptr) {
    checks_->Add({{"result", decision.allowed ? "allowed" : "refused"}})
        .Increment();
  }
  if (!decision.allowed && !req.dry_run()) {
    v1::ProductChange change;
    change.set_system(req.system());
    change.set_product_id(req.product_id());
    change.set_kind(req.kind());
    change.set_refusal(decision.refusal);
    change.set_freeze_state(response.freeze().state());
    change.set_on_behalf_of(req.on_behalf_of());
    change.set_detail(req.detail());
    AuditRefusal(who, decision.reason, "", change);
  }
  return response;
}

absl::StatusOr<v1::ListFreezeAuditResponse> Catalog::ListFreezeAudit(
    const v1::ListFreezeAuditRequest& req) {
  TANDEM_ASSIGN_OR_RETURN(int page_size, PageSize(req.page_size()));
  if (req.system() != ::tandem::common::v1::SYSTEM_UNSPECIFIED) {
    TANDEM_RETURN_IF_ERROR(ValidateSystem(req.system()));
  }
  if (req.product_id() < 0 || req.since_unix_ms() < 0 ||
      req.until_unix_ms() < 0) {
    return absl::InvalidArgumentError(
        "product_id and the time bounds must not be negative");
  }
  if (req.product_id() != 0 &&
      req.system() == ::tandem::common::v1::SYSTEM_UNSPECIFIED) {
    return absl::InvalidArgumentError("product_id needs a system");
  }
  for (int kind : req.kinds()) {
    if (kind == v1::AUDIT_KIND_UNSPECIFIED || !v1::AuditKind_IsValid(kind)) {
      return absl::InvalidArgumentError("kinds must be audit kinds");
    }
  }
  // The page token carries the last sequence number and a hash of the
  // filters it belongs to.
  v1::ListFreezeAuditRequest filters = req;
  filters.clear_page_size();
  filters.clear_page_token();
  const std::string filter_hash =
      absl::StrCat(absl::Hash<std::string>()(filters.SerializeAsString()));
  int64_t before_seq = INT64_MAX;
  if (!req.page_token().empty()) {
    std::vector<std::string> parts = absl::StrSplit(req.page_token(), '.');
    if (parts.size() != 2 || parts[1] != filter_hash ||
        !absl::SimpleAtoi(parts[0], &before_seq)) {
      return absl::InvalidArgumentError(
          "page_token does not belong to these filters");
    }
  }
  std::string where = "seq < ?";
  if (req.kinds_size() > 0) {
    where += " AND kind IN (";
    for (int i = 0; i < req.kinds_size(); ++i) {
      where += i == 0 ? "?" : ",?";
    }
    where += ")";
  }
  if (req.system() != ::tandem::common::v1::SYSTEM_UNSPECIFIED) {
    where += " AND system = ?";
  }
  if (req.product_id() != 0) where += " AND product_id = ?";
  if (req.since_unix_ms() != 0) where += " AND at_ms >= ?";
  if (req.until_unix_ms() != 0) where += " AND at_ms < ?";
  v1::ListFreezeAuditResponse response;
  TANDEM_RETURN_IF_ERROR(
      control_->Run("list audit", [&](sql::Connection& conn) -> absl::Status {
        response.Clear();
        Stmt select(conn.prepareStatement(
            absl::StrCat("SELECT entry FROM catalog_audit WHERE ", where,
                         " ORDER BY seq DESC LIMIT ?")));
        int p = 1;
        select->setInt64(p++, before_seq);
        for (int kind : req.kinds()) select->setInt(p++, kind);
        if (req.system() != ::tandem::common::v1::SYSTEM_UNSPECIFIED) {
          select->setInt(p++, req.system());
        }
        if (req.product_id() != 0) select->setInt64(p++, req.product_id());
        if (req.since_unix_ms() != 0) {
          select->setInt64(p++, req.since_unix_ms());
        }
        if (req.until_unix_ms() != 0) {
          select->setInt64(p++, req.until_unix_ms());
        }
        select->setInt(p++, page_size + 1);
        Rows rows(select->executeQuery());
        while (rows->next()) {
          if (response.entries_size() == page_size) {
            response.set_next_page_token(absl::StrCat(
                response.entries(page_size - 1).seq(), ".", filter_hash));
            break;
          }
          if (!response.add_entries()->ParseFromString(
                  rows->getString("entry"))) {
            return absl::InternalError("unreadable audit entry");
          }
        }
        return absl::OkStatus();
      }));
  return response;
}

// ---------------------------------------------------------------------------
// Products
// ---------------------------------------------------------------------------

namespace {

// Sets `frozen` on products read from rows, for the given freeze state.
void MarkFrozen(v1::FreezeState state, const ProductRow& row,
                v1::Product* product) {
  product->set_frozen(
      IsProductFrozen(state, row.product.system(), FactsOf(row)));
}

// Finds the product a billing system returned by id.
const BillingProduct* FindBilling(const std::vector<BillingProduct>& products,
                                  int64_t product_id) {
  for (const BillingProduct& p : products) {
    if (p.product_id == product_id) return &p;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<v1::ListProductsResponse> Catalog::ListProducts(
    const v1::ListProductsRequest& req) {
  TANDEM_ASSIGN_OR_RETURN(int page_size, PageSize(req.page_size()));
  if (req.system() != ::tandem::common::v1::SYSTEM_UNSPECIFIED) {
    TANDEM_RETURN_IF_ERROR(ValidateSystem(req.system()));
  }
  if (!v1::ProductKind_IsValid(req.kind())) {
    return absl::InvalidArgumentError("unknown product kind");
  }
  if (req.unmapped_only() && req.system() == kTarget) {
    return absl::InvalidArgumentError(
        "unmapped_only applies to source products");
  }
  int after_system = 0;
  int64_t after_id = 0;
  if (!req.page_token().empty()) {
    std::vector<std::string> parts = absl::StrSplit(req.page_token(), '.');
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &after_system) ||
        !absl::SimpleAtoi(parts[1], &after_id)) {
      return absl::InvalidArgumentError("malformed page_token");
    }
  }
  const v1::FreezeState state = CurrentFreeze().state();
  v1::ListProductsResponse response;
  TANDEM_RETURN_IF_ERROR(control_->Run(
      "list products", [&](sql::Connection& conn) -> absl::Status {
        response.Clear();
        std::string where = "(p.system, p.product_id) > (?, ?)";
        if (req.system() != ::tandem::common::v1::SYSTEM_UNSPECIFIED) {
          where += " AND p.system = ?";
        }
        if (req.kind() != v1::PRODUCT_KIND_UNSPECIFIED) {
          where += " AND p.kind = ?";
        }
        if (req.unmapped_only()) {
          where +=
              " AND p.system = 1 AND NOT EXISTS (SELECT 1 FROM "
              "catalog_mappings m WHERE m.source_product_id = p.product_id)";
        }
        if (!req.code_prefix().empty()) {
          where += " AND LEFT(p.code, CHAR_LENGTH(?)) = ?";
        }
        Stmt select(conn.prepareStatement(absl::StrCat(
            "SELECT ", kProductColumns, " FROM catalog_products p WHERE ",
            where, " ORDER BY p.system, p.product_id LIMIT ?")));
        int i = 1;
        select->setInt(i++, after_system);
        select->setInt64(i++, after_id);
        if (req.system() != ::tandem::common::v1::SYSTEM_UNSPECIFIED) {
          select->setInt(i++, req.system());
        }
        if (req.kind() != v1::PRODUCT_KIND_UNSPECIFIED) {
          select->setInt(i++, req.kind());
        }
        if (!req.code_prefix().empty()) {
          select->setString(i++, req.code_prefix());
          select->setString(i++, req.code_prefix());
        }
        select->setInt(i++, page_size + 1);
        Rows rows(select->executeQuery());
        while (rows->next()) {
          if (response.products_size() == page_size) {
            const v1::Product& last = response.products(page_size - 1);
            response.set_next_page_token(
                absl::StrCat(last.system(), ".", last.product_id()));
            break;
          }
          ProductRow row = ReadProductRow(*rows);
          v1::Product* product = response.add_products();
          *product = row.product;
          MarkFrozen(state, row, product);
        }
        return absl::OkStatus();
      }));
  return response;
}

absl::StatusOr<v1::GetProductResponse> Catalog::GetProduct(
    const v1::GetProductRequest& req) {
  TANDEM_RETURN_IF_ERROR(ValidateSystem(req.system()));
  if (req.product_case() == v1::GetProductRequest::PRODUCT_NOT_SET ||
      (req.product_case() == v1::GetProductRequest::kProductId &&
       req.product_id() <= 0) ||
      (req.product_case() == v1::GetProductRequest::kCode &&
       req.code().empty())) {
    return absl::InvalidArgumentError("give a positive product_id or a code");
  }
  const v1::FreezeState state = CurrentFreeze().state();
  v1::GetProductResponse response;
  TANDEM_RETURN_IF_ERROR(
      control_->Run("get product", [&](sql::Connection& conn) -> absl::Status {
        const bool by_id =
            req.product_case() == v1::GetProductRequest::kProductId;
        Stmt select(conn.prepareStatement(
            absl::StrCat("SELECT ", kProductColumns,
                         " FROM catalog_products p WHERE p.system = ? AND ",
                         by_id ? "p.product_id = ?" : "p.code = ?")));
        select->setInt(1, req.system());
        if (by_id) {
          select->setInt64(2, req.product_id());
        } else {
          select->setString(2, req.code());
        }
        Rows rows(select->executeQuery());
        if (!rows->next()) {
          return absl::NotFoundError(
              absl::StrCat("no product ",
                           by_id ? absl::StrCat(req.product_id()) : req.code(),
                           " on the ", SystemName(req.system()), " system"));
        }
        ProductRow row = ReadProductRow(*rows);
        *response.mutable_product() = row.product;
        MarkFrozen(state, row, response.mutable_product());
        return absl::OkStatus();
      }));
  return response;
}

absl::StatusOr<v1::RefreshProductsResponse> Catalog::RefreshProducts(
    const Principal& who, const v1::RefreshProductsRequest& req) {
  if (req.system() != ::tandem::common::v1::SYSTEM_UNSPECIFIED) {
    TANDEM_RETURN_IF_ERROR(ValidateSystem(req.system()));
  }
  TANDEM_RETURN_IF_ERROR(ValidateRequestId(req.request_id()));
  v1::RefreshProductsResponse total;
  for (System system : {kSource, kTarget}) {
    if (req.system() != ::tandem::common::v1::SYSTEM_UNSPECIFIED &&
        req.system() != system) {
      continue;
    }
    absl::StatusOr<std::vector<BillingProduct>> read =
        Billing(system)->ReadProducts();
    if (!read.ok()) {
      return absl::UnavailableError(
          absl::StrCat("cannot read the ", SystemName(system),
                       " billing database: ", read.status().message()));
    }
    v1::RefreshProductsResponse part;
    std::vector<v1::ProductChange> drift;
    TANDEM_RETURN_IF_ERROR(control_->Transaction(
        "refresh products", [&](sql::Connection& conn) -> absl::Status {
          part.Clear();
          drift.clear();
          // Judged under the freeze row, like any product change.
          const v1::Freeze freeze =
              ReadFreezeRow(conn, "LOCK IN SHARE MODE").freeze;
          Stmt select(conn.prepareStatement(
              absl::StrCat("SELECT ", kProductColumns,
                           " FROM catalog_products p WHERE p.system = ? "
                           "FOR UPDATE")));
          select->setInt(1, system);
          Rows rows(select->executeQuery());
          std::map<int64_t, ProductRow> known;
          while (rows->next()) {
            ProductRow row = ReadProductRow(*rows);
            known[row.product.product_id()] = std::move(row);
          }
          const int64_t now = NowMs();
          bool changed_any = false;
          for (const BillingProduct& billing : *read) {
            part.set_products_seen(part.products_seen() + 1);
            v1::ProductSpec spec = CanonicalSpec(billing.spec);
            auto it = known.find(billing.product_id);
            if (it == known.end()) {
              v1::Product product;
              product.set_system(system);
              product.set_product_id(billing.product_id);
              *product.mutable_spec() = spec;
              product.set_version(1);
              product.set_subscription_count(billing.subscription_count);
              product.set_customer_count(billing.customer_count);
              product.mutable_stamp()->set_actor(who.name);
              product.mutable_stamp()->set_reason("found by refresh");
              product.mutable_stamp()->set_at_unix_ms(now);
              product.set_refreshed_at_unix_ms(now);
              UpsertProduct(
                  conn, product,
                  system == kTarget &&
                      freeze.state() == v1::FREEZE_STATE_FROZEN_TARGET_OPEN);
              part.set_products_added(part.products_added() + 1);
              // A product created behind the catalog's back while the
              // freeze forbids it is a violation too.
              if (!DecideChange(freeze, system, v1::CHANGE_KIND_CREATE, {})
                       .allowed) {
                v1::ProductChange change =
                    ChangeOf(system, billing.product_id, spec.code(),
                             v1::CHANGE_KIND_CREATE, freeze.state());
                change.set_detail("created on the billing system");
                v1::AuditEntry entry =
                    NewAudit(v1::AUDIT_KIND_DRIFT_DETECTED, who.name,
                             "found by refresh", req.request_id());
                *entry.mutable_change() = change;
                AppendAudit(conn, std::move(entry));
                drift.push_back(change);
              }
              changed_any = true;
              continue;
            }
            ProductRow& row = it->second;
            v1::Product product = row.product;
            SpecDifference diff = DiffSpecs(product.spec(), spec);
            // Names, classes and units of resource types belong to the
            // system; take them as read without calling it a change.
            const bool spec_bytes_differ =
                product.spec().SerializeAsString() != spec.SerializeAsString();
            if (diff.any()) {
              part.set_products_changed(part.products_changed() + 1);
              product.set_version(product.version() + 1);
              if (IsProductFrozen(freeze.state(), system, FactsOf(row))) {
                v1::ProductChange change;
                change.set_system(system);
                change.set_product_id(billing.product_id);
                change.set_product_code(spec.code());
                change.set_kind(diff.configuration
                                    ? v1::CHANGE_KIND_UPDATE_CONFIGURATION
                                    : v1::CHANGE_KIND_UPDATE_PRICE);
                change.set_freeze_state(freeze.state());
                change.set_detail(absl::StrCat(
                    "changed on the billing system: ", diff.fields));
                v1::AuditEntry entry =
                    NewAudit(v1::AUDIT_KIND_DRIFT_DETECTED, who.name,
                             "found by refresh", req.request_id());
                *entry.mutable_change() = change;
                AppendAudit(conn, std::move(entry));
                drift.push_back(change);
              }
            }
            *product.mutable_spec() = spec;
            product.set_subscription_count(billing.subscription_count);
            product.set_customer_count(billing.customer_count);
            product.set_refreshed_at_unix_ms(now);
            UpsertProduct(conn, product, row.after_switchover);
            changed_any |= diff.any() || spec_bytes_differ;
            known.erase(it);
          }
          for (const auto& [id, row] : known) {
            if (IsProductFrozen(freeze.state(), system, FactsOf(row))) {
              v1::ProductChange change =
                  ChangeOf(system, id, row.product.spec().code(),
                           v1::CHANGE_KIND_DELETE, freeze.state());
              change.set_detail("deleted on the billing system");
              v1::AuditEntry entry =
                  NewAudit(v1::AUDIT_KIND_DRIFT_DETECTED, who.name,
                           "found by refresh", req.request_id());
              *entry.mutable_change() = change;
              AppendAudit(conn, std::move(entry));
              drift.push_back(change);
            }
            Stmt remove(conn.prepareStatement(
                "DELETE FROM catalog_products WHERE system = ? AND "
                "product_id = ?"));
            remove->setInt(1, system);
            remove->setInt64(2, id);
            remove->executeUpdate();
            part.set_products_removed(part.products_removed() + 1);
            changed_any = true;
          }
          if (changed_any) BumpRevision(conn);
          return absl::OkStatus();
        }));
    total.set_products_seen(total.products_seen() + part.products_seen());
    total.set_products_added(total.products_added() + part.products_added());
    total.set_products_changed(total.products_changed() +
                               part.products_changed());
    total.set_products_removed(total.products_removed() +
                               part.products_removed());
    for (v1::ProductChange& change : drift) {
      if (drift_ != nullptr) drift_->Increment();
      TANDEM_LOG(Warning, "freeze_drift_detected")
          .With("system", SystemName(change.system()))
          .With("product_id", change.product_id())
          .With("detail", change.detail());
      *total.add_drift() = std::move(change);
    }
  }
  TANDEM_RETURN_IF_ERROR(Reload(/*force=*/true));
  return total;
}

namespace {

absl::Status BillingError(const absl::Status& status, System system) {
  if (absl::IsUnavailable(status) || absl::IsResourceExhausted(status) ||
      absl::IsDeadlineExceeded(status)) {
    return absl::UnavailableError(
        absl::StrCat("cannot write the ", SystemName(system),
                     " billing database: ", status.message()));
  }
  return status;
}

// Creates `spec` on a billing system. A retry after a crash between a
// billing write and the control commit finds its own product there: same
// code, same spec, unknown to the catalog; that product is adopted. Any
// other product with the code is ALREADY_EXISTS.
absl::StatusOr<int64_t> CreateOrAdopt(sql::Connection& conn,
                                      BillingCatalog& billing, System system,
                                      const v1::ProductSpec& spec) {
  absl::StatusOr<int64_t> created = billing.CreateProduct(spec);
  if (!absl::IsAlreadyExists(created.status())) return created;
  TANDEM_ASSIGN_OR_RETURN(std::vector<BillingProduct> all,
                          billing.ReadProducts());
  for (const BillingProduct& p : all) {
    if (p.spec.code() != spec.code()) continue;
    Stmt known(conn.prepareStatement(
        "SELECT 1 FROM catalog_products WHERE system = ? AND product_id = ?"));
    known->setInt(1, system);
    known->setInt64(2, p.product_id);
    Rows rows(known->executeQuery());
    if (!rows->next() && !DiffSpecs(p.spec, spec).any()) return p.product_id;
  }
  return absl::AlreadyExistsError(
      absl::StrCat("the ", SystemName(system),
                   " system already has a product with code ", spec.code()));
}

}  // namespace

absl::StatusOr<v1::CreateProductResponse> Catalog::CreateProduct(
    const Principal& who, const v1::CreateProductRequest& req) {
  TANDEM_RETURN_IF_ERROR(ValidateSystem(req.system()));
  TANDEM_RETURN_IF_ERROR(ValidateProductSpec(req.spec(), req.system()));
  TANDEM_RETURN_IF_ERROR(ValidateRequestId(req.request_id()));
  const System system = req.system();
  const v1::ProductSpec spec = CanonicalSpec(req.spec());
  BillingCatalog* billing = Billing(system);
  v1::CreateProductResponse response;
  std::optional<v1::ProductChange> refused;
  std::string refused_reason;
  absl::Status status = control_->Transaction(
      "create product", [&](sql::Connection& conn) -> absl::Status {
        response.Clear();
        refused.reset();
        TANDEM_ASSIGN_OR_RETURN(
            bool replayed,
            FindRequest(conn, req.request_id(), "CreateProduct", &response));
        if (replayed) return absl::OkStatus();
        const v1::Freeze freeze =
            ReadFreezeRow(conn, "LOCK IN SHARE MODE").freeze;
        ChangeDecision decision =
            DecideChange(freeze, system, v1::CHANGE_KIND_CREATE, {});
        if (!decision.allowed) {
          refused = ChangeOf(system, 0, spec.code(), v1::CHANGE_KIND_CREATE,
                             freeze.state());
          refused->set_refusal(decision.refusal);
          refused->set_detail(absl::StrCat("CreateProduct ", spec.code()));
          refused_reason = decision.reason;
          return absl::FailedPreconditionError(decision.reason);
        }
        absl::StatusOr<int64_t> created =
            CreateOrAdopt(conn, *billing, system, spec);
        if (!created.ok()) return BillingError(created.status(), system);
        TANDEM_ASSIGN_OR_RETURN(std::vector<BillingProduct> all,
                                billing->ReadProducts());
        const BillingProduct* read = FindBilling(all, *created);
        if (read == nullptr) {
          return absl::UnavailableError("created product vanished; retry");
        }
        const int64_t now = NowMs();
        v1::Product product;
        product.set_system(system);
        product.set_product_id(*created);
        *product.mutable_spec() = CanonicalSpec(read->spec);
        product.set_version(1);
        product.mutable_stamp()->set_actor(who.name);
        product.mutable_stamp()->set_reason(req.reason());
        product.mutable_stamp()->set_at_unix_ms(now);
        product.set_refreshed_at_unix_ms(now);
        const bool after_switchover =
            system == kTarget &&
            freeze.state() == v1::FREEZE_STATE_FROZEN_TARGET_OPEN;
        UpsertProduct(conn, product, after_switchover);
        v1::AuditEntry entry = NewAudit(v1::AUDIT_KIND_CHANGE_APPLIED, who.name,
                                        req.reason(), req.request_id());
        *entry.mutable_change() =
            ChangeOf(system, *created, spec.code(), v1::CHANGE_KIND_CREATE,
                     freeze.state());
        AppendAudit(conn, std::move(entry));
        BumpRevision(conn);
        *response.mutable_product() = product;
        SaveRequest(conn, req.request_id(), "CreateProduct", response);
        return absl::OkStatus();
      });
  if (refused.has_value()) {
    AuditRefusal(who, refused_reason, req.request_id(), *refused);
  }
  TANDEM_RETURN_IF_ERROR(status);
  if (applied_ != nullptr) applied_->Increment();
  (void)Reload(/*force=*/true);
  return response;
}

absl::StatusOr<v1::UpdateProductResponse> Catalog::UpdateProduct(
    const Principal& who, const v1::UpdateProductRequest& req) {
  TANDEM_RETURN_IF_ERROR(ValidateSystem(req.system()));
  if (req.product_id() <= 0) {
    return absl::InvalidArgumentError("product_id must be positive");
  }
  TANDEM_RETURN_IF_ERROR(ValidateProductSpec(req.spec(), req.system()));
  TANDEM_RETURN_IF_ERROR(ValidateRequestId(req.request_id()));
  const System system = req.system();
  const v1::ProductSpec spec = CanonicalSpec(req.spec());
  BillingCatalog* billing = Billing(system);
  v1::UpdateProductResponse response;
  std::optional<v1::ProductChange> refused;
  std::string refused_reason;
  bool applied = false;
  absl::Status status = control_->Transaction(
      "update product", [&](sql::Connection& conn) -> absl::Status {
        response.Clear();
        refused.reset();
        applied = false;
        TANDEM_ASSIGN_OR_RETURN(
            bool replayed,
            FindRequest(conn, req.request_id(), "UpdateProduct", &response));
        if (replayed) return absl::OkStatus();
        const v1::Freeze freeze =
            ReadFreezeRow(conn, "LOCK IN SHARE MODE").freeze;
        TANDEM_ASSIGN_OR_RETURN(ProductRow row,
                                LockProduct(conn, system, req.product_id()));
        if (req.expected_version() != row.product.version()) {
          return absl::AbortedError(absl::StrCat(
              "product version is ", row.product.version(), ", not ",
              req.expected_version(), "; re-read and retry"));
        }
        if (spec.kind() != row.product.spec().kind()) {
          return absl::InvalidArgumentError("a product's kind never changes");
        }
        SpecDifference diff = DiffSpecs(row.product.spec(), spec);
        if (!diff.any()) {
          *response.mutable_product() = row.product;
          MarkFrozen(freeze.state(), row, response.mutable_product());
          return absl::OkStatus();
        }
        const v1::ChangeKind kind = diff.configuration
                                        ? v1::CHANGE_KIND_UPDATE_CONFIGURATION
                                        : v1::CHANGE_KIND_UPDATE_PRICE;
        ChangeDecision decision =
            DecideChange(freeze, system, kind, FactsOf(row));
        if (!decision.allowed) {
          refused = ChangeOf(system, req.product_id(),
                             row.product.spec().code(), kind, freeze.state());
          refused->set_refusal(decision.refusal);
          refused->set_detail(absl::StrCat("UpdateProduct: ", diff.fields));
          refused_reason = decision.reason;
          return absl::FailedPreconditionError(decision.reason);
        }
        absl::Status written = billing->UpdateProduct(req.product_id(), spec);
        if (absl::IsNotFound(written)) {
          return absl::NotFoundError(absl::StrCat(
              "product ", req.product_id(), " is gone from the ",
              SystemName(system), " billing system; refresh the catalog"));
        }
        if (!written.ok()) return BillingError(written, system);
        TANDEM_ASSIGN_OR_RETURN(std::vector<BillingProduct> all,
                                billing->ReadProducts());
        const BillingProduct* read = FindBilling(all, req.product_id());
        if (read == nullptr) {
          return absl::UnavailableError("updated product vanished; retry");
        }
        const int64_t now = NowMs();
        v1::Product product = row.product;
        *product.mutable_spec() = CanonicalSpec(read->spec);
        product.set_version(row.product.version() + 1);
        product.set_subscription_count(read->subscription_count);
        product.set_customer_count(read->customer_count);
        product.mutable_stamp()->set_actor(who.name);
        product.mutable_stamp()->set_reason(req.reason());
        product.mutable_stamp()->set_at_unix_ms(now);
        product.set_refreshed_at_unix_ms(now);
        UpsertProduct(conn, product, row.after_switchover);
        v1::AuditEntry entry = NewAudit(v1::AUDIT_KIND_CHANGE_APPLIED, who.name,
                                        req.reason(), req.request_id());
        *entry.mutable_change() = ChangeOf(system, req.product_id(),
                                           spec.code(), kind, freeze.state());
        entry.mutable_change()->set_detail(diff.fields);
        AppendAudit(conn, std::move(entry));
        BumpRevision(conn);
        *response.mutable_product() = product;
        row.product = product;
        MarkFrozen(freeze.state(), row, response.mutable_product());
        SaveRequest(conn, req.request_id(), "UpdateProduct", response);
        applied = true;
        return absl::OkStatus();
      });
  if (refused.has_value()) {
    AuditRefusal(who, refused_reason, req.request_id(), *refused);
  }
  TANDEM_RETURN_IF_ERROR(status);
  if (applied) {
    if (applied_ != nullptr) applied_->Increment();
    (void)Reload(/*force=*/true);
  }
  return response;
}

absl::StatusOr<v1::DeleteProductResponse> Catalog::DeleteProduct(
    const Principal& who, const v1::DeleteProductRequest& req) {
  TANDEM_RETURN_IF_ERROR(ValidateSystem(req.system()));
  if (req.product_id() <= 0) {
    return absl::InvalidArgumentError("product_id must be positive");
  }
  TANDEM_RETURN_IF_ERROR(ValidateRequestId(req.request_id()));
  const System system = req.system();
  BillingCatalog* billing = Billing(system);
  v1::DeleteProductResponse response;
  std::optional<v1::ProductChange> refused;
  std::string refused_reason;
  absl::Status status = control_->Transaction(
      "delete product", [&](sql::Connection& conn) -> absl::Status {
        refused.reset();
        TANDEM_ASSIGN_OR_RETURN(
            bool replayed,
            FindRequest(conn, req.request_id(), "DeleteProduct", &response));
        if (replayed) return absl::OkStatus();
        const v1::Freeze freeze =
            ReadFreezeRow(conn, "LOCK IN SHARE MODE").freeze;
        TANDEM_ASSIGN_OR_RETURN(ProductRow row,
                                LockProduct(conn, system, req.product_id()));
        if (req.expected_version() != row.product.version()) {
          return absl::AbortedError(absl::StrCat(
              "product version is ", row.product.version(), ", not ",
              req.expected_version(), "; re-read and retry"));
        }
        ChangeDecision decision =
            DecideChange(freeze, system, v1::CHANGE_KIND_DELETE, FactsOf(row));
        if (!decision.allowed) {
          refused =
              ChangeOf(system, req.product_id(), row.product.spec().code(),
                       v1::CHANGE_KIND_DELETE, freeze.state());
          refused->set_refusal(decision.refusal);
          refused->set_detail("DeleteProduct");
          refused_reason = decision.reason;
          return absl::FailedPreconditionError(decision.reason);
        }
        if (row.product.mapped_to_product_id() != 0 || row.mapping_target) {
          return absl::FailedPreconditionError(
              "a mapping points from or to this product; delete the mapping "
              "first");
        }
        if (row.product.spec().kind() == v1::PRODUCT_KIND_ADDON) {
          Stmt offers(conn.prepareStatement(
              "SELECT product_id, spec FROM catalog_products WHERE system = ? "
              "AND kind = ?"));
          offers->setInt(1, system);
          offers->setInt(2, v1::PRODUCT_KIND_MAIN);
          Rows rows(offers->executeQuery());
          while (rows->next()) {
            v1::ProductSpec main;
            main.ParseFromString(rows->getString("spec"));
            for (int64_t addon : main.addon_product_ids()) {
              if (addon == req.product_id()) {
                return absl::FailedPreconditionError(absl::StrCat(
                    "product ", main.code(), " offers this add-on"));
              }
            }
          }
        }
        absl::Status removed = billing->DeleteProduct(req.product_id());
        // Gone already: a retry after a crash between the billing write and
        // this commit.
        if (!removed.ok() && !absl::IsNotFound(removed)) {
          return BillingError(removed, system);
        }
        Stmt remove(conn.prepareStatement(
            "DELETE FROM catalog_products WHERE system = ? AND product_id = "
            "?"));
        remove->setInt(1, system);
        remove->setInt64(2, req.product_id());
        remove->executeUpdate();
        v1::AuditEntry entry = NewAudit(v1::AUDIT_KIND_CHANGE_APPLIED, who.name,
                                        req.reason(), req.request_id());
        *entry.mutable_change() =
            ChangeOf(system, req.product_id(), row.product.spec().code(),
                     v1::CHANGE_KIND_DELETE, freeze.state());
        AppendAudit(conn, std::move(entry));
        BumpRevision(conn);
        SaveRequest(conn, req.request_id(), "DeleteProduct", response);
        return absl::OkStatus();
      });
  if (refused.has_value()) {
    AuditRefusal(who, refused_reason, req.request_id(), *refused);
  }
  TANDEM_RETURN_IF_ERROR(status);
  if (applied_ != nullptr) applied_->Increment();
  (void)Reload(/*force=*/true);
  return response;
}

// ---------------------------------------------------------------------------
// Mappings and settings
// ---------------------------------------------------------------------------

absl::StatusOr<CatalogSnapshot> Catalog::LoadSnapshot() {
  CatalogSnapshot snapshot;
  TANDEM_RETURN_IF_ERROR(control_->Run(
      "load catalog snapshot", [&](sql::Connection& conn) -> absl::Status {
        snapshot = CatalogSnapshot();
        std::unique_ptr<sql::Statement> stmt(conn.createStatement());
        Rows products(stmt->executeQuery(absl::StrCat(
            "SELECT ", kProductColumns, " FROM catalog_products p")));
        while (products->next()) {
          snapshot.AddProduct(ReadProductRow(*products).product);
        }
        Rows mappings(stmt->executeQuery(absl::StrCat(
            "SELECT ", kMappingColumns, " FROM catalog_mappings")));
        while (mappings->next()) snapshot.AddMapping(ReadMappingRow(*mappings));
        snapshot.set_allow_overuse_default(
            ReadSettingsRow(conn, false).allow_overuse_default());
        return absl::OkStatus();
      }));
  return snapshot;
}

absl::StatusOr<v1::SetMappingResponse> Catalog::SetMapping(
    const Principal& who, const v1::SetMappingRequest& req) {
  if (req.source_product_id() <= 0 || req.target_product_id() <= 0) {
    return absl::InvalidArgumentError("product ids must be positive");
  }
  if (!v1::OverusePolicy_IsValid(req.overuse_policy())) {
    return absl::InvalidArgumentError("unknown overuse_policy");
  }
  if (req.origin() == v1::MAPPING_ORIGIN_GENERATED ||
      !v1::MappingOrigin_IsValid(req.origin())) {
    return absl::InvalidArgumentError(
        "origin must be MANUAL or PROPOSED (GENERATED mappings come from "
        "GenerateMissingProducts)");
  }
  if (req.expected_version() < 0) {
    return absl::InvalidArgumentError("expected_version must not be negative");
  }
  TANDEM_RETURN_IF_ERROR(ValidateRequestId(req.request_id()));
  v1::SetMappingResponse response;
  bool changed = false;
  TANDEM_RETURN_IF_ERROR(control_->Transaction(
      "set mapping", [&](sql::Connection& conn) -> absl::Status {
        response.Clear();
        changed = false;
        TANDEM_ASSIGN_OR_RETURN(
            bool replayed,
            FindRequest(conn, req.request_id(), "SetMapping", &response));
        if (replayed) return absl::OkStatus();
        const v1::Freeze freeze =
            ReadFreezeRow(conn, "LOCK IN SHARE MODE").freeze;
        if (freeze.state() == v1::FREEZE_STATE_LIFTED) {
          return absl::FailedPreconditionError(
              "the freeze is lifted: every customer has moved, mappings are "
              "final");
        }
        TANDEM_ASSIGN_OR_RETURN(
            ProductRow source,
            LockProduct(conn, kSource, req.source_product_id()));
        TANDEM_ASSIGN_OR_RETURN(
            ProductRow target,
            LockProduct(conn, kTarget, req.target_product_id()));
        if (source.product.spec().kind() != target.product.spec().kind()) {
          return absl::InvalidArgumentError(
              "a main product maps only to a main product, an add-on only to "
              "an add-on");
        }
        std::optional<v1::Mapping> current =
            LockMapping(conn, req.source_product_id());
        if (req.expected_version() == 0 && current.has_value()) {
          return absl::AlreadyExistsError(absl::StrCat(
              "product ", req.source_product_id(), " is already mapped (to ",
              current->target_product_id(), ", version ", current->version(),
              ")"));
        }
        if (req.expected_version() != 0 &&
            (!current.has_value() ||
             current->version() != req.expected_version())) {
          return absl::AbortedError(absl::StrCat(
              "mapping version is ",
              current.has_value() ? current->version() : 0, ", not ",
              req.expected_version(), "; re-read and retry"));
        }
        v1::Mapping mapping;
        mapping.set_source_product_id(req.source_product_id());
        mapping.set_target_product_id(req.target_product_id());
        mapping.set_overuse_policy(req.overuse_policy() ==
                                           v1::OVERUSE_POLICY_UNSPECIFIED
                                       ? v1::OVERUSE_POLICY_INHERIT
                                       : req.overuse_policy());
        mapping.set_origin(req.origin() == v1::MAPPING_ORIGIN_UNSPECIFIED
                               ? v1::MAPPING_ORIGIN_MANUAL
                               : req.origin());
        if (current.has_value() &&
            current->target_product_id() == mapping.target_product_id() &&
            current->overuse_policy() == mapping.overuse_policy() &&
            current->origin() == mapping.origin()) {
          mapping = *current;  // not a change
        } else {
          mapping.set_version(current.has_value() ? current->version() + 1 : 1);
          mapping.mutable_stamp()->set_actor(who.name);
          mapping.mutable_stamp()->set_reason(req.reason());
          mapping.mutable_stamp()->set_at_unix_ms(NowMs());
          WriteMapping(conn, mapping);
          v1::AuditEntry entry =
              NewAudit(v1::AUDIT_KIND_MAPPING_CHANGED, who.name, req.reason(),
                       req.request_id());
          *entry.mutable_mapping()->mutable_mapping() = mapping;
          AppendAudit(conn, std::move(entry));
          BumpRevision(conn);
          changed = true;
        }
        *response.mutable_mapping() = mapping;
        return absl::OkStatus();
      }));
  if (response.mapping().has_comparison()) return response;  // replayed
  TANDEM_ASSIGN_OR_RETURN(CatalogSnapshot snapshot, LoadSnapshot());
  const v1::Product* source =
      snapshot.FindProduct(kSource, response.mapping().source_product_id());
  const v1::Product* target =
      snapshot.FindProduct(kTarget, response.mapping().target_product_id());
  if (source != nullptr && target != nullptr) {
    *response.mutable_mapping()->mutable_comparison() = CompareProducts(
        *source, *target, snapshot, ::tandem::common::v1::DIRECTION_MOVE);
    for (std::string& warning :
         MappingWarnings(*source, *target, response.mapping().comparison())) {
      response.add_warnings(std::move(warning));
    }
  }
  if (changed && !req.request_id().empty()) {
    // Record the full answer (with its comparison) for retries.
    TANDEM_RETURN_IF_ERROR(control_->Transaction(
        "record mapping request", [&](sql::Connection& conn) -> absl::Status {
          v1::SetMappingResponse ignored;
          TANDEM_ASSIGN_OR_RETURN(
              bool replayed,
              FindRequest(conn, req.request_id(), "SetMapping", &ignored));
          if (!replayed) {
            SaveRequest(conn, req.request_id(), "SetMapping", response);
          }
          return absl::OkStatus();
        }));
  }
  if (changed) (void)Reload(/*force=*/true);
  return response;
}

absl::StatusOr<v1::ListMappingsResponse> Catalog::ListMappings(
    const v1::ListMappingsRequest& req) {
  TANDEM_ASSIGN_OR_RETURN(int page_size, PageSize(req.page_size()));
  if (req.target_product_id() < 0 || !v1::MappingOrigin_IsValid(req.origin())) {
    return absl::InvalidArgumentError("bad target_product_id or origin");
  }
  int64_t after = 0;
  if (!req.page_token().empty() &&
      !absl::SimpleAtoi(req.page_token(), &after)) {
    return absl::InvalidArgumentError("malformed page_token");
  }
  // Mappings are few (one per source product); the comparison needs the
  // products anyway, so the whole snapshot is read.
  TANDEM_ASSIGN_OR_RETURN(CatalogSnapshot snapshot, LoadSnapshot());
  std::vector<v1::Mapping> mappings;
  TANDEM_RETURN_IF_ERROR(control_->Run(
      "list mappings", [&](sql::Connection& conn) -> absl::Status {
        mappings.clear();
        Stmt select(conn.prepareStatement(absl::StrCat(
            "SELECT ", kMappingColumns,
            " FROM catalog_mappings WHERE source_product_id > ? AND (? = 0 OR "
            "target_product_id = ?) AND (? = 0 OR origin = ?) ORDER BY "
            "source_product_id")));
        select->setInt64(1, after);
        select->setInt64(2, req.target_product_id());
        select->setInt64(3, req.target_product_id());
        select->setInt(4, req.origin());
        select->setInt(5, req.origin());
        Rows rows(select->executeQuery());
        while (rows->next()) mappings.push_back(ReadMappingRow(*rows));
        return absl::OkStatus();
      }));
  v1::ListMappingsResponse response;
  for (v1::Mapping& mapping : mappings) {
    const v1::Product* source =
        snapshot.FindProduct(kSource, mapping.source_product_id());
    const v1::Product* target =
        snapshot.FindProduct(kTarget, mapping.target_product_id());
    if (source != nullptr && target != nullptr) {
      *mapping.mutable_comparison() = CompareProducts(
          *source, *target, snapshot, ::tandem::common::v1::DIRECTION_MOVE);
    }
    if (req.not_clean_only() && mapping.comparison().clean()) continue;
    if (response.mappings_size() == page_size) {
      response.set_next_page_token(
          absl::StrCat(response.mappings(page_size - 1).source_product_id()));
      break;
    }
    *response.add_mappings() = std::move(mapping);
  }
  return response;
}

absl::StatusOr<v1::DeleteMappingResponse> Catalog::DeleteMapping(
    const Principal& who, const v1::DeleteMappingRequest& req) {
  if (req.source_product_id() <= 0) {
    return absl::InvalidArgumentError("source_product_id must be positive");
  }
  TANDEM_RETURN_IF_ERROR(ValidateRequestId(req.request_id()));
  v1::DeleteMappingResponse response;
  bool changed = false;
  TANDEM_RETURN_IF_ERROR(control_->Transaction(
      "delete mapping", [&](sql::Connection& conn) -> absl::Status {
        changed = false;
        TANDEM_ASSIGN_OR_RETURN(
            bool replayed,
            FindRequest(conn, req.request_id(), "DeleteMapping", &response));
        if (replayed) return absl::OkStatus();
        const v1::Freeze freeze =
            ReadFreezeRow(conn, "LOCK IN SHARE MODE").freeze;
        if (freeze.state() == v1::FREEZE_STATE_LIFTED) {
          return absl::FailedPreconditionError(
              "the freeze is lifted: mappings are final");
        }
        std::optional<v1::Mapping> current =
            LockMapping(conn, req.source_product_id());
        if (!current.has_value()) {
          return absl::NotFoundError(absl::StrCat(
              "product ", req.source_product_id(), " has no mapping"));
        }
        if (current->version() != req.expected_version()) {
          return absl::AbortedError(
              absl::StrCat("mapping version is ", current->version(), ", not ",
                           req.expected_version(), "; re-read and retry"));
        }
        Stmt remove(conn.prepareStatement(
            "DELETE FROM catalog_mappings WHERE source_product_id = ?"));
        remove->setInt64(1, req.source_product_id());
        remove->executeUpdate();
        v1::AuditEntry entry =
            NewAudit(v1::AUDIT_KIND_MAPPING_CHANGED, who.name, req.reason(),
                     req.request_id());
        *entry.mutable_mapping()->mutable_mapping() = *current;
        entry.mutable_mapping()->set_deleted(true);
        AppendAudit(conn, std::move(entry));
        BumpRevision(conn);
        SaveRequest(conn, req.request_id(), "DeleteMapping", response);
        changed = true;
        return absl::OkStatus();
      }));
  if (changed) (void)Reload(/*force=*/true);
  return response;
}

absl::StatusOr<v1::ProposeMappingsResponse> Catalog::ProposeMappings(
    const v1::ProposeMappingsRequest& req) {
  if (!v1::MatchBy_IsValid(req.match_by())) {
    return absl::InvalidArgumentError("unknown match_by");
  }
  if (req.source_product_ids_size() > 10000) {
    return absl::InvalidArgumentError("at most 10,000 source_product_ids");
  }
  const v1::MatchBy match_by = req.match_by() == v1::MATCH_BY_UNSPECIFIED
                                   ? v1::MATCH_BY_CODE_THEN_NAME
                                   : req.match_by();
  TANDEM_ASSIGN_OR_RETURN(CatalogSnapshot snapshot, LoadSnapshot());
  // Source ids to match, ascending.
  std::vector<int64_t> ids(req.source_product_ids().begin(),
                           req.source_product_ids().end());
  if (ids.empty()) {
    // Every source product; the listing above is paged, so page through.
    v1::ListProductsRequest page;
    page.set_system(kSource);
    page.set_page_size(kMaxPageSize);
    while (true) {
      TANDEM_ASSIGN_OR_RETURN(v1::ListProductsResponse got, ListProducts(page));
      for (const v1::Product& p : got.products()) ids.push_back(p.product_id());
      if (got.next_page_token().empty()) break;
      page.set_page_token(got.next_page_token());
    }
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  // Target products by code and by normalised name.
  std::map<std::string, std::vector<const v1::Product*>> by_code, by_name;
  v1::ListProductsRequest page;
  page.set_system(kTarget);
  page.set_page_size(kMaxPageSize);
  std::vector<int64_t> target_ids;
  while (true) {
    TANDEM_ASSIGN_OR_RETURN(v1::ListProductsResponse got, ListProducts(page));
    for (const v1::Product& p : got.products()) {
      target_ids.push_back(p.product_id());
    }
    if (got.next_page_token().empty()) break;
    page.set_page_token(got.next_page_token());
  }
  for (int64_t id : target_ids) {
    const v1::Product* p = snapshot.FindProduct(kTarget, id);
    if (p == nullptr) continue;
    by_code[p->spec().code()].push_back(p);
    by_name[NormalizeName(p->spec().name())].push_back(p);
  }
  v1::ProposeMappingsResponse response;
  for (int64_t id : ids) {
    const v1::Product* source = snapshot.FindProduct(kSource, id);
    if (source == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("no product ", id, " on the source system"));
    }
    const v1::Mapping* current = snapshot.FindMapping(id);
    if (current != nullptr && !req.include_mapped()) continue;
    const v1::Product* match = nullptr;
    v1::MatchBy matched_by = v1::MATCH_BY_UNSPECIFIED;
    bool ambiguous = false;
    auto same_kind = [&](const std::vector<const v1::Product*>& candidates) {
      std::vector<const v1::Product*> out;
      for (const v1::Product* c : candidates) {
        if (c->spec().kind() == source->spec().kind()) out.push_back(c);
      }
      return out;
    };
    if (match_by != v1::MATCH_BY_NAME) {
      auto it = by_code.find(source->spec().code());
      if (it != by_code.end()) {
        std::vector<const v1::Product*> found = same_kind(it->second);
        if (!found.empty()) {
          match = found.front();
          matched_by = v1::MATCH_BY_CODE;
        }
      }
    }
    if (match == nullptr && match_by != v1::MATCH_BY_CODE) {
      auto it = by_name.find(NormalizeName(source->spec().name()));
      if (it != by_name.end()) {
        std::vector<const v1::Product*> found = same_kind(it->second);
        if (found.size() == 1) {
          match = found.front();
          matched_by = v1::MATCH_BY_NAME;
        } else if (found.size() > 1) {
          ambiguous = true;
        }
      }
    }
    if (ambiguous) {
      response.add_ambiguous_source_product_ids(id);
    } else if (match == nullptr) {
      response.add_unmatched_source_product_ids(id);
    } else {
      v1::MappingProposal* proposal = response.add_proposals();
      proposal->set_source_product_id(id);
      proposal->set_target_product_id(match->product_id());
      proposal->set_matched_by(matched_by);
      if (current != nullptr) {
        proposal->set_current_target_product_id(current->target_product_id());
      }
    }
  }
  // Compare as if the proposals for unmapped products were accepted, so
  // that an add-on proposed alongside its main product counts as carried.
  CatalogSnapshot accepted = snapshot;
  for (const v1::MappingProposal& p : response.proposals()) {
    if (snapshot.FindMapping(p.source_product_id()) != nullptr) continue;
    v1::Mapping mapping;
    mapping.set_source_product_id(p.source_product_id());
    mapping.set_target_product_id(p.target_product_id());
    accepted.AddMapping(std::move(mapping));
  }
  for (v1::MappingProposal& p : *response.mutable_proposals()) {
    *p.mutable_comparison() =
        CompareProducts(*accepted.FindProduct(kSource, p.source_product_id()),
                        *accepted.FindProduct(kTarget, p.target_product_id()),
                        accepted, ::tandem::common::v1::DIRECTION_MOVE);
  }
  return response;
}

absl::StatusOr<v1::GenerateMissingProductsResponse>
Catalog::GenerateMissingProducts(
    const Principal& who, const v1::GenerateMissingProductsRequest& req) {
  if (req.source_product_ids_size() > 10000) {
    return absl::InvalidArgumentError("at most 10,000 source_product_ids");
  }
  const std::string suffix =
      req.code_suffix().empty() ? "-v1" : req.code_suffix();
  if (suffix.size() > 16 ||
      !std::all_of(suffix.begin(), suffix.end(), [](char c) {
        return absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-';
      })) {
    return absl::InvalidArgumentError(
        "code_suffix must be at most 16 characters of [A-Za-z0-9_.-]");
  }
  TANDEM_RETURN_IF_ERROR(ValidateRequestId(req.request_id()));
  v1::GenerateMissingProductsResponse response;
  if (!req.dry_run() && !req.request_id().empty()) {
    bool replayed = false;
    TANDEM_RETURN_IF_ERROR(control_->Run(
        "find request", [&](sql::Connection& conn) -> absl::Status {
          TANDEM_ASSIGN_OR_RETURN(
              replayed, FindRequest(conn, req.request_id(),
                                    "GenerateMissingProducts", &response));
          return absl::OkStatus();
        }));
    if (replayed) return response;
  }
  const v1::Freeze freeze = CurrentFreeze();
  ChangeDecision decision =
      DecideChange(freeze, kTarget, v1::CHANGE_KIND_CREATE, {});
  if (!decision.allowed && !req.dry_run()) {
    v1::ProductChange change =
        ChangeOf(kTarget, 0, "", v1::CHANGE_KIND_CREATE, freeze.state());
    change.set_refusal(decision.refusal);
    change.set_detail("GenerateMissingProducts");
    AuditRefusal(who, decision.reason, req.request_id(), change);
    return absl::FailedPreconditionError(decision.reason);
  }
  TANDEM_ASSIGN_OR_RETURN(CatalogSnapshot snapshot, LoadSnapshot());
  absl::StatusOr<std::vector<v1::ResourceType>> target_types =
      target_->ReadResourceTypes();
  if (!target_types.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot read the target billing database: ",
                     target_types.status().message()));
  }
  // What to clone: the requested (or every) source product, add-ons first so
  // that a main product's clone can offer their clones.
  std::vector<int64_t> requested(req.source_product_ids().begin(),
                                 req.source_product_ids().end());
  std::set<std::string> target_codes;
  {
    v1::ListProductsRequest page;
    page.set_page_size(kMaxPageSize);
    while (true) {
      TANDEM_ASSIGN_OR_RETURN(v1::ListProductsResponse got, ListProducts(page));
      for (const v1::Product& p : got.products()) {
        if (p.system() == kTarget) {
          target_codes.insert(p.spec().code());
        } else if (req.source_product_ids_size() == 0) {
          requested.push_back(p.product_id());
        }
      }
      if (got.next_page_token().empty()) break;
      page.set_page_token(got.next_page_token());
    }
  }
  std::sort(requested.begin(), requested.end());
  requested.erase(std::unique(requested.begin(), requested.end()),
                  requested.end());
  std::vector<int64_t> order;
  std::set<int64_t> queued;
  for (int64_t id : requested) {
    const v1::Product* p = snapshot.FindProduct(kSource, id);
    if (p == nullptr) {
      v1::SkippedProduct* skipped = response.add_skipped();
      skipped->set_source_product_id(id);
      skipped->set_reason("not in the catalog");
      continue;
    }
    if (const v1::Mapping* m = snapshot.FindMapping(id)) {
      v1::SkippedProduct* skipped = response.add_skipped();
      skipped->set_source_product_id(id);
      skipped->set_reason(
          absl::StrCat("already mapped to ", m->target_product_id()));
      continue;
    }
    for (int64_t addon : p->spec().addon_product_ids()) {
      if (snapshot.FindMapping(addon) == nullptr &&
          snapshot.FindProduct(kSource, addon) != nullptr &&
          queued.insert(addon).second) {
        order.push_back(addon);
      }
    }
    if (queued.insert(id).second) order.push_back(id);
  }
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return snapshot.FindProduct(kSource, a)->spec().kind() ==
               v1::PRODUCT_KIND_ADDON &&
           snapshot.FindProduct(kSource, b)->spec().kind() !=
               v1::PRODUCT_KIND_ADDON;
  });
  std::map<std::string, const v1::ResourceType*> types_by_code;
  for (const v1::ResourceType& t : *target_types) types_by_code[t.code()] = &t;
  std::map<int64_t, int64_t> cloned;  // source id -> clone id (this call)
  std::vector<v1::GeneratedProduct> generated;
  for (int64_t id : order) {
    const v1::Product& source = *snapshot.FindProduct(kSource, id);
    v1::ProductSpec spec = source.spec();
    if (target_codes.count(spec.code()) > 0) {
      spec.set_code(absl::StrCat(spec.code(), suffix));
    }
    if (target_codes.count(spec.code()) > 0 || spec.code().size() > 64) {
      v1::SkippedProduct* skipped = response.add_skipped();
      skipped->set_source_product_id(id);
      skipped->set_reason(
          absl::StrCat("code ", spec.code(), " is taken on the target"));
      continue;
    }
    // The safest copy the target can hold: a resource type the target
    // system does not know becomes a type of the same class, or is left out
    // (the mapping's comparison then reports it).
    spec.clear_resource_types();
    std::set<std::string> used;
    for (const v1::ResourceType& type : source.spec().resource_types()) {
      std::string code;
      if (types_by_code.count(type.code()) > 0) {
        code = type.code();
      } else {
        for (const v1::ResourceType& t : *target_types) {
          if (t.resource_class() == type.resource_class() &&
              used.count(t.code()) == 0 &&
              std::none_of(source.spec().resource_types().begin(),
                           source.spec().resource_types().end(),
                           [&](const v1::ResourceType& s) {
                             return s.code() == t.code();
                           })) {
            code = t.code();
            break;
          }
        }
      }
      if (code.empty() || !used.insert(code).second) continue;
      v1::ResourceType* copy = spec.add_resource_types();
      *copy = *types_by_code[code];
      copy->set_limit(type.limit());
    }
    spec.clear_addon_product_ids();
    for (int64_t addon : source.spec().addon_product_ids()) {
      int64_t target_addon = 0;
      if (const v1::Mapping* m = snapshot.FindMapping(addon)) {
        target_addon = m->target_product_id();
      } else if (cloned.count(addon) > 0) {
        target_addon = cloned[addon];
      }
      if (target_addon != 0) spec.add_addon_product_ids(target_addon);
    }
    spec = CanonicalSpec(std::move(spec));
    v1::GeneratedProduct out;
    out.set_source_product_id(id);
    if (req.dry_run()) {
      *out.mutable_target_product()->mutable_spec() = spec;
      out.mutable_target_product()->set_system(kTarget);
      generated.push_back(std::move(out));
      target_codes.insert(spec.code());
      continue;
    }
    bool skipped_mapped = false;
    std::optional<v1::ProductChange> refused;
    std::string refused_reason;
    absl::Status status = control_->Transaction(
        "generate product", [&](sql::Connection& conn) -> absl::Status {
          skipped_mapped = false;
          refused.reset();
          out.clear_target_product();
          out.clear_mapping();
          const v1::Freeze now_freeze =
              ReadFreezeRow(conn, "LOCK IN SHARE MODE").freeze;
          ChangeDecision d =
              DecideChange(now_freeze, kTarget, v1::CHANGE_KIND_CREATE, {});
          if (!d.allowed) {
            refused = ChangeOf(kTarget, 0, spec.code(), v1::CHANGE_KIND_CREATE,
                               now_freeze.state());
            refused->set_refusal(d.refusal);
            refused->set_detail("GenerateMissingProducts");
            refused_reason = d.reason;
            return absl::FailedPreconditionError(d.reason);
          }
          if (LockMapping(conn, id).has_value()) {
            skipped_mapped = true;
            return absl::OkStatus();
          }
          TANDEM_ASSIGN_OR_RETURN(int64_t clone_id,
                                  CreateOrAdopt(conn, *target_, kTarget, spec));
          TANDEM_ASSIGN_OR_RETURN(std::vector<BillingProduct> all,
                                  target_->ReadProducts());
          const BillingProduct* read = FindBilling(all, clone_id);
          if (read == nullptr) {
            return absl::UnavailableError("generated product vanished; retry");
          }
          const int64_t now = NowMs();
          v1::Product product;
          product.set_system(kTarget);
          product.set_product_id(clone_id);
          *product.mutable_spec() = CanonicalSpec(read->spec);
          product.set_version(1);
          product.set_cloned_from_product_id(id);
          product.mutable_stamp()->set_actor(who.name);
          product.mutable_stamp()->set_reason(req.reason());
          product.mutable_stamp()->set_at_unix_ms(now);
          product.set_refreshed_at_unix_ms(now);
          UpsertProduct(
              conn, product,
              now_freeze.state() == v1::FREEZE_STATE_FROZEN_TARGET_OPEN);
          v1::Mapping mapping;
          mapping.set_source_product_id(id);
          mapping.set_target_product_id(clone_id);
          mapping.set_overuse_policy(v1::OVERUSE_POLICY_INHERIT);
          mapping.set_origin(v1::MAPPING_ORIGIN_GENERATED);
          mapping.set_version(1);
          *mapping.mutable_stamp() = product.stamp();
          WriteMapping(conn, mapping);
          v1::AuditEntry generated_entry =
              NewAudit(v1::AUDIT_KIND_PRODUCT_GENERATED, who.name, req.reason(),
                       req.request_id());
          *generated_entry.mutable_change() =
              ChangeOf(kTarget, clone_id, product.spec().code(),
                       v1::CHANGE_KIND_CREATE, now_freeze.state());
          generated_entry.mutable_change()->set_cloned_from_product_id(id);
          AppendAudit(conn, std::move(generated_entry));
          v1::AuditEntry mapping_entry =
              NewAudit(v1::AUDIT_KIND_MAPPING_CHANGED, who.name, req.reason(),
                       req.request_id());
          *mapping_entry.mutable_mapping()->mutable_mapping() = mapping;
          AppendAudit(conn, std::move(mapping_entry));
          BumpRevision(conn);
          *out.mutable_target_product() = product;
          *out.mutable_mapping() = mapping;
          return absl::OkStatus();
        });
    if (refused.has_value()) {
      AuditRefusal(who, refused_reason, req.request_id(), *refused);
    }
    if (absl::IsAlreadyExists(status)) {
      v1::SkippedProduct* skipped = response.add_skipped();
      skipped->set_source_product_id(id);
      skipped->set_reason(std::string(status.message()));
      continue;
    }
    if (!status.ok()) {
      (void)Reload(/*force=*/true);
      if (absl::IsUnavailable(status) || absl::IsResourceExhausted(status)) {
        return absl::UnavailableError(
            absl::StrCat("stopped after ", generated.size(),
                         " clones (they stay, mapped): ", status.message()));
      }
      return status;
    }
    if (skipped_mapped) {
      v1::SkippedProduct* skipped = response.add_skipped();
      skipped->set_source_product_id(id);
      skipped->set_reason("mapped meanwhile");
      continue;
    }
    cloned[id] = out.target_product().product_id();
    target_codes.insert(spec.code());
    generated.push_back(std::move(out));
  }
  std::sort(generated.begin(), generated.end(),
            [](const v1::GeneratedProduct& a, const v1::GeneratedProduct& b) {
              return a.source_product_id() < b.source_product_id();
            });
  for (v1::GeneratedProduct& g : generated) {
    *response.add_generated() = std::move(g);
  }
  if (!req.dry_run()) {
    // Comparisons of the new mappings, against the products as now stored.
    TANDEM_ASSIGN_OR_RETURN(CatalogSnapshot after, LoadSnapshot());
    for (v1::GeneratedProduct& g : *response.mutable_generated()) {
      const v1::Product* s = after.FindProduct(kSource, g.source_product_id());
      const v1::Product* t =
          after.FindProduct(kTarget, g.target_product().product_id());
      if (s != nullptr && t != nullptr) {
        *g.mutable_mapping()->mutable_comparison() = CompareProducts(
            *s, *t, after, ::tandem::common::v1::DIRECTION_MOVE);
        g.mutable_target_product()->set_frozen(true);
      }
    }
    if (!req.request_id().empty()) {
      TANDEM_RETURN_IF_ERROR(control_->Transaction(
          "record generate request",
          [&](sql::Connection& conn) -> absl::Status {
            v1::GenerateMissingProductsResponse ignored;
            TANDEM_ASSIGN_OR_RETURN(
                bool replayed,
                FindRequest(conn, req.request_id(), "GenerateMissingProducts",
                            &ignored));
            if (!replayed) {
              SaveRequest(conn, req.request_id(), "GenerateMissingProducts",
                          response);
            }
            return absl::OkStatus();
          }));
    }
    (void)Reload(/*force=*/true);
  }
  return response;
}

absl::StatusOr<v1::GetSettingsResponse> Catalog::GetSettings() {
  v1::GetSettingsResponse response;
  std::lock_guard<std::mutex> lock(mu_);
  *response.mutable_settings() = cached_.settings;
  return response;
}

absl::StatusOr<v1::UpdateSettingsResponse> Catalog::UpdateSettings(
    const Principal& who, const v1::UpdateSettingsRequest& req) {
  TANDEM_RETURN_IF_ERROR(ValidateRequestId(req.request_id()));
  if (req.expected_version() <= 0) {
    return absl::InvalidArgumentError(
        "expected_version must be the version read");
  }
  v1::UpdateSettingsResponse response;
  bool changed = false;
  TANDEM_RETURN_IF_ERROR(control_->Transaction(
      "update settings", [&](sql::Connection& conn) -> absl::Status {
        response.Clear();
        changed = false;
        TANDEM_ASSIGN_OR_RETURN(
            bool replayed,
            FindRequest(conn, req.request_id(), "UpdateSettings", &response));
        if (replayed) return absl::OkStatus();
        v1::CatalogSettings current = ReadSettingsRow(conn, true);
        if (current.version() != req.expected_version()) {
          return absl::AbortedError(
              absl::StrCat("settings version is ", current.version(), ", not ",
                           req.expected_version(), "; re-read and retry"));
        }
        if (current.allow_overuse_default() == req.allow_overuse_default() &&
            current.auto_lift() == req.auto_lift()) {
          *response.mutable_settings() = current;
          return absl::OkStatus();
        }
        v1::CatalogSettings after;
        after.set_allow_overuse_default(req.allow_overuse_default());
        after.set_auto_lift(req.auto_lift());
        after.set_version(current.version() + 1);
        after.mutable_stamp()->set_actor(who.name);
        after.mutable_stamp()->set_reason(req.reason());
        after.mutable_stamp()->set_at_unix_ms(NowMs());
        Stmt update(conn.prepareStatement(
            "UPDATE catalog_settings SET allow_overuse_default = ?, auto_lift "
            "= ?, version = ?, actor = ?, reason = ?, at_ms = ? WHERE id = 1"));
        update->setInt(1, after.allow_overuse_default() ? 1 : 0);
        update->setInt(2, after.auto_lift() ? 1 : 0);
        update->setInt64(3, after.version());
        update->setString(4, who.name);
        update->setString(5, req.reason().substr(0, 1024));
        update->setInt64(6, after.stamp().at_unix_ms());
        update->executeUpdate();
        v1::AuditEntry entry =
            NewAudit(v1::AUDIT_KIND_SETTINGS_CHANGED, who.name, req.reason(),
                     req.request_id());
        *entry.mutable_settings() = after;
        AppendAudit(conn, std::move(entry));
        BumpRevision(conn);
        *response.mutable_settings() = after;
        SaveRequest(conn, req.request_id(), "UpdateSettings", response);
        changed = true;
        return absl::OkStatus();
      }));
  if (changed) (void)Reload(/*force=*/true);
  return response;
}

// ---------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------

absl::StatusOr<v1::CustomerPlan> Catalog::PlanOne(
    const CatalogSnapshot& snapshot, int64_t customer_id, Direction direction,
    v1::FreezeState state) {
  const bool rollback = direction == ::tandem::common::v1::DIRECTION_ROLLBACK;
  BillingCatalog* from = rollback ? target_ : source_;
  absl::StatusOr<CustomerSubscriptions> subs = from->ReadCustomer(customer_id);
  if (absl::IsNotFound(subs.status())) {
    return absl::NotFoundError(
        absl::StrCat("customer ", customer_id, " is not on the ",
                     rollback ? "target" : "source", " system"));
  }
  if (!subs.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot read the ", rollback ? "target" : "source",
                     " billing database: ", subs.status().message()));
  }
  if (!rollback && subs->status == "exported") {
    return absl::NotFoundError(absl::StrCat(
        "customer ", customer_id,
        " has been moved to the target already (exported on the source)"));
  }
  std::optional<CustomerSubscriptions> kept;
  if (rollback) {
    absl::StatusOr<CustomerSubscriptions> on_source =
        source_->ReadCustomer(customer_id);
    if (on_source.ok()) {
      kept = *std::move(on_source);
    } else if (!absl::IsNotFound(on_source.status())) {
      return absl::UnavailableError(
          absl::StrCat("cannot read the source billing database: ",
                       on_source.status().message()));
    }
  }
  PlanInput input;
  input.direction = rollback ? direction : ::tandem::common::v1::DIRECTION_MOVE;
  input.from = *std::move(subs);
  input.kept_on_source = kept.has_value() ? &*kept : nullptr;
  input.freeze_state = state;
  input.now_unix_ms = NowMs();
  v1::CustomerPlan plan = catalog::PlanCustomer(snapshot, input);
  CountOutcomes(plan);
  return plan;
}

void Catalog::CountOutcomes(const v1::CustomerPlan& plan) {
  if (outcomes_ == nullptr) return;
  plans_->Add({{"verdict", plan.can_move() ? "can_move" : "refused"}})
      .Increment();
  for (const v1::SubscriptionPlan& sub : plan.subscriptions()) {
    for (int outcome : sub.outcomes()) {
      outcomes_
          ->Add({{"outcome",
                  std::string(absl::StripPrefix(v1::PlanOutcome_Name(outcome),
                                                "PLAN_OUTCOME_"))}})
          .Increment();
    }
  }
}

absl::StatusOr<v1::PlanCustomerResponse> Catalog::PlanCustomer(
    const v1::PlanCustomerRequest& req) {
  if (req.customer_id() <= 0) {
    return absl::InvalidArgumentError("customer_id must be positive");
  }
  if (!::tandem::common::v1::Direction_IsValid(req.direction())) {
    return absl::InvalidArgumentError("unknown direction");
  }
  TANDEM_ASSIGN_OR_RETURN(CatalogSnapshot snapshot, LoadSnapshot());
  v1::PlanCustomerResponse response;
  TANDEM_ASSIGN_OR_RETURN(*response.mutable_plan(),
                          PlanOne(snapshot, req.customer_id(), req.direction(),
                                  CurrentFreeze().state()));
  return response;
}

absl::StatusOr<v1::PlanCustomersResponse> Catalog::PlanCustomers(
    const v1::PlanCustomersRequest& req) {
  if (req.customer_ids_size() == 0 || req.customer_ids_size() > 1000) {
    return absl::InvalidArgumentError("give 1 to 1,000 customer_ids");
  }
  for (int64_t id : req.customer_ids()) {
    if (id <= 0) {
      return absl::InvalidArgumentError("customer_ids must be positive");
    }
  }
  if (!::tandem::common::v1::Direction_IsValid(req.direction())) {
    return absl::InvalidArgumentError("unknown direction");
  }
  TANDEM_ASSIGN_OR_RETURN(CatalogSnapshot snapshot, LoadSnapshot());
  const v1::FreezeState state = CurrentFreeze().state();
  // Each plan waits on a few billing-database reads; a handful of readers
  // at once keep the database busy without taking the whole pool.
  const int n = req.customer_ids_size();
  std::vector<std::optional<absl::StatusOr<v1::CustomerPlan>>> plans(n);
  std::atomic<int> next{0};
  auto work = [&] {
    for (int i = next++; i < n; i = next++) {
      plans[i] = PlanOne(snapshot, req.customer_ids(i), req.direction(), state);
    }
  };
  std::vector<std::thread> readers;
  for (int t = 1; t < std::min(n, kPlanReaders); ++t)
    readers.emplace_back(work);
  work();
  for (std::thread& reader : readers) reader.join();
  v1::PlanCustomersResponse response;
  std::map<int, int64_t> counts;
  for (int i = 0; i < n; ++i) {
    const int64_t id = req.customer_ids(i);
    v1::CustomerPlanResult* result = response.add_results();
    result->set_customer_id(id);
    absl::StatusOr<v1::CustomerPlan>& plan = *plans[i];
    if (!plan.ok()) {
      result->set_error_code(
          GrpcCodeName(static_cast<grpc::StatusCode>(plan.status().code())));
      result->set_error_message(std::string(plan.status().message()));
      response.set_customers_failed(response.customers_failed() + 1);
      continue;
    }
    if (plan->can_move()) {
      response.set_customers_can_move(response.customers_can_move() + 1);
    } else {
      response.set_customers_refused(response.customers_refused() + 1);
    }
    for (const v1::SubscriptionPlan& sub : plan->subscriptions()) {
      for (int outcome : sub.outcomes()) ++counts[outcome];
    }
    if (req.summary_only()) plan->clear_subscriptions();
    *result->mutable_plan() = *std::move(plan);
  }
  for (const auto& [outcome, n] : counts) {
    v1::OutcomeCount* count = response.add_outcome_counts();
    count->set_outcome(static_cast<v1::PlanOutcome>(outcome));
    count->set_subscriptions(n);
  }
  return response;
}

}  // namespace tandem::catalog
