// The back end: drives what exists toward what the control database says
// is wanted. It claims unfinished items of running batches (leases, so
// replicas share the work and a dead replica's items pass to another),
// advances each on a worker thread (at most `parallelism` customers between
// PLANNING and VERIFYING at once), and runs the tail passes of flipped
// customers. A restarted migrator simply claims again and continues.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "migrator/move/move_store.h"
#include "migrator/move/mover.h"

namespace tandem::migrator {

struct BackendOptions {
  // This replica's name in claims (unique per replica).
  std::string worker = "migrator";
  int parallelism = 4;
  absl::Duration poll_interval = absl::Milliseconds(200);
  // How long a claim lasts without renewal; renewed every third of it.
  absl::Duration item_lease = absl::Seconds(30);
  absl::Duration tail_interval = absl::Seconds(1);
  // How often, and for how long after their tail window, finished customers
  // are checked for writes that landed on the old system too late.
  absl::Duration sentinel_interval = absl::Seconds(60);
  absl::Duration sentinel_window = absl::Hours(24);
};

class Backend {
 public:
  Backend(MoveStore* store, Mover* mover, BackendOptions options,
          Clock& clock = Clock::Real());
  ~Backend();

  void Start();
  // Stops claiming, lets customers in flight finish their step (a cutover
  // is never abandoned half way) for up to `grace`, and releases every
  // claim so other replicas continue. Idempotent.
  void Stop(absl::Duration grace = absl::Seconds(30));
  // Looks for work now instead of at the next poll.
  void Wake();

  // Items this replica works on now (advancing or tailing).
  int active() const;

 private:
  void Loop();
  void ClaimAndStart();
  void RunItem(ItemRecord record);
  void TailPasses();
  void RenewLeases();
  void Sentinel();

  MoveStore* store_;
  Mover* mover_;
  const BackendOptions options_;
  Clock& clock_;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  // Items advancing on a worker thread, by (batch, customer).
  std::map<std::pair<int64_t, int64_t>, ItemRecord> advancing_
      ABSL_GUARDED_BY(mu_);
  std::map<std::pair<int64_t, int64_t>, std::thread> threads_
      ABSL_GUARDED_BY(mu_);
  // Flipped items in their tail window.
  std::map<std::pair<int64_t, int64_t>, ItemRecord> tailing_
      ABSL_GUARDED_BY(mu_);
  absl::Time last_tail_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time last_renew_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time last_sentinel_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::thread loop_;
};

}  // namespace tandem::migrator
