// Reads metric values out of a prometheus::Registry in tests.
#pragma once

#include <map>
#include <string>

#include "prometheus/registry.h"

namespace tandem::proxy::testing {

// The sum of counter and gauge values of metric `name` over the series whose
// labels include `labels`.
inline double CounterValue(
    prometheus::Registry& registry, const std::string& name,
    const std::map<std::string, std::string>& labels = {}) {
  double total = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      bool match = true;
      for (const auto& [k, v] : labels) {
        bool found = false;
        for (const auto& label : metric.label) {
          found |= label.name == k && label.value == v;
        }
        match &= found;
      }
      if (match) total += metric.counter.value + metric.gauge.value;
    }
  }
  return total;
}

}  // namespace tandem::proxy::testing
