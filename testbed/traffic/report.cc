#include "testbed/traffic/report.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "testbed/base/json.h"

namespace tandem::testbed {

void TrafficReport::Merge(TrafficReport&& other) {
  requests += other.requests;
  for (const auto& [k, v] : other.by_status) by_status[k] += v;
  for (const auto& [k, v] : other.by_system) by_system[k] += v;
  for (const auto& [k, v] : other.by_operation) by_operation[k] += v;
  for (const auto& [k, v] : other.events) events[k] += v;
  latencies_us.insert(latencies_us.end(), other.latencies_us.begin(),
                      other.latencies_us.end());
}

void TrafficReport::Finish() {
  std::sort(latencies_us.begin(), latencies_us.end());
}

double TrafficReport::PercentileMs(double q) const {
  if (latencies_us.empty()) return 0;
  size_t i = static_cast<size_t>(
      q * static_cast<double>(latencies_us.size() - 1) + 0.5);
  return static_cast<double>(latencies_us[i]) / 1000.0;
}

int64_t TrafficReport::Failures() const {
  int64_t n = 0;
  for (const auto& [k, v] : by_status) {
    if (absl::StartsWith(k, "5") || k == "transport_error" || k == "failed" ||
        k == "hold_timeout" || k == "refused_stuck" || k == "not_found" ||
        k == "no_target") {
      n += v;
    }
  }
  return n;
}

std::string TrafficReport::ToText() const {
  double seconds = absl::ToDoubleSeconds(elapsed);
  std::string out = absl::StrFormat(
      "%s: %d requests in %.2f s (%.1f/s), failures %d\n", kind, requests,
      seconds, seconds > 0 ? requests / seconds : 0.0, Failures());
  absl::StrAppendFormat(
      &out,
      "  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
      PercentileMs(0.5), PercentileMs(0.9), PercentileMs(0.99),
      PercentileMs(0.999), PercentileMs(1.0));
  auto line = [&](const char* title, const std::map<std::string, int64_t>& m) {
    absl::StrAppend(&out, "  ", title, ":");
    for (const auto& [k, v] : m) absl::StrAppend(&out, " ", k, "=", v);
    out.push_back('\n');
  };
  line("by status", by_status);
  if (!by_system.empty()) line("by system", by_system);
  line("by operation", by_operation);
  if (!events.empty()) line("events", events);
  return out;
}

std::string TrafficReport::ToJson() const {
  JsonWriter w;
  w.BeginObject()
      .Field("kind", kind)
      .Field("requests", requests)
      .Field("failures", Failures())
      .Field("elapsed_ms", absl::ToInt64Milliseconds(elapsed));
  w.Key("latency_ms").BeginObject();
  for (auto [name, q] :
       std::vector<std::pair<const char*, double>>{{"p50", 0.5},
                                                   {"p90", 0.9},
                                                   {"p99", 0.99},
                                                   {"p999", 0.999},
                                                   {"max", 1.0}}) {
    w.Field(name, absl::StrFormat("%.3f", PercentileMs(q)));
  }
  w.EndObject();
  for (auto [name, map] : std::vector<
           std::pair<const char*, const std::map<std::string, int64_t>*>>{
           {"by_status", &by_status},
           {"by_system", &by_system},
           {"by_operation", &by_operation},
           {"events", &events}}) {
    w.Key(name).BeginObject();
    for (const auto& [k, v] : *map) w.Field(k, v);
    w.EndObject();
  }
  w.EndObject();
  return w.Release();
}

}  // namespace tandem::testbed
