#include "router/mysql_route_rows.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/statement.h>

#include <algorithm>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/mysql_pool.h"

namespace tandem::router::route_rows {

using ::tandem::common::v1::System;
using Stmt = std::unique_ptr<sql::PreparedStatement>;
using Rows = std::unique_ptr<sql::ResultSet>;

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

int64_t AllocateRevisions(sql::Connection& conn, int64_t count) {
  Stmt bump(conn.prepareStatement(
      "UPDATE router_revision SET revision = LAST_INSERT_ID(revision + ?) "
      "WHERE id = 1"));
  bump->setInt64(1, count);
  bump->executeUpdate();
  std::unique_ptr<sql::Statement> stmt(conn.createStatement());
  Rows rows(stmt->executeQuery("SELECT LAST_INSERT_ID()"));
  rows->next();
  return rows->getInt64(1);
}

void InsertChanges(sql::Connection& conn,
                   const std::vector<RouteChange>& changes) {
  for (size_t start = 0; start < changes.size(); start += kChunk) {
    size_t n = std::min<size_t>(kChunk, changes.size() - start);
    Stmt insert(conn.prepareStatement(absl::StrCat(
        "INSERT INTO route_changes (revision, customer_id, created_at_ms, "
        "body) VALUES ",
        Placeholders(n, "(?,?,?,?)"))));
    std::vector<std::string> bodies(n);
    std::vector<std::unique_ptr<std::istringstream>> streams;
    for (size_t i = 0; i < n; ++i) {
      const RouteChange& change = changes[start + i];
      change.SerializeToString(&bodies[i]);
      int p = static_cast<int>(i) * 4;
      insert->setInt64(p + 1, change.revision());
      insert->setInt64(p + 2, change.has_route_update()
                                  ? change.route_update().route().customer_id()
                                  : 0);
      insert->setInt64(p + 3, change.stamp().at_unix_ms());
      streams.push_back(std::make_unique<std::istringstream>(bodies[i]));
      insert->setBlob(p + 4, streams.back().get());
    }
    insert->executeUpdate();
  }
}

Route RouteFromRow(sql::ResultSet& rows) {
  Route route;
  route.set_customer_id(rows.getInt64("customer_id"));
  route.set_system(static_cast<System>(rows.getInt("system")));
  route.set_state(static_cast<RouteState>(rows.getInt("state")));
  route.set_version(rows.getInt64("version"));
  route.set_updated_at_unix_ms(rows.getInt64("updated_at_ms"));
  route.set_updated_by(rows.getString("updated_by"));
  route.set_lease_expires_unix_ms(rows.getInt64("lease_deadline_ms"));
  return route;
}

RouteChange NewChange(const Actor& actor, int64_t revision, int64_t now_ms) {
  RouteChange change;
  change.set_revision(revision);
  change.mutable_stamp()->set_actor(actor.name);
  change.mutable_stamp()->set_reason(actor.reason);
  change.mutable_stamp()->set_at_unix_ms(now_ms);
  return change;
}

}  // namespace tandem::router::route_rows
