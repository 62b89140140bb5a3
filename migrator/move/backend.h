// The back end: drives what exists toward what the control database says
// is wanted. It claims unfinished items of running batches (leases, so
// replicas share the work and a dead replica's items pass to another),
// advances each on a worker thread (at most `parallelism` customers between
// PLANNING and VERIFYING at once), and runs the tail passes of flipped
// customers. A restarted migrator simply claims again and continues.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "migrator/engine/write_guard.h"
#include "migrator/move/move_store.h"
#include "migrator/move/mover.h"

namespace tandem::migrator {

// What the back end consults and reports to as it works: the batches'
// governor (migrator/batch/governor.h) behind a narrow interface, so the
// back end does not depend on the batch layer. May be absent.
class WorkPolicy {
 public:
  virtual ~WorkPolicy() = default;
  // Once per loop, with this replica's busy workers per batch; `woken`
  // when the loop was woken (a batch was created or changed).
  virtual void Tick(const std::map<int64_t, int>& busy, bool woken) = 0;
  // The batches whose PENDING items may start now (known, decided on, not
  // backing off, within their window).
  virtual std::set<int64_t> MayStart() = 0;
  // The pacer of a batch's writes on this replica (outlives the back end).
  virtual WritePacer* PacerFor(int64_t batch_id) = 0;
  // A worker found its claim taken ("renewal", "store", "fence").
  virtual void LeaseLost(const std::string& how) = 0;
};

struct BackendOptions {
  // This replica's name in claims (unique per replica).
  std::string worker = "migrator";
  // Customers this replica advances at once, over all batches (each batch
  // also has its own parallelism, over all replicas).
  int parallelism = 4;
  absl::Duration poll_interval = absl::Milliseconds(200);
  // How long a claim lasts without renewal; renewed every third of it.
  absl::Duration item_lease = absl::Seconds(30);
  absl::Duration tail_interval = absl::Seconds(1);
  // Threads that run a round of tail passes (one customer each at a time).
  // The tail runs beside the claims: a long round never delays new
  // customers.
  int tail_threads = 4;
  // A tailing customer whose probe has not moved since the round before is
  // probed again after 2, 4, ... up to this many tail intervals (a customer
  // whose probe moved, every interval); never later than the end of its
  // window, so the last pass is on time. Most customers are quiet after
  // their flip, and each probe reads all their carried rows.
  int tail_quiet_backoff = 8;
  // How often, and for how long after their tail window, finished customers
  // are checked for writes that landed on the old system too late.
  absl::Duration sentinel_interval = absl::Seconds(60);
  absl::Duration sentinel_window = absl::Hours(24);
};

class Backend {
 public:
  // `policy` may be null; `dbs` (by SchemaSide) are where claims take
  // their write fences (null: no fences).
  Backend(MoveStore* store, Mover* mover, BackendOptions options,
          Clock& clock = Clock::Real(), WorkPolicy* policy = nullptr,
          BillingDb* const dbs[2] = nullptr);
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
  // Waits until `interval` after `*last` (guarded by mu_); false when the
  // back end stops first.
  bool AwaitDue(const absl::Time* last, absl::Duration interval);
  // The tail's and the sentinel's own loops, beside the claims: a long
  // round of either never delays new customers, nor each other.
  void TailLoop();
  void SentinelLoop();
  void TailPasses();
  void TailPass(ItemRecord& record, const Mover::TailProbe* probe);
  void RenewLeases();
  // The context a worker writes under for `record` (fenced by its claim,
  // paced by its batch).
  WorkerContext ContextFor(const ItemRecord& record);
  // Takes the write fence of the claim on both billing servers; false when
  // a newer claim holds the customer (the item is dropped).
  bool TakeFences(const WorkerContext& context);
  void Sentinel();

  MoveStore* store_;
  Mover* mover_;
  const BackendOptions options_;
  Clock& clock_;
  WorkPolicy* policy_;
  BillingDb* dbs_[2] = {nullptr, nullptr};
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
  // When each tailing item is due for its next probe, and how it went.
  struct TailSchedule {
    absl::Time next = absl::InfinitePast();
    int quiet_rounds = 0;
    std::optional<Mover::TailProbe> last_probe;
  };
  std::map<std::pair<int64_t, int64_t>, TailSchedule> tail_schedule_
      ABSL_GUARDED_BY(mu_);
  // Schedules the next probes of the items `due` probed in the round that
  // started at `round_at`.
  void ScheduleTails(const std::vector<ItemRecord>& due,
                     const std::vector<std::optional<Mover::TailProbe>>& probes,
                     absl::Time round_at);
  absl::Time last_tail_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time last_renew_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time last_sentinel_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::thread loop_;
  std::thread tail_loop_;
  std::thread sentinel_loop_;
};

}  // namespace tandem::migrator
