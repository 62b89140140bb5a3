// The rows of the router's control tables as the MySQL store's files share
// them (mysql_route_store.cc, mysql_route_import.cc): statements' pieces,
// revision allocation and the change log. Not an interface: nothing outside
// the store includes it.
#pragma once

#include <cppconn/resultset.h>
#include <mysql_connection.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "router/route_store.h"

namespace tandem::router::route_rows {

// Rows per multi-row statement.
inline constexpr int kChunk = 500;

// The columns RouteFromRow reads, in a SELECT list.
inline constexpr char kRouteColumns[] =
    "customer_id, system, state, version, updated_at_ms, updated_by, "
    "lease_deadline_ms";

// The control database's clock, in Unix milliseconds. Leases are measured
// by it so that router replicas with skewed clocks agree on when one ends.
inline constexpr char kDbNowMs[] =
    "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)";

// This process's clock, in Unix milliseconds, for the changes' stamps.
int64_t NowMs();

// Takes `count` revisions; returns the last one. The counter row stays
// locked until the transaction ends, which orders commits by revision.
int64_t AllocateRevisions(sql::Connection& conn, int64_t count);

// Appends `changes` to the change log, in the caller's transaction.
void InsertChanges(sql::Connection& conn,
                   const std::vector<RouteChange>& changes);

// The route in the current row of a result selecting kRouteColumns.
Route RouteFromRow(sql::ResultSet& rows);

// A change stamped with `actor` at `now_ms`, at `revision`.
RouteChange NewChange(const Actor& actor, int64_t revision, int64_t now_ms);

}  // namespace tandem::router::route_rows
