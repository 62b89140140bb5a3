// Keeps a RouteTable in step with the store's change log, and remembers the
// recent changes so Watch streams can resume without a snapshot.
//
// Every replica runs one feed: it polls the log for revisions above the
// table's (every `poll_interval`, or at once when woken after a local
// commit), applies them in order and tells subscribers. Changes made through
// any replica therefore reach every replica's table and Watch streams.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "router/route_store.h"
#include "router/route_table.h"

namespace tandem::router {

struct ChangeFeedOptions {
  absl::Duration poll_interval = absl::Milliseconds(10);
  // How many recent changes are kept for resuming watchers.
  size_t remembered_changes = 100000;
  int poll_batch = 5000;
  // Logged changes older than this are deleted (the most recent
  // `remembered_changes` are always kept, so watchers can resume after a
  // restart). Zero keeps everything.
  absl::Duration retention = absl::Hours(24 * 7);
  absl::Duration prune_interval = absl::Minutes(10);
  // Measures the poll interval and its backoff, the prune schedule, the
  // retention's cut-off and the propagation delay; null: Clock::Real().
  Clock* clock = nullptr;
};

class ChangeFeed {
 public:
  // `store` and `table` must outlive the feed. With a registry, exports
  // tandem_router_change_propagation_seconds, tandem_router_revision and
  // tandem_router_routes{system,state}.
  ChangeFeed(RouteStore* store, RouteTable* table, ChangeFeedOptions options,
             prometheus::Registry* registry);
  ~ChangeFeed();

  // Loads the table from the store and starts polling. Fails with the
  // store's error; the caller may retry.
  absl::Status Start();

  // Stops polling. Idempotent.
  void Stop();

  // Polls now instead of at the next interval.
  void Wake();

  // Blocks until the table has applied `revision`; false after `timeout`.
  bool WaitForRevision(int64_t revision, absl::Duration timeout);

  // Appends up to `max` remembered changes with revision > `after` to
  // `out`. Returns false when changes after `after` are no longer
  // remembered, so the caller needs a snapshot.
  bool ChangesAfter(int64_t after, size_t max,
                    std::vector<RouteChange>* out) const;

  // `notify` is called on the feed's thread after changes were applied. It
  // must not block and must not call Subscribe or Unsubscribe.
  int Subscribe(std::function<void()> notify);
  // After this returns, the subscriber's `notify` is not running and will
  // not be called again.
  void Unsubscribe(int id);
  int subscribers() const;

  // True once the poll loop has failed for longer than a poll interval.
  bool lagging() const;

  // Deletes logged changes past the retention now; returns how many.
  absl::StatusOr<int64_t> PruneNow();

 private:
  void Loop();
  absl::Status PollOnce(bool* applied);
  void UpdateGauges();

  RouteStore* store_;
  RouteTable* table_;
  const ChangeFeedOptions options_;
  Clock& clock_;

  mutable absl::Mutex ring_mu_;
  std::deque<RouteChange> ring_ ABSL_GUARDED_BY(ring_mu_);
  // Changes above this revision are all in the ring.
  int64_t ring_floor_ ABSL_GUARDED_BY(ring_mu_) = 0;

  mutable absl::Mutex applied_mu_;
  int64_t applied_ ABSL_GUARDED_BY(applied_mu_) = 0;
  bool wake_ ABSL_GUARDED_BY(applied_mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(applied_mu_) = false;
  bool failing_ ABSL_GUARDED_BY(applied_mu_) = false;

  mutable absl::Mutex subscribers_mu_;
  std::map<int, std::function<void()>> subscribers_
      ABSL_GUARDED_BY(subscribers_mu_);
  int next_subscriber_ ABSL_GUARDED_BY(subscribers_mu_) = 0;

  std::thread thread_;
  absl::Time next_prune_ = absl::InfinitePast();

  prometheus::Histogram* propagation_ = nullptr;
  prometheus::Counter* pruned_ = nullptr;
  prometheus::Gauge* revision_gauge_ = nullptr;
  prometheus::Gauge* subscribers_gauge_ = nullptr;
  prometheus::Gauge* routes_[4] = {};
  prometheus::Gauge* keys_gauge_ = nullptr;
};

}  // namespace tandem::router
