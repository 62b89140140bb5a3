// Portal traffic: virtual customers who log in through a given URL (the
// portal-proxy, or a simulator directly), browse, edit settings, top up
// and log out, at a chosen request rate for a chosen time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "testbed/traffic/report.h"

namespace tandem::testbed {

struct PortalTrafficOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  double rate = 100;  // requests per second over all connections
  absl::Duration duration = absl::Seconds(10);
  int64_t max_requests = 0;  // 0: until `duration` ends
  int connections = 8;       // threads, one keep-alive connection each
  uint64_t seed = 1;
  // Customer ids to act as (their demo credentials, testbed/base/model.h).
  std::vector<int64_t> customers;
};

// One virtual customer's visit. Visit k of a run is PlanVisit(seed, k, ...),
// so a seed fixes the whole sequence of visits.
struct PortalVisit {
  int64_t customer_id = 0;
  bool form_login = false;
  uint64_t account_pick = 0;  // index (mod count) of the account browsed
  bool edit_settings = false;
  std::string language;
  bool top_up = false;
  std::string amount;
};

PortalVisit PlanVisit(uint64_t seed, int64_t k,
                      const std::vector<int64_t>& customers);

// Runs the traffic and reports per status code, per serving system
// (X-Billing-Version), per operation, and latency percentiles.
// INVALID_ARGUMENT for empty `customers` or connections < 1.
absl::StatusOr<TrafficReport> RunPortalTraffic(
    const PortalTrafficOptions& options);

}  // namespace tandem::testbed
