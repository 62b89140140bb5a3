#include "router/mysql_route_store.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include <memory>
#include <optional>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/mysql_pool.h"
#include "common/mysql_results.h"
#include "common/request_log.h"
#include "common/status_macros.h"
#include "router/mysql_route_rows.h"
#include "router/transitions.h"

namespace tandem::router {
namespace {

using route_rows::AllocateRevisions;
using route_rows::InsertChanges;
using route_rows::kDbNowMs;
using route_rows::kRouteColumns;
using route_rows::NewChange;
using route_rows::NowMs;
using route_rows::RouteFromRow;

using ::tandem::common::v1::System;
namespace v1 = ::tandem::router::v1;
using ::tandem::router::v1::GetDefaultSystemResponse;
using ::tandem::router::v1::GetRouteResponse;
using ::tandem::router::v1::SetRouteRequest;

using Stmt = std::unique_ptr<sql::PreparedStatement>;
using Rows = std::unique_ptr<sql::ResultSet>;

// The router's idempotency records (common/request_log.h): SetRoute's
// responses, each with the route version it left, so a retry is answered
// from the record only while the route is still at that version.
const RequestLog& RouterRequests() {
  static const RequestLog* log = new RequestLog("router_requests");
  return *log;
}
constexpr char kSetRouteMethod[] = "SetRoute";
// How many request records one pruning statement deletes at most.
constexpr int kPruneBatch = 5000;

// Reads and locks the route of `customer_id`; sets `*db_now_ms` to the
// database's clock when given.
absl::StatusOr<Route> LockRoute(sql::Connection& conn, int64_t customer_id,
                                int64_t* db_now_ms = nullptr) {
  Stmt select(conn.prepareStatement(absl::StrCat(
      "SELECT ", kRouteColumns, ", ", kDbNowMs,
      " AS db_now_ms FROM routes WHERE customer_id = ? FOR UPDATE")));
  select->setInt64(1, customer_id);
  Rows rows(select->executeQuery());
  if (!rows->next()) {
    return absl::NotFoundError(
        absl::StrCat("customer ", customer_id, " has no route"));
  }
  if (db_now_ms != nullptr) {
    *db_now_ms = rows->getInt64("db_now_ms");
  }
  return RouteFromRow(*rows);
}

}  // namespace

const std::vector<SchemaMigration>& RouterSchemaMigrations() {
  static const auto* migrations = new std::vector<SchemaMigration>{
      {1,
       "routes, keys, change log, revision counter, settings",
       {"CREATE TABLE IF NOT EXISTS router_revision ("
        " id TINYINT NOT NULL PRIMARY KEY,"
        " revision BIGINT NOT NULL) ENGINE=InnoDB",
        "INSERT IGNORE INTO router_revision (id, revision) VALUES (1, 0)",
        "CREATE TABLE IF NOT EXISTS routes ("
        " customer_id BIGINT NOT NULL PRIMARY KEY,"
        " system TINYINT NOT NULL,"
        " state TINYINT NOT NULL,"
        " version BIGINT NOT NULL,"
        " updated_at_ms BIGINT NOT NULL,"
        " updated_by VARCHAR(128) NOT NULL,"
        " last_request_id VARCHAR(64) NOT NULL DEFAULT '',"
        " KEY routes_by_system_state (system, state, customer_id)"
        ") ENGINE=InnoDB",
        "CREATE TABLE IF NOT EXISTS route_keys ("
        " kind TINYINT NOT NULL,"
        " value VARBINARY(255) NOT NULL,"
        " customer_id BIGINT NOT NULL,"
        " PRIMARY KEY (kind, value),"
        " KEY route_keys_by_customer (customer_id)"
        ") ENGINE=InnoDB",
        // The audit trail and the feed of every replica's Watch: one row per
        // change, the serialized tandem.router.v1.RouteChange in `body`.
        "CREATE TABLE IF NOT EXISTS route_changes ("
        " revision BIGINT NOT NULL PRIMARY KEY,"
        " customer_id BIGINT NOT NULL,"
        " created_at_ms BIGINT NOT NULL,"
        " body MEDIUMBLOB NOT NULL,"
        " KEY route_changes_by_customer (customer_id, revision)"
        ") ENGINE=InnoDB",
        "CREATE TABLE IF NOT EXISTS router_settings ("
        " name VARCHAR(64) NOT NULL PRIMARY KEY,"
        " value INT NOT NULL,"
        " revision BIGINT NOT NULL,"
        " updated_at_ms BIGINT NOT NULL,"
        " updated_by VARCHAR(128) NOT NULL,"
        " reason VARCHAR(1024) NOT NULL) ENGINE=InnoDB",
        "INSERT IGNORE INTO router_settings VALUES "
        "('default_system', 1, 0, 0, 'schema', 'initial default')"}},
      {2,
       "leases on MIGRATING routes",
       {"ALTER TABLE routes ADD COLUMN IF NOT EXISTS lease_deadline_ms BIGINT "
        "NOT NULL DEFAULT 0",
        "ALTER TABLE routes ADD KEY IF NOT EXISTS routes_by_lease "
        "(state, lease_deadline_ms)"}},
      // routes.last_request_id is no longer read or written; it stays until
      // no replica older than this migration can be running (dropping it
      // now would break their SetRoute during a rolling upgrade).
      {3,
       "request records in the shape every service shares (RequestLog)",
       {RouterRequests().CreateTableStatement()}},
  };
  return *migrations;
}

absl::StatusOr<std::unique_ptr<MysqlRouteStore>> MysqlRouteStore::Create(
    MysqlPool* pool) {
  TANDEM_RETURN_IF_ERROR(
      ApplySchemaMigrations(*pool, "router", RouterSchemaMigrations()));
  return std::unique_ptr<MysqlRouteStore>(new MysqlRouteStore(pool));
}

absl::Status MysqlRouteStore::LoadSnapshot(RouteTable& table) {
  return pool_->Run("load routes", [&](sql::Connection& conn) {
    std::unique_ptr<sql::Statement> stmt(conn.createStatement());
    stmt->execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
    stmt->execute("START TRANSACTION WITH CONSISTENT SNAPSHOT");
    {
      Rows rows(stmt->executeQuery(
          "SELECT revision FROM router_revision WHERE id = 1"));
      rows->next();
      table.SetRevision(rows->getInt64(1));
    }
    {
      Rows rows(stmt->executeQuery(
          "SELECT value FROM router_settings WHERE name = 'default_system'"));
      if (rows->next()) {
        table.SetDefaultSystem(static_cast<System>(rows->getInt(1)));
      }
    }
    // Paged, so the client library never buffers millions of rows at once.
    constexpr int kPage = 50000;
    Stmt routes(conn.prepareStatement(absl::StrCat(
        "SELECT ", kRouteColumns,
        " FROM routes WHERE customer_id > ? ORDER BY customer_id LIMIT ?")));
    Stmt keys(
        conn.prepareStatement("SELECT kind, value, customer_id FROM route_keys "
                              "WHERE customer_id BETWEEN ? AND ?"));
    int64_t after = std::numeric_limits<int64_t>::min();
    RouteUpdate item;
    while (true) {
      routes->setInt64(1, after);
      routes->setInt(2, kPage);
      Rows rows(routes->executeQuery());
      int64_t first = 0;
      int count = 0;
      while (rows->next()) {
        item.Clear();
        *item.mutable_route() = RouteFromRow(*rows);
        if (count == 0) first = item.route().customer_id();
        after = item.route().customer_id();
        table.ApplySnapshotItem(item);
        ++count;
      }
      if (count == 0) {
        break;
      }
      keys->setInt64(1, first);
      keys->setInt64(2, after);
      Rows key_rows(keys->executeQuery());
      while (key_rows->next()) {
        item.Clear();
        item.mutable_route()->set_customer_id(key_rows->getInt64(3));
        Key* key = item.add_keys_added();
        key->set_kind(static_cast<KeyKind>(key_rows->getInt(1)));
        key->set_value(key_rows->getString(2));
        table.ApplySnapshotItem(item);
      }
      if (count < kPage) {
        break;
      }
    }
    stmt->execute("COMMIT");
    stmt->execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED");
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<RouteChange>> MysqlRouteStore::ChangesSince(
    int64_t after, int limit) {
  std::vector<RouteChange> changes;
  TANDEM_RETURN_IF_ERROR(
      pool_->Run("read route changes", [&](sql::Connection& conn) {
        Stmt select(conn.prepareStatement(
            "SELECT revision, body FROM route_changes WHERE revision > ? "
            "ORDER BY revision LIMIT ?"));
        select->setInt64(1, after);
        select->setInt(2, limit);
        Rows rows(select->executeQuery());
        while (rows->next()) {
          RouteChange& change = changes.emplace_back();
          std::string body = rows->getString(2);
          if (!change.ParseFromString(body)) {
            return absl::DataLossError(absl::StrCat(
                "route change ", rows->getInt64(1), " does not parse"));
          }
        }
        return absl::OkStatus();
      }));
  return changes;
}

absl::StatusOr<RouteChange> MysqlRouteStore::SetRoute(
    const SetRouteRequest& request, const Actor& actor) {
  RouteChange result;
  TANDEM_RETURN_IF_ERROR(pool_->Transaction(
      "set route", [&](sql::Connection& conn) -> absl::Status {
        int64_t db_now = 0;
        TANDEM_ASSIGN_OR_RETURN(
            Route current, LockRoute(conn, request.customer_id(), &db_now));
        RouteChange recorded;
        int64_t recorded_version = kAnyVersion;
        TANDEM_ASSIGN_OR_RETURN(
            bool retried,
            RouterRequests().Find(conn, request.request_id(), kSetRouteMethod,
                                  &recorded, &recorded_version));
        if (retried && recorded_version == current.version() &&
            recorded.route_update().route().customer_id() ==
                request.customer_id()) {
          // A retry of a change that is still the route's latest: answer as
          // then. Revision 0 says that nothing was changed now.
          result = std::move(recorded);
          result.set_revision(0);
          return absl::OkStatus();
        }
        if (current.version() != request.expected_version()) {
          return absl::AbortedError(
              absl::StrCat("route of customer ", request.customer_id(),
                           " is at version ", current.version(), ", not ",
                           request.expected_version(), "; read it again"));
        }
        TANDEM_RETURN_IF_ERROR(
            CheckTransition(current.system(), current.state(), request.system(),
                            request.state(), request.lease_ms()));
        // Past its lease a move may only be aborted (which is what the
        // router does by itself): a late flip or renewal is refused, so a
        // mover that lost its lease cannot commit a cutover.
        const bool aborts = request.state() == v1::ROUTE_STATE_STABLE &&
                            request.system() == current.system();
        if (current.state() == v1::ROUTE_STATE_MIGRATING &&
            current.lease_expires_unix_ms() > 0 &&
            db_now >= current.lease_expires_unix_ms() && !aborts) {
          return absl::FailedPreconditionError(absl::StrCat(
              "the lease of customer ", request.customer_id(),
              "'s move ran out ", db_now - current.lease_expires_unix_ms(),
              " ms ago; the route goes back to ",
              RouteStateName(current.system(), v1::ROUTE_STATE_STABLE)));
        }
        const int64_t lease_deadline =
            request.state() == v1::ROUTE_STATE_MIGRATING &&
                    request.lease_ms() > 0
                ? db_now + request.lease_ms()
                : 0;
        TANDEM_ASSIGN_OR_RETURN(
            result, WriteRouteChange(conn, current, request.system(),
                                     request.state(), lease_deadline, actor));
        RouterRequests().Save(conn, request.request_id(), kSetRouteMethod,
                              result, result.revision(),
                              result.stamp().at_unix_ms());
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<RouteChange> MysqlRouteStore::WriteRouteChange(
    sql::Connection& conn, const Route& current, System system,
    RouteState state, int64_t lease_deadline_ms, const Actor& actor) {
  int64_t now = NowMs();
  int64_t revision = AllocateRevisions(conn, 1);
  Stmt update(conn.prepareStatement(
      "UPDATE routes SET system = ?, state = ?, version = ?, "
      "updated_at_ms = ?, updated_by = ?, lease_deadline_ms = ? "
      "WHERE customer_id = ?"));
  update->setInt(1, system);
  update->setInt(2, state);
  update->setInt64(3, revision);
  update->setInt64(4, now);
  update->setString(5, actor.name);
  update->setInt64(6, lease_deadline_ms);
  update->setInt64(7, current.customer_id());
  update->executeUpdate();
  RouteChange result = NewChange(actor, revision, now);
  Route* route = result.mutable_route_update()->mutable_route();
  *route = current;
  route->set_system(system);
  route->set_state(state);
  route->set_version(revision);
  route->set_updated_at_unix_ms(now);
  route->set_updated_by(actor.name);
  route->set_lease_expires_unix_ms(lease_deadline_ms);
  InsertChanges(conn, {result});
  return result;
}

absl::StatusOr<std::vector<RouteChange>> MysqlRouteStore::ExpireLeases(
    const Actor& actor, int limit) {
  std::vector<int64_t> expired;
  TANDEM_RETURN_IF_ERROR(
      pool_->Run("find expired leases", [&](sql::Connection& conn) {
        Stmt select(conn.prepareStatement(
            absl::StrCat("SELECT customer_id FROM routes WHERE state = ? AND "
                         "lease_deadline_ms > 0 AND lease_deadline_ms <= ",
                         kDbNowMs, " ORDER BY lease_deadline_ms LIMIT ?")));
        select->setInt(1, v1::ROUTE_STATE_MIGRATING);
        select->setInt(2, limit);
        Rows rows(select->executeQuery());
        while (rows->next()) expired.push_back(rows->getInt64(1));
        return absl::OkStatus();
      }));
  std::vector<RouteChange> changes;
  for (int64_t customer_id : expired) {
    TANDEM_ASSIGN_OR_RETURN(
        std::optional<RouteChange> change,
        TransactReturning(
            *pool_, "expire lease",
            [&](sql::Connection& conn)
                -> absl::StatusOr<std::optional<RouteChange>> {
              int64_t db_now = 0;
              TANDEM_ASSIGN_OR_RETURN(Route current,
                                      LockRoute(conn, customer_id, &db_now));
              // Renewed, flipped or aborted since it was found: nothing to
              // do.
              if (current.state() != v1::ROUTE_STATE_MIGRATING ||
                  current.lease_expires_unix_ms() == 0 ||
                  db_now < current.lease_expires_unix_ms()) {
                return std::nullopt;
              }
              return WriteRouteChange(conn, current, current.system(),
                                      v1::ROUTE_STATE_STABLE, 0, actor);
            }));
    if (change.has_value()) changes.push_back(*std::move(change));
  }
  return changes;
}

absl::StatusOr<RouteChange> MysqlRouteStore::PutKeys(
    int64_t customer_id, const std::vector<Key>& keys, const Actor& actor) {
  RouteChange result;
  TANDEM_RETURN_IF_ERROR(pool_->Transaction(
      "put keys", [&](sql::Connection& conn) -> absl::Status {
        TANDEM_ASSIGN_OR_RETURN(Route current, LockRoute(conn, customer_id));
        Stmt owner(conn.prepareStatement(
            "SELECT customer_id FROM route_keys WHERE kind = ? AND value = ? "
            "FOR UPDATE"));
        std::vector<Key> added;
        absl::flat_hash_set<std::pair<int, std::string>> seen;
        for (const Key& key : keys) {
          if (!seen.insert({key.kind(), key.value()}).second) {
            continue;
          }
          owner->setInt(1, key.kind());
          owner->setString(2, key.value());
          Rows rows(owner->executeQuery());
          if (rows->next()) {
            int64_t holder = rows->getInt64(1);
            if (holder != customer_id) {
              return absl::AlreadyExistsError(
                  absl::StrCat(KeyKind_Name(key.kind()), " key `", key.value(),
                               "` belongs to customer ", holder));
            }
            continue;
          }
          added.push_back(key);
        }
        result = NewChange(actor, 0, NowMs());
        *result.mutable_route_update()->mutable_route() = current;
        if (added.empty()) {
          return absl::OkStatus();
        }
        Stmt insert(conn.prepareStatement(absl::StrCat(
            "INSERT INTO route_keys (kind, value, customer_id) VALUES ",
            Placeholders(added.size(), "(?,?,?)"))));
        for (size_t i = 0; i < added.size(); ++i) {
          insert->setInt(static_cast<int>(i) * 3 + 1, added[i].kind());
          insert->setString(static_cast<int>(i) * 3 + 2, added[i].value());
          insert->setInt64(static_cast<int>(i) * 3 + 3, customer_id);
          *result.mutable_route_update()->add_keys_added() = added[i];
        }
        insert->executeUpdate();
        result.set_revision(AllocateRevisions(conn, 1));
        InsertChanges(conn, {result});
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<RouteChange> MysqlRouteStore::DeleteKeys(
    int64_t customer_id, const std::vector<Key>& keys, const Actor& actor) {
  RouteChange result;
  TANDEM_RETURN_IF_ERROR(pool_->Transaction(
      "delete keys", [&](sql::Connection& conn) -> absl::Status {
        TANDEM_ASSIGN_OR_RETURN(Route current, LockRoute(conn, customer_id));
        Stmt remove(conn.prepareStatement(
            "DELETE FROM route_keys WHERE kind = ? AND value = ? AND "
            "customer_id = ?"));
        result = NewChange(actor, 0, NowMs());
        *result.mutable_route_update()->mutable_route() = current;
        for (const Key& key : keys) {
          remove->setInt(1, key.kind());
          remove->setString(2, key.value());
          remove->setInt64(3, customer_id);
          if (remove->executeUpdate() > 0) {
            *result.mutable_route_update()->add_keys_removed() = key;
          }
        }
        if (result.route_update().keys_removed_size() == 0) {
          return absl::OkStatus();
        }
        result.set_revision(AllocateRevisions(conn, 1));
        InsertChanges(conn, {result});
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<std::vector<Route>> MysqlRouteStore::ListRoutes(
    const RouteFilter& filter, int64_t after_customer_id, int limit) {
  std::vector<Route> routes;
  TANDEM_RETURN_IF_ERROR(pool_->Run("list routes", [&](sql::Connection& conn) {
    std::string sql = absl::StrCat("SELECT ", kRouteColumns,
                                   " FROM routes WHERE customer_id > ?");
    if (filter.system != ::tandem::common::v1::SYSTEM_UNSPECIFIED) {
      sql += " AND system = ?";
    }
    if (filter.state != ::tandem::router::v1::ROUTE_STATE_UNSPECIFIED) {
      sql += " AND state = ?";
    }
    sql += " ORDER BY customer_id LIMIT ?";
    Stmt select(conn.prepareStatement(sql));
    int p = 1;
    select->setInt64(p++, after_customer_id);
    if (filter.system != ::tandem::common::v1::SYSTEM_UNSPECIFIED) {
      select->setInt(p++, filter.system);
    }
    if (filter.state != ::tandem::router::v1::ROUTE_STATE_UNSPECIFIED) {
      select->setInt(p++, filter.state);
    }
    select->setInt(p++, limit);
    Rows rows(select->executeQuery());
    while (rows->next()) {
      routes.push_back(RouteFromRow(*rows));
    }
    return absl::OkStatus();
  }));
  return routes;
}

absl::StatusOr<GetRouteResponse> MysqlRouteStore::GetRoute(
    int64_t customer_id) {
  GetRouteResponse response;
  TANDEM_RETURN_IF_ERROR(
      pool_->Run("get route", [&](sql::Connection& conn) -> absl::Status {
        Stmt select(conn.prepareStatement(absl::StrCat(
            "SELECT ", kRouteColumns, " FROM routes WHERE customer_id = ?")));
        select->setInt64(1, customer_id);
        Rows rows(select->executeQuery());
        if (!rows->next()) {
          return absl::NotFoundError(
              absl::StrCat("customer ", customer_id, " has no route"));
        }
        *response.mutable_route() = RouteFromRow(*rows);
        Stmt keys(conn.prepareStatement(
            "SELECT kind, value FROM route_keys WHERE customer_id = ? "
            "ORDER BY kind, value"));
        keys->setInt64(1, customer_id);
        Rows key_rows(keys->executeQuery());
        while (key_rows->next()) {
          Key* key = response.add_keys();
          key->set_kind(static_cast<KeyKind>(key_rows->getInt(1)));
          key->set_value(key_rows->getString(2));
        }
        return absl::OkStatus();
      }));
  return response;
}

absl::StatusOr<RouteChange> MysqlRouteStore::SetDefaultSystem(
    System system, const Actor& actor) {
  RouteChange result;
  TANDEM_RETURN_IF_ERROR(pool_->Transaction(
      "set default system", [&](sql::Connection& conn) -> absl::Status {
        Stmt select(conn.prepareStatement(
            "SELECT value FROM router_settings WHERE name = 'default_system' "
            "FOR UPDATE"));
        Rows rows(select->executeQuery());
        int64_t now = NowMs();
        result = NewChange(actor, 0, now);
        result.set_default_system(system);
        if (rows->next() && rows->getInt(1) == system) {
          return absl::OkStatus();
        }
        result.set_revision(AllocateRevisions(conn, 1));
        Stmt update(conn.prepareStatement(
            "UPDATE router_settings SET value = ?, revision = ?, "
            "updated_at_ms = ?, updated_by = ?, reason = ? "
            "WHERE name = 'default_system'"));
        update->setInt(1, system);
        update->setInt64(2, result.revision());
        update->setInt64(3, now);
        update->setString(4, actor.name);
        update->setString(5, actor.reason);
        update->executeUpdate();
        InsertChanges(conn, {result});
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<int64_t> MysqlRouteStore::PruneChanges(
    int64_t created_before_ms, int64_t revision_at_most) {
  int64_t total = 0;
  while (true) {
    int deleted = 0;
    // Small batches keep each statement's locks short: live changes go on.
    TANDEM_RETURN_IF_ERROR(
        pool_->Run("prune route changes", [&](sql::Connection& conn) {
          Stmt remove(conn.prepareStatement(
              "DELETE FROM route_changes WHERE revision <= ? AND "
              "created_at_ms < ? ORDER BY revision LIMIT 5000"));
          remove->setInt64(1, revision_at_most);
          remove->setInt64(2, created_before_ms);
          deleted = remove->executeUpdate();
          return absl::OkStatus();
        }));
    total += deleted;
    if (deleted < 5000) {
      break;
    }
  }
  // A retry older than the change feed's retention is a new request.
  while (true) {
    int64_t deleted = 0;
    TANDEM_RETURN_IF_ERROR(
        pool_->Run("prune request records", [&](sql::Connection& conn) {
          deleted =
              RouterRequests().Prune(conn, created_before_ms, kPruneBatch);
          return absl::OkStatus();
        }));
    if (deleted < kPruneBatch) return total;
  }
}

absl::StatusOr<GetDefaultSystemResponse> MysqlRouteStore::GetDefaultSystem() {
  GetDefaultSystemResponse response;
  TANDEM_RETURN_IF_ERROR(pool_->Run(
      "get default system", [&](sql::Connection& conn) -> absl::Status {
        std::unique_ptr<sql::Statement> stmt(conn.createStatement());
        Rows rows(stmt->executeQuery(
            "SELECT value, updated_at_ms, updated_by, reason FROM "
            "router_settings WHERE name = 'default_system'"));
        if (!rows->next()) {
          return absl::FailedPreconditionError(
              "router_settings has no default_system row");
        }
        response.set_system(static_cast<System>(rows->getInt(1)));
        response.mutable_stamp()->set_at_unix_ms(rows->getInt64(2));
        response.mutable_stamp()->set_actor(rows->getString(3));
        response.mutable_stamp()->set_reason(rows->getString(4));
        return absl::OkStatus();
      }));
  return response;
}

}  // namespace tandem::router
