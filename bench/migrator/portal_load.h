// Portal visits through the portal-proxy for the migrator's benchmarks:
// customers logging in, browsing, editing settings and topping up (the
// `tandem-traffic portal` engine), with each round's report kept by phase.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "testbed/traffic/portal_traffic.h"
#include "testbed/traffic/report.h"

namespace tandem::migrator::bench {

// Visits at `rate` requests a second over `connections`, in rounds of one
// second, as `customers`, until Stop(). A round's report lands in `before`
// or `during` by whether the phase being measured (SetDuring) ran when the
// round started; read them (Finish()ed) and `round_errors` after Stop().
class PortalLoad {
 public:
  ~PortalLoad() { Stop(); }

  void Start(int port, std::vector<int64_t> customers, double rate,
             int connections) {
    stop_ = false;
    thread_ = std::thread([this, port, customers, rate, connections] {
      testbed::PortalTrafficOptions o;
      o.port = port;
      o.rate = rate;
      o.duration = absl::Seconds(1);
      o.connections = connections;
      o.customers = customers;
      for (uint64_t round = 1; !stop_.load(); ++round) {
        o.seed = round;
        bool during;
        {
          absl::MutexLock lock(&mu_);
          during = during_;
        }
        absl::StatusOr<testbed::TrafficReport> r = testbed::RunPortalTraffic(o);
        absl::MutexLock lock(&mu_);
        if (!r.ok()) {
          ++round_errors;
          last_error = r.status().ToString();
          continue;
        }
        (during ? this->during : before).Merge(*std::move(r));
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
    before.Finish();
    during.Finish();
  }

  // Requests that failed in `r`: 5xx and transport errors, and the answers
  // a customer must never see while moved: 409 (the source's "customer
  // exported" reaching the client) and 401 (a session lost across the flip).
  static int64_t Failed(const testbed::TrafficReport& r) {
    auto count = [&](const char* status) {
      auto it = r.by_status.find(status);
      return it == r.by_status.end() ? int64_t{0} : it->second;
    };
    return r.Failures() + count("409") + count("401");
  }

  testbed::TrafficReport before, during;
  // Rounds that could not run (bad options; never a failed request).
  int64_t round_errors = 0;
  std::string last_error;

 private:
  absl::Mutex mu_;
  bool during_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace tandem::migrator::bench
