// Ends moves whose lease ran out. Every router replica runs one; each expiry
// is a compare-and-set in the store, so replicas racing for the same route
// change it once. A mover that crashed mid-cutover therefore never leaves a
// customer MIGRATING (held by the dispatchers) for much longer than its lease.
#pragma once

#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "router/change_feed.h"
#include "router/route_store.h"

namespace tandem::router {

struct LeaseReaperOptions {
  // How often to look for expired leases. A lease is therefore aborted at
  // most this long (plus one store round trip) after it ran out.
  absl::Duration interval = absl::Milliseconds(100);
  // Expiries per pass.
  int batch = 500;
};

class LeaseReaper {
 public:
  // `store` and `feed` (woken after an expiry so this replica's table and
  // watchers see it at once) must outlive the reaper. With a registry,
  // exports tandem_router_leases_expired_total and
  // tandem_router_lease_check_errors_total.
  LeaseReaper(RouteStore* store, ChangeFeed* feed, LeaseReaperOptions options,
              prometheus::Registry* registry, Clock& clock = Clock::Real());
  ~LeaseReaper();

  // Starts the background loop.
  void Start();
  // Stops it; idempotent.
  void Stop();

  // One pass, on the caller's thread: aborts expired moves and returns how
  // many.
  absl::StatusOr<int> RunOnce();

 private:
  void Loop();

  RouteStore* store_;
  ChangeFeed* feed_;
  const LeaseReaperOptions options_;
  Clock& clock_;
  prometheus::Counter* expired_ = nullptr;
  prometheus::Counter* errors_ = nullptr;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace tandem::router
