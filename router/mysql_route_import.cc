// MysqlRouteStore::Import: bulk route import, a chunk of customers per
// transaction. Each chunk locks the routes and keys it touches, decides what
// is new (ImportPlan), and writes that under consecutive revisions.
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <mysql_connection.h>

#include <algorithm>
#include <memory>
#include <span>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/mysql_pool.h"
#include "common/mysql_results.h"
#include "common/status_macros.h"
#include "router/mysql_route_rows.h"
#include "router/mysql_route_store.h"

namespace tandem::router {
namespace {

using route_rows::AllocateRevisions;
using route_rows::InsertChanges;
using route_rows::kChunk;
using route_rows::kRouteColumns;
using route_rows::NewChange;
using route_rows::NowMs;
using route_rows::RouteFromRow;
using ::tandem::common::v1::System;
using ::tandem::router::v1::ImportedCustomer;
using ::tandem::router::v1::ImportRoutesResponse;

using Stmt = std::unique_ptr<sql::PreparedStatement>;
using Rows = std::unique_ptr<sql::ResultSet>;
using Chunk = std::span<const ImportedCustomer>;
using KeyOwners = absl::flat_hash_map<std::pair<int, std::string>, int64_t>;

// What one chunk adds: a change per customer that gets a route or a key,
// and the keys that belong to another customer already.
struct ImportPlan {
  std::vector<RouteChange> changes;
  std::vector<std::pair<int64_t, const Key*>> new_keys;
  std::vector<std::string> conflicts;
};

// What one chunk's transaction committed.
struct ChunkResult {
  int64_t created = 0;
  int64_t keys_added = 0;
  int64_t last_revision = 0;
  std::vector<std::string> conflicts;
};

// Reads and locks the routes the chunk's customers have already.
absl::flat_hash_map<int64_t, Route> LockExistingRoutes(sql::Connection& conn,
                                                       Chunk chunk) {
  absl::flat_hash_map<int64_t, Route> existing;
  Stmt select(conn.prepareStatement(
      absl::StrCat("SELECT ", kRouteColumns, " FROM routes WHERE customer_id ",
                   "IN (", Placeholders(chunk.size()), ") FOR UPDATE")));
  for (size_t i = 0; i < chunk.size(); ++i) {
    select->setInt64(static_cast<int>(i) + 1, chunk[i].customer_id());
  }
  Rows rows(select->executeQuery());
  while (rows->next()) {
    Route route = RouteFromRow(*rows);
    existing.emplace(route.customer_id(), route);
  }
  return existing;
}

// Reads and locks who owns the chunk's keys already.
KeyOwners LockKeyOwners(sql::Connection& conn, Chunk chunk) {
  std::vector<const Key*> all_keys;
  for (const ImportedCustomer& customer : chunk) {
    for (const Key& key : customer.keys()) all_keys.push_back(&key);
  }
  KeyOwners owners;
  for (size_t k = 0; k < all_keys.size(); k += kChunk) {
    size_t m = std::min<size_t>(kChunk, all_keys.size() - k);
    Stmt select(conn.prepareStatement(
        absl::StrCat("SELECT kind, value, customer_id FROM route_keys WHERE "
                     "(kind, value) IN (",
                     Placeholders(m, "(?,?)"), ") FOR UPDATE")));
    for (size_t j = 0; j < m; ++j) {
      select->setInt(static_cast<int>(j) * 2 + 1, all_keys[k + j]->kind());
      select->setString(static_cast<int>(j) * 2 + 2, all_keys[k + j]->value());
    }
    Rows rows(select->executeQuery());
    while (rows->next()) {
      owners[{rows->getInt(1), rows->getString(2)}] = rows->getInt64(3);
    }
  }
  return owners;
}

// Decides what the chunk adds: a new customer gets a STABLE route on
// `system`; an existing one keeps its route; a key is added unless it is
// owned already (by another customer: a conflict).
ImportPlan PlanChunk(Chunk chunk,
                     const absl::flat_hash_map<int64_t, Route>& existing,
                     KeyOwners& owners, System system, const Actor& actor,
                     int64_t now) {
  ImportPlan plan;
  for (const ImportedCustomer& customer : chunk) {
    RouteChange change = NewChange(actor, 0, now);
    Route* route = change.mutable_route_update()->mutable_route();
    auto it = existing.find(customer.customer_id());
    const bool is_new = it == existing.end();
    if (is_new) {
      route->set_customer_id(customer.customer_id());
      route->set_system(system);
      route->set_state(::tandem::router::v1::ROUTE_STATE_STABLE);
      route->set_updated_at_unix_ms(now);
      route->set_updated_by(actor.name);
    } else {
      *route = it->second;
    }
    for (const Key& key : customer.keys()) {
      auto [owner, unowned] =
          owners.try_emplace({key.kind(), key.value()}, customer.customer_id());
      if (!unowned) {
        if (owner->second != customer.customer_id()) {
          plan.conflicts.push_back(absl::StrCat(
              KeyKind_Name(key.kind()), " `", key.value(), "` of customer ",
              customer.customer_id(), " belongs to customer ", owner->second));
        }
        continue;
      }
      plan.new_keys.emplace_back(customer.customer_id(), &key);
      *change.mutable_route_update()->add_keys_added() = key;
    }
    if (is_new || change.route_update().keys_added_size() > 0) {
      plan.changes.push_back(std::move(change));
    }
  }
  return plan;
}

// Inserts the routes created (those whose version is their change's
// revision).
int64_t InsertNewRoutes(sql::Connection& conn,
                        const std::vector<RouteChange>& changes,
                        const Actor& actor, int64_t now) {
  std::vector<const Route*> created;
  for (const RouteChange& change : changes) {
    const Route& route = change.route_update().route();
    if (route.version() == change.revision()) created.push_back(&route);
  }
  if (created.empty()) return 0;
  Stmt insert(conn.prepareStatement(
      absl::StrCat("INSERT INTO routes (customer_id, system, state, version, "
                   "updated_at_ms, updated_by) VALUES ",
                   Placeholders(created.size(), "(?,?,?,?,?,?)"))));
  for (size_t i = 0; i < created.size(); ++i) {
    int p = static_cast<int>(i) * 6;
    insert->setInt64(p + 1, created[i]->customer_id());
    insert->setInt(p + 2, created[i]->system());
    insert->setInt(p + 3, created[i]->state());
    insert->setInt64(p + 4, created[i]->version());
    insert->setInt64(p + 5, now);
    insert->setString(p + 6, actor.name);
  }
  insert->executeUpdate();
  return static_cast<int64_t>(created.size());
}

void InsertNewKeys(sql::Connection& conn,
                   const std::vector<std::pair<int64_t, const Key*>>& keys) {
  for (size_t k = 0; k < keys.size(); k += kChunk) {
    size_t m = std::min<size_t>(kChunk, keys.size() - k);
    Stmt insert(conn.prepareStatement(absl::StrCat(
        "INSERT INTO route_keys (kind, value, customer_id) VALUES ",
        Placeholders(m, "(?,?,?)"))));
    for (size_t j = 0; j < m; ++j) {
      int p = static_cast<int>(j) * 3;
      insert->setInt(p + 1, keys[k + j].second->kind());
      insert->setString(p + 2, keys[k + j].second->value());
      insert->setInt64(p + 3, keys[k + j].first);
    }
    insert->executeUpdate();
  }
}

// One chunk in the caller's transaction.
ChunkResult ImportChunk(sql::Connection& conn, Chunk chunk, System system,
                        const Actor& actor) {
  absl::flat_hash_map<int64_t, Route> existing =
      LockExistingRoutes(conn, chunk);
  KeyOwners owners = LockKeyOwners(conn, chunk);
  const int64_t now = NowMs();
  ImportPlan plan = PlanChunk(chunk, existing, owners, system, actor, now);
  ChunkResult result;
  result.conflicts = std::move(plan.conflicts);
  if (plan.changes.empty()) return result;
  const int64_t last = AllocateRevisions(conn, plan.changes.size());
  int64_t revision = last - static_cast<int64_t>(plan.changes.size());
  for (RouteChange& change : plan.changes) {
    change.set_revision(++revision);
    // Routes created get their creation revision as version.
    Route* route = change.mutable_route_update()->mutable_route();
    if (route->version() == 0) route->set_version(revision);
  }
  result.created = InsertNewRoutes(conn, plan.changes, actor, now);
  InsertNewKeys(conn, plan.new_keys);
  InsertChanges(conn, plan.changes);
  result.last_revision = last;
  result.keys_added = static_cast<int64_t>(plan.new_keys.size());
  return result;
}

}  // namespace

absl::Status MysqlRouteStore::Import(
    System system, const std::vector<ImportedCustomer>& customers,
    const Actor& actor, ImportRoutesResponse* response) {
  const Chunk all(customers);
  for (size_t start = 0; start < all.size(); start += kChunk) {
    const Chunk chunk =
        all.subspan(start, std::min<size_t>(kChunk, all.size() - start));
    TANDEM_ASSIGN_OR_RETURN(
        const ChunkResult result,
        TransactReturning(
            *pool_, "import routes",
            [&](sql::Connection& conn) -> absl::StatusOr<ChunkResult> {
              return ImportChunk(conn, chunk, system, actor);
            }));
    response->set_customers_seen(response->customers_seen() + chunk.size());
    response->set_revision(
        std::max(response->revision(), result.last_revision));
    response->set_routes_created(response->routes_created() + result.created);
    response->set_keys_added(response->keys_added() + result.keys_added);
    response->set_key_conflicts(response->key_conflicts() +
                                result.conflicts.size());
    for (const std::string& conflict : result.conflicts) {
      if (response->conflict_samples_size() < 100) {
        response->add_conflict_samples(conflict);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace tandem::router
