// The units and codes in which the two schema versions differ, and the
// neutral forms the testbed's APIs use for both. These conversions are the
// ones testbed/MAPPING.md specifies; the simulator, the ledger checker and
// the reference transform all go through them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tandem::testbed {

// The two billing schema versions.
enum class SchemaVersion { kV1, kV2 };

// "v1" or "v2".
const char* VersionName(SchemaVersion version);

// Parses "v1" or "v2"; INVALID_ARGUMENT otherwise.
absl::StatusOr<SchemaVersion> ParseVersion(absl::string_view name);

// Money. v1 stores DECIMAL(13,5); v2 stores BIGINT micro-units (1 = 10^-6
// of the currency unit). The API uses decimal strings.

// Parses a decimal such as "12", "-0.5" or "12.34567" (at most 6 fraction
// digits, at most 12 integer digits, no exponent) into micro-units exactly.
// INVALID_ARGUMENT otherwise.
absl::StatusOr<int64_t> DecimalToMicros(absl::string_view decimal);

// Formats micro-units as the shortest exact decimal with at least two
// fraction digits: 12500000 -> "12.50", -1 -> "-0.000001".
std::string MicrosToDecimal(int64_t micros);

// Formats micro-units for a v1 DECIMAL(13,5) column: exactly five fraction
// digits. INVALID_ARGUMENT if `micros` is not a multiple of 10 (v1 cannot
// hold it).
absl::StatusOr<std::string> MicrosToV1Decimal(int64_t micros);

// The error a write returns when its customer is marked exported (moved to
// the other system): FAILED_PRECONDITION "customer exported", recognisable
// by IsCustomerExported() (a status payload, not the message).
absl::Status CustomerExportedError();
bool IsCustomerExported(const absl::Status& status);

// Durations: v1 whole seconds, v2 milliseconds, the API milliseconds.
inline int64_t SecondsToMillis(int64_t seconds) { return seconds * 1000; }

// Statuses: v1 strings, v2 small integer codes, the API the v1 strings.
enum class StatusKind { kCustomer, kAccount, kSubscription, kInvoice };

// Maps a v1 status name to its v2 code; nullopt if unknown for `kind`.
std::optional<int> StatusCode(StatusKind kind, absl::string_view name);

// Maps a v2 status code to its v1 name; nullopt if unknown for `kind`.
std::optional<std::string> StatusName(StatusKind kind, int code);

// Demo credentials, derived from the customer id so that the data
// generator, the traffic generator and tests agree without sharing a file.
// Logins are "cust<id>", except for ids ending in 17, 53 and 89 (modulo
// 100), whose logins hold non-ASCII characters ("jürgen.müller17",
// "анна.53", "美咲89").
std::string DemoLogin(int64_t customer_id);
std::string DemoPassword(int64_t customer_id);
// A bearer token: "tk_<customer_id>_<32 hex>".
std::string DemoApiToken(int64_t customer_id);

// Extracts the customer id prefix of a session cookie value
// ("<customer_id>.<hex>") or an API token ("tk_<customer_id>_<hex>"), for
// dispatchers that route by customer before the billing system checks the
// credential itself. nullopt when the value has neither shape.
std::optional<int64_t> CustomerIdFromSession(absl::string_view session);
std::optional<int64_t> CustomerIdFromToken(absl::string_view token);

// A deterministic 64-bit generator (SplitMix64): the same seed gives the
// same sequence on every platform, unlike std:: distributions.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  // Uniform in [0, n); n > 0.
  uint64_t Below(uint64_t n);
  // Uniform in [lo, hi]; lo <= hi.
  int64_t Range(int64_t lo, int64_t hi);
  // True with probability `p`.
  bool Chance(double p);
  // Uniform in [0, 1).
  double Unit();

 private:
  uint64_t state_;
};

}  // namespace tandem::testbed
