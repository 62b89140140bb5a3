// The charging ledger: one JSON object per line, appended by tandem-traffic
// charging after each write's transaction committed (so a crash can lose
// ledger lines, never invent them), and read by tandem-ledger-check.
//
// Values are in neutral units whatever the system that took the write:
// money in micro-units (integers), durations in milliseconds, times
// "YYYY-MM-DD HH:MM:SS" (UTC). Ids are the row ids on the system that took
// the write (they are kept when a customer moves).
//
// Every run starts with a line recording where the rows that existed before
// it end (the checker treats rows beyond these ids as new):
//   {"kind":"start","time":"...","source_max_xdr_id":N,
//    "source_max_transaction_id":N,"target_max_xdr_id":N,
//    "target_max_transaction_id":N}
// (target maxima over the target's own id range, from 1,000,000,000 up).
//
// Then one line per committed write, with these fields in common:
//   "kind"          "xdr" | "adjust" | "topup" | "usage" | "settings"
//   "seq"           the write's number in its run (a pure function of the
//                   seed and seq decides what it does)
//   "system"        "source" | "target": which system took it
//   "blind"         true for a route-blind (legacy) write: no route, no
//                   status check, always the source
//   "customer_id", "route_version" (the route used; 0 when blind),
//   "attempts"      1 + how often it was refused as exported and re-routed
// and per kind:
//   xdr       "account_id","xdr_id","connect_time" (the call's start),
//             "duration_ms","charged_micros","cli","cld", and its charge:
//             "transaction_id","amount_micros" (= -charged),"tx_type":
//             "charge","tx_time"
//   adjust    "transaction_id","amount_micros","tx_type":"adjustment",
//             "tx_time" (customer level)
//   topup     "account_id" (null: customer level),"transaction_id",
//             "amount_micros","tx_type":"topup","tx_time"
//   usage     "account_id","subscription_id","resource_type" (code),
//             "delta","used_after" (the usage right after the write, on
//             the system that took it)
//   settings  "account_id","setting","value" (a string, or null for a
//             deleted setting: JSON null on v1, no row on v2)
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace tandem::testbed {

enum class WriteKind { kXdr, kAdjust, kTopUp, kUsage, kSettings };

const char* WriteKindName(WriteKind kind);

struct LedgerStart {
  std::string time;
  int64_t source_max_xdr_id = 0;
  int64_t source_max_transaction_id = 0;
  int64_t target_max_xdr_id = 0;
  int64_t target_max_transaction_id = 0;
};

struct LedgerEntry {
  WriteKind kind = WriteKind::kXdr;
  int64_t seq = 0;
  bool on_target = false;  // "system"
  bool blind = false;
  int64_t customer_id = 0;
  int64_t route_version = 0;
  int attempts = 1;
  std::optional<int64_t> account_id;
  // xdr
  int64_t xdr_id = 0;
  std::string connect_time;
  int64_t duration_ms = 0;
  int64_t charged_micros = 0;
  std::string cli, cld;
  // xdr, adjust, topup
  int64_t transaction_id = 0;
  int64_t amount_micros = 0;
  std::string tx_type;
  std::string tx_time;
  // usage
  int64_t subscription_id = 0;
  std::string resource_type;
  int64_t delta = 0;
  int64_t used_after = 0;
  // settings
  std::string setting;
  std::optional<std::string> value;

  // Whether the entry carries a balance transaction (xdr, adjust, topup).
  bool has_transaction() const {
    return kind == WriteKind::kXdr || kind == WriteKind::kAdjust ||
           kind == WriteKind::kTopUp;
  }
};

// One ledger line (without the newline).
std::string LedgerLine(const LedgerStart& start);
std::string LedgerLine(const LedgerEntry& entry);

// One parsed line: a start line or an entry.
struct LedgerLineValue {
  std::optional<LedgerStart> start;
  std::optional<LedgerEntry> entry;
};

// Parses one line. INVALID_ARGUMENT naming `line_number` and what is wrong
// (not JSON, unknown kind, a missing or mistyped field).
absl::StatusOr<LedgerLineValue> ParseLedgerLine(const std::string& text,
                                                int line_number);

}  // namespace tandem::testbed
