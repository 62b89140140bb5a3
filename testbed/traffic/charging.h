// Real-time charging traffic: writes xDRs and balance changes straight into
// the source (v1) database at a chosen rate, as a switch's charging engine
// would, and records every committed write in a ledger file that
// ledger_check.h later verifies ("nothing lost").
//
// Ledger format: one JSON object per line, written after the write's
// transaction committed (so a crash can lose ledger lines, never invent
// them):
//   {"kind":"xdr","seq":N,"customer_id":C,"account_id":A,"xdr_id":X,
//    "connect_time":"YYYY-MM-DD HH:MM:SS","duration_s":D,"charged":"0.12340",
//    "cli":"...","cld":"...","transaction_id":T,"amount":"-0.12340",
//    "tx_type":"charge","tx_time":"YYYY-MM-DD HH:MM:SS"}
//   {"kind":"adjust","seq":N,"customer_id":C,"transaction_id":T,
//    "amount":"1.50000","tx_type":"adjustment","tx_time":"..."}
// Money is in v1 form (DECIMAL text); the checker converts for v2.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mysql_pool.h"
#include "testbed/traffic/report.h"

namespace tandem::testbed {

struct ChargingOptions {
  double rate = 100;  // writes per second
  absl::Duration duration = absl::Seconds(10);
  int64_t max_writes = 0;  // 0: until `duration` ends
  int connections = 2;     // writer threads (the pool needs as many)
  uint64_t seed = 1;
  // Customers to charge; empty = every customer of the source.
  std::vector<int64_t> customers;
  // Customers being migrated, who get `focus_share` of the writes.
  std::vector<int64_t> focus_customers;
  double focus_share = 0.5;
  // Share of writes that are customer-level balance adjustments; the rest
  // are charged xDRs (xDR + account debit + 'charge' transaction).
  double adjust_share = 0.2;
  std::string ledger_path;
};

// What write k of a run does; a pure function of the seed, so a seed fixes
// the sequence of writes.
struct PlannedWrite {
  bool adjust = false;
  int64_t customer_id = 0;
  uint64_t account_pick = 0;  // index (mod count) into the customer's accounts
  int64_t duration_s = 0;
  int64_t charged_micros = 0;  // multiple of 10 (fits v1)
  int64_t adjust_micros = 0;   // signed, multiple of 10
  std::string cld;
};

PlannedWrite PlanWrite(const ChargingOptions& options, int64_t k,
                       const std::vector<int64_t>& customers);

// Runs the writes against `source` (a v1 database), appending to the
// ledger. Report statuses: "ok", "failed" (database error; not in the
// ledger). FAILED_PRECONDITION when no customer with accounts is found;
// PERMISSION_DENIED when the ledger cannot be opened.
absl::StatusOr<TrafficReport> RunCharging(MysqlPool& source,
                                          const ChargingOptions& options);

}  // namespace tandem::testbed
