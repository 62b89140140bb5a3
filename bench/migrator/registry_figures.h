// Figures the benchmarks read from a service's own metrics registry: the
// proxy's account of held and refused requests, and where a customer's move
// spends its time (the migrator's phase histograms).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "prometheus/registry.h"

namespace tandem::migrator::bench {

// The proxy's own account of the run, from its metrics registry.
struct ProxyFigures {
  int64_t held = 0;  // holds that ended (released or timed out)
  double held_seconds = 0;
  int64_t hold_timeouts = 0;  // answered 503
  int64_t hold_rejected = 0;  // refused: the hold queue was full
  int64_t answered_5xx = 0;
  int64_t exported_replays = 0;
};

inline ProxyFigures ReadProxy(prometheus::Registry& registry) {
  ProxyFigures f;
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    for (const prometheus::ClientMetric& m : family.metric) {
      auto label = [&](const char* name) -> std::string {
        for (const auto& l : m.label) {
          if (l.name == name) return l.value;
        }
        return "";
      };
      const auto count = static_cast<int64_t>(m.counter.value);
      if (family.name == "tandem_proxy_hold_duration_seconds") {
        f.held += static_cast<int64_t>(m.histogram.sample_count);
        f.held_seconds += m.histogram.sample_sum;
      } else if (family.name == "tandem_proxy_hold_timeouts_total") {
        f.hold_timeouts += count;
      } else if (family.name == "tandem_proxy_hold_outcomes_total" &&
                 label("outcome") == "capacity") {
        f.hold_rejected += count;
      } else if (family.name == "tandem_proxy_requests_total" &&
                 label("code") == "5xx") {
        f.answered_5xx += count;
      } else if (family.name == "tandem_proxy_exported_replays_total") {
        f.exported_replays += count;
      }
    }
  }
  return f;
}

// One phase of a customer's move: how many times it ran and its total time.
struct PhaseFigure {
  int64_t count = 0;
  double seconds = 0;
};

// The migrator's `tandem_migrator_phase_seconds`, by phase.
inline std::map<std::string, PhaseFigure> ReadPhases(
    prometheus::Registry& registry) {
  std::map<std::string, PhaseFigure> phases;
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != "tandem_migrator_phase_seconds") continue;
    for (const prometheus::ClientMetric& m : family.metric) {
      for (const prometheus::ClientMetric::Label& l : m.label) {
        if (l.name != "phase") continue;
        PhaseFigure& f = phases[l.value];
        f.count += static_cast<int64_t>(m.histogram.sample_count);
        f.seconds += m.histogram.sample_sum;
      }
    }
  }
  return phases;
}

// A markdown section: each phase's runs, mean and total time; the totals
// are summed over the parallel workers, so they add up to more than the
// batch's time.
inline std::string PhaseSection(
    const std::map<std::string, PhaseFigure>& phases) {
  std::string out =
      "## Where a customer's move spends its time (the migrator's "
      "`tandem_migrator_phase_seconds`)\n\n| phase | runs | mean | total, "
      "summed over workers |\n| --- | --- | --- | --- |\n";
  for (const auto& [name, f] : phases) {
    absl::StrAppend(
        &out, "| ", name, " | ", f.count, " | ",
        absl::StrFormat("%.1f ms",
                        f.count > 0 ? 1000 * f.seconds / f.count : 0.0),
        " | ", absl::StrFormat("%.1f s", f.seconds), " |\n");
  }
  return out;
}

}  // namespace tandem::migrator::bench
