// What the migrator's benchmarks share: a charging load on the customers that
// stay on the source, with each write's latency kept by phase, and the
// percentile the reports print.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "testbed/traffic/charging.h"
#include "testbed/traffic/route_view.h"
#include "tests/migrator/migrator_fixture.h"

namespace tandem::migrator::bench {

// Nearest-rank percentile `q` (0-1) of `v`; 0 when empty.
inline double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// Route-blind charging writes (`rate` a second, in rounds of one second) on
// customers that stay on the source, so no router is needed, until Stop().
// Each write's latency lands in `before_ms` or `during_ms` by whether the
// phase being measured (SetDuring) runs; read them after Stop().
class ChargingLoad {
 public:
  ~ChargingLoad() { Stop(); }

  void Start(testing::MigratorEnv& env, std::vector<int64_t> customers,
             double rate) {
    stop_ = false;
    thread_ = std::thread([this, &env, customers, rate] {
      testbed::ChargingOptions o;
      o.rate = rate;
      o.duration = absl::Seconds(1);
      o.customers = customers;
      o.connections = 2;
      o.ledger_path = "/dev/null";
      uint64_t seed = 1;
      testbed::SourceOnlyRouteView routes;
      testbed::ChargingTargets targets{&env.testbed().v1(), nullptr, &routes};
      while (!stop_.load()) {
        o.seed = seed++;
        auto r = testbed::RunCharging(targets, o);
        if (!r.ok()) continue;
        absl::MutexLock lock(&mu_);
        for (int64_t us : r->latencies_us) {
          (during_ ? during_ms : before_ms)
              .push_back(static_cast<double>(us) / 1000);
        }
        failed += r->Failures();
      }
    });
  }
  void SetDuring(bool during) {
    absl::MutexLock lock(&mu_);
    during_ = during;
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  std::vector<double> before_ms, during_ms;
  int64_t failed = 0;

 private:
  absl::Mutex mu_;
  bool during_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace tandem::migrator::bench
