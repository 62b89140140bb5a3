// The writes a charging engine (and a legacy rating job) makes to a billing
// database, in the SQL of either schema version: a charged call (xDR/CDR,
// account debit, 'charge' transaction), a customer balance adjustment, a
// top-up, a usage increment and a settings edit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "testbed/base/model.h"
#include "testbed/traffic/ledger.h"

namespace sql {
class Connection;
}  // namespace sql

namespace tandem::testbed {

// What one write does, decided before it is routed (a pure function of the
// seed and its number: PlanWrite in charging.h).
struct PlannedWrite {
  WriteKind kind = WriteKind::kXdr;
  bool blind = false;  // a legacy job's write: v1, no route, no check
  int64_t customer_id = 0;
  uint64_t account_pick = 0;  // index (mod count) into the accounts
  // xdr: the call's length and price on v1 (whole seconds, multiples of 10
  // micro-units). On v2 the call may be finer: `extra_ms` (0-999) more
  // milliseconds and `extra_micros` (0-9) more micro-units, which v1 cannot
  // hold (rows that do not convert back exactly).
  int64_t duration_s = 0;
  int64_t extra_ms = 0;
  int64_t charged_micros = 0;
  int64_t extra_micros = 0;
  std::string cld;
  // adjust (signed), topup (positive): multiples of 10; on v2 plus
  // `extra_micros` (signed like the amount).
  int64_t amount_micros = 0;
  bool account_level = false;  // topup: the account (true) or the customer
  // usage: "voice_minutes" or "data_mb" of the account's main subscription.
  std::string resource_type;
  int64_t usage_delta = 0;
  // settings: the setting and its new value (nullopt: delete it).
  std::string setting;
  std::optional<std::string> value;
};

// What the dispatcher knows of an account (loaded from the source at start;
// ids are the same on both systems).
struct AccountRef {
  int64_t id = 0;
  std::string number;
  // The main subscription, and the resource types it has usage rows of
  // among voice_minutes and data_mb (types that exist on both systems).
  int64_t subscription_id = 0;
  std::vector<std::string> usage_types;
};

// Applies `w` to `account` on `conn`, a connection to a database of
// `version`, inside the caller's transaction, and fills `entry` with the
// ids and values written (neutral units). With `check`, it first locks the
// customer's row (SELECT status ... FOR UPDATE) and refuses with
// CustomerExportedError() when the customer is marked exported there
// (NOT_FOUND when the customer is not there at all); without it (a
// route-blind legacy write) it neither locks nor checks. A call's
// connect_time is `call_start`; other times are `now`. INVALID_ARGUMENT
// when v1 cannot hold a value; NOT_FOUND when the account, usage row or
// customer is missing.
absl::Status ApplyWrite(sql::Connection& conn, SchemaVersion version,
                        const PlannedWrite& w, const AccountRef& account,
                        bool check, absl::Time call_start, absl::Time now,
                        LedgerEntry* entry);

// "YYYY-MM-DD HH:MM:SS" (UTC).
std::string LedgerTime(absl::Time t);

}  // namespace tandem::testbed
