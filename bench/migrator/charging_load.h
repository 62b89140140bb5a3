// What the migrator's benchmarks share: a charging load on chosen
// customers, with each write's latency kept by phase, and the percentile the
// reports print.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/mysql_pool.h"
#include "testbed/traffic/charging.h"
#include "testbed/traffic/report.h"
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

// How a ChargingLoad writes. The defaults are the route-blind load on
// customers that stay on the source (no router, no ledger).
struct ChargingLoadOptions {
  double rate = 200;  // writes per second
  int connections = 2;
  // The databases written (null: the testbed's shared pools; the target
  // only when `routes` is set).
  MysqlPool* source = nullptr;
  MysqlPool* target = nullptr;
  // The routes writes follow (the charging dispatcher's); null: everybody
  // on the source, every write to v1 without a router.
  testbed::RouteView* routes = nullptr;
  // Share of writes that ignore the router (a legacy rating job on v1).
  double route_blind_share = 0;
  absl::Duration hold_timeout = absl::Seconds(10);
  // Every committed write is appended here (each round adds a start line).
  std::string ledger_path = "/dev/null";
  // Called before each round: the customers charged in it (a round with
  // none is skipped). Null: the customers given to Start, every round.
  std::function<std::vector<int64_t>()> customers_now;
};

// Charging writes in rounds of one second on `customers`, until Stop().
// Each write's latency lands in `before_ms` or `during_ms` by whether the
// phase being measured (SetDuring) runs; read them, `failed`, `total` and
// `round_errors` after Stop().
class ChargingLoad {
 public:
  ~ChargingLoad() { Stop(); }

  // The default load: route-blind writes at `rate` on the source.
  void Start(testing::MigratorEnv& env, std::vector<int64_t> customers,
             double rate) {
    ChargingLoadOptions o;
    o.rate = rate;
    Start(env, std::move(customers), std::move(o));
  }

  void Start(testing::MigratorEnv& env, std::vector<int64_t> customers,
             ChargingLoadOptions options) {
    stop_ = false;
    thread_ = std::thread([this, &env, customers, options] {
      testbed::ChargingOptions o;
      o.rate = options.rate;
      o.duration = absl::Seconds(1);
      o.connections = options.connections;
      o.route_blind_share = options.route_blind_share;
      o.hold_timeout = options.hold_timeout;
      o.ledger_path = options.ledger_path;
      uint64_t seed = 1;
      testbed::SourceOnlyRouteView source_only;
      testbed::ChargingTargets targets{
          options.source != nullptr ? options.source : &env.testbed().v1(),
          options.routes == nullptr   ? nullptr
          : options.target != nullptr ? options.target
                                      : &env.testbed().v2(),
          options.routes != nullptr ? options.routes : &source_only};
      while (!stop_.load()) {
        o.customers =
            options.customers_now ? options.customers_now() : customers;
        if (o.customers.empty()) {
          absl::SleepFor(absl::Milliseconds(100));  // nobody to charge yet
          continue;
        }
        o.seed = seed++;
        auto r = testbed::RunCharging(targets, o);
        absl::MutexLock lock(&mu_);
        if (!r.ok()) {
          ++round_errors;
          last_error = r.status().ToString();
          continue;
        }
        for (int64_t us : r->latencies_us) {
          (during_ ? during_ms : before_ms)
              .push_back(static_cast<double>(us) / 1000);
        }
        failed += r->Failures();
        total.Merge(*std::move(r));
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
  // Every round's report merged (outcomes, systems, operations, events).
  testbed::TrafficReport total;
  // Rounds that could not run (their writes were never made).
  int64_t round_errors = 0;
  std::string last_error;

 private:
  absl::Mutex mu_;
  bool during_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace tandem::migrator::bench
