// Real-time charging traffic as a dispatcher (DESIGN.md, "Other
// dispatchers"): a charging engine's writes (charged calls, balance
// adjustments, top-ups, usage increments, settings edits) at a chosen rate,
// each sent to the system that holds its customer, and every committed
// write recorded in a ledger (ledger.h) that ledger_check.h verifies.
//
// For each write the dispatcher resolves the customer through a RouteView
// (the router's Watch-fed cache):
//   * SOURCE / TARGET: the write goes to v1 / v2 (v2 rows in v2's units;
//     some with amounts that are not multiples of 10 micro-units and
//     durations that are not whole seconds, which v1 cannot hold);
//   * MIGRATING: it waits, up to the hold timeout, until the route settles
//     (like the portal-proxy's hold), then goes where the route points; past
//     the timeout it is not made, and counted as "hold_timeout".
// A charged call carries its start time (now minus its duration, up to 20
// minutes): it goes to the system the customer had when the call started,
// so a call that started before a flip lands on v1 after it, as a late
// write the migrator's tail must carry.
//
// Every route-following write locks the customer's row first (SELECT status
// ... FOR UPDATE, in its own transaction, on whichever system) and is refused
// when the customer is marked exported there; it then re-resolves the route
// (waiting, up to the hold timeout, for the route to move past the version
// it used) and is retried on the system the route points to now, never
// dropped silently: "refused_stuck" when the route does not move.
//
// `route_blind_share` of the writes ignore the router and the status check
// and write v1 as a legacy rating job would: the late writes the migrator's
// tail must carry.
//
// Writes of one customer are serialised in the dispatcher (transaction and
// ledger line together), so the ledger lists each customer's writes in
// commit order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mysql_pool.h"
#include "testbed/traffic/billing_writes.h"
#include "testbed/traffic/report.h"
#include "testbed/traffic/route_view.h"

namespace tandem::testbed {

struct ChargingOptions {
  double rate = 100;  // writes per second; 0 = as fast as possible
  absl::Duration duration = absl::Seconds(10);
  int64_t max_writes = 0;  // 0: until `duration` ends
  int connections = 2;     // writer threads (each pool needs as many)
  uint64_t seed = 1;
  // Customers to charge; empty = every customer of the source.
  std::vector<int64_t> customers;
  // Customers being migrated, who get `focus_share` of the writes.
  std::vector<int64_t> focus_customers;
  double focus_share = 0.5;
  // Shares of the kinds of write; the rest are charged calls.
  double adjust_share = 0.1;
  double topup_share = 0.1;
  double usage_share = 0.1;
  double settings_share = 0.1;
  // Share of writes that ignore the router (legacy jobs on v1).
  double route_blind_share = 0;
  // Share of v2 writes with values v1 cannot hold exactly.
  double inexact_share = 0.3;
  // How long a write waits for a MIGRATING route to settle, or for a
  // refused write's route to move on.
  absl::Duration hold_timeout = absl::Seconds(10);
  std::string ledger_path;
};

// Checks ranges (shares in [0, 1] adding up to at most 1, positive
// connections, a ledger path, ...); INVALID_ARGUMENT naming the option.
absl::Status ValidateChargingOptions(const ChargingOptions& options);

// What write k of a run does; a pure function of the seed and k.
PlannedWrite PlanWrite(const ChargingOptions& options, int64_t k,
                       const std::vector<int64_t>& customers);

// The databases and the routes the dispatcher writes through.
struct ChargingTargets {
  MysqlPool* source = nullptr;  // v1; required
  MysqlPool* target = nullptr;  // v2; may be null when no route points there
  RouteView* routes = nullptr;  // required (SourceOnlyRouteView: no router)
};

// Runs the writes, appending to the ledger (a start line, then one line per
// committed write). Report by_status, one final outcome per write: "ok",
// "hold_timeout", "refused_stuck" (refused as exported and the route did
// not move), "not_found" (the customer or row is not on the system the
// route points to), "failed" (database error); by_system of committed
// writes: "source", "target"; by_operation: the kinds and "blind"; events:
// "refused_exported" (each refused attempt), "held" (writes that waited for
// MIGRATING), "retried" (writes that succeeded after a refusal).
// FAILED_PRECONDITION when no customer with accounts is found, or a route
// points to the target and no target database was given; PERMISSION_DENIED
// when the ledger cannot be opened; INVALID_ARGUMENT for bad options.
absl::StatusOr<TrafficReport> RunCharging(const ChargingTargets& targets,
                                          const ChargingOptions& options);

}  // namespace tandem::testbed
