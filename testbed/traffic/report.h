// Counters and latency percentiles of a traffic run, printable as text or
// JSON.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace tandem::testbed {

struct TrafficReport {
  std::string kind;  // "portal" or "charging"
  int64_t requests = 0;
  // Per HTTP status code ("200", "401", ...) or write outcome ("ok", ...);
  // transport failures count under "transport_error".
  std::map<std::string, int64_t> by_status;
  // Per serving system (X-Billing-Version: "v1", "v2"; "none" if absent).
  std::map<std::string, int64_t> by_system;
  // Per operation ("login", "me", ..., "xdr", "adjust", ...).
  std::map<std::string, int64_t> by_operation;
  // Events that are not outcomes (charging: "refused_exported" per refused
  // attempt, "held", "retried").
  std::map<std::string, int64_t> events;
  // Latencies in microseconds (unsorted until Finish()).
  std::vector<int64_t> latencies_us;
  absl::Duration elapsed;

  // Merges `other` into this report.
  void Merge(TrafficReport&& other);
  // Sorts latencies; call before the percentile accessors.
  void Finish();
  // The q-quantile (0 <= q <= 1) of latency, in milliseconds.
  double PercentileMs(double q) const;
  // Requests that failed for a reason other than the client's own input:
  // 5xx, transport errors, and writes not made ("failed", "hold_timeout",
  // "refused_stuck", "not_found", "no_target").
  int64_t Failures() const;

  std::string ToText() const;
  std::string ToJson() const;
};

}  // namespace tandem::testbed
