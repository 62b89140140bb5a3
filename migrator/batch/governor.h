// The governor: one per replica, between the batches the control database
// describes and the workers that move their customers. From the back end's
// loop it
//   * keeps the batches' states and options (refreshed twice a second), and
//     answers the mover's checkpoints from them (ItemControl): go on, back
//     off, wait at the operator gate, stop for a pause, skip for a cancel;
//   * samples the source's load (Threads_running and a probe query's
//     latency) at the batches' check interval and decides, per batch,
//     whether to back off (a `max_` threshold crossed; resuming below 80 % of
//     it) or to pause the batch by itself (a `critical_` one), storing the
//     decision with its cause;
//   * keeps each batch's write pacer: a token bucket holding this replica's
//     share of the batch's budget (the budget split by the workers each
//     replica has busy on the batch, learnt through the control database),
//     closed while the batch backs off;
//   * tells the claims which batches may start customers now (known and
//     decided on, not backing off, within their time window), and
//     reconciles batch states.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "migrator/batch/batch_metrics.h"
#include "migrator/batch/batch_store.h"
#include "migrator/engine/billing_db.h"
#include "migrator/engine/write_guard.h"
#include "migrator/move/backend.h"
#include "migrator/move/item_control.h"

namespace tandem::migrator {

// Samples a database's load.
class LoadProbe {
 public:
  struct Sample {
    bool ok = false;
    std::string error;
    int64_t threads_running = 0;
    int64_t latency_ms = 0;
  };
  virtual ~LoadProbe() = default;
  virtual Sample Take() = 0;
};

// Threads_running from SHOW GLOBAL STATUS, and the wall time of a
// primary-key read of the customer table (the probe), on a billing
// database.
std::unique_ptr<LoadProbe> NewMysqlLoadProbe(BillingDb* db,
                                             const Mapping* mapping);

// One batch's pacing on this replica.
class BatchPacer final : public WritePacer {
 public:
  explicit BatchPacer(Clock& clock) : clock_(clock) {}
  void BeforeWrite(int64_t rows, bool urgent) override;

  // Rows (and statements) per second this replica may write; 0: no limit.
  void SetRates(double rows_per_second, double statements_per_second);
  // While closed, writes that are not urgent wait.
  void SetClosed(bool closed);
  // Rows written since the last call.
  int64_t TakeWritten();

 private:
  Clock& clock_;
  absl::Mutex mu_;
  double rows_rate_ ABSL_GUARDED_BY(mu_) = 0;
  double statements_rate_ ABSL_GUARDED_BY(mu_) = 0;
  double rows_tokens_ ABSL_GUARDED_BY(mu_) = 0;
  double statement_tokens_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time refilled_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  int64_t written_ ABSL_GUARDED_BY(mu_) = 0;
};

struct GovernorOptions {
  // This replica's name (as in its claims).
  std::string worker = "migrator";
  absl::Duration refresh = absl::Milliseconds(500);
  absl::Duration reconcile = absl::Seconds(1);
  // Heartbeats of busy workers; a replica silent for three is gone.
  absl::Duration heartbeat = absl::Seconds(1);
  // How often the throttle status is stored when nothing changed.
  absl::Duration save_every = absl::Seconds(2);
};

class Governor final : public ItemControl, public WorkPolicy {
 public:
  // `probe` samples the source; all must outlive the governor.
  Governor(BatchStore* store, LoadProbe* probe, BatchMetrics* metrics,
           GovernorOptions options, Clock& clock = Clock::Real());

  // One round, from the back end's loop: `busy` is this replica's workers
  // per batch now.
  void Tick(const std::map<int64_t, int>& busy, bool woken) override;

  // Running batches this replica knows and has decided on that are not
  // backing off and are within their window: their customers may start.
  std::set<int64_t> MayStart() override;

  // The pacer of a batch's writes on this replica; lives as long as the
  // governor.
  BatchPacer* PacerFor(int64_t batch_id) override;

  void LeaseLost(const std::string& how) override { metrics_->LeaseLost(how); }

  ItemDecision Check(const ItemRecord& record, bool at_gate) override;

  // True while `batch_id` backs off (for tests and the report).
  bool Throttled(int64_t batch_id);

 private:
  struct State {
    BatchControl control;
    ::tandem::migrator::v1::ThrottleStatus throttle;
    bool critical_reported = false;
    absl::Time saved = absl::InfinitePast();
  };
  void Refresh();
  // `now`: sample even if the interval has not passed (a batch not yet
  // decided on).
  void Sample(const std::map<int64_t, int>& busy, bool now);
  // Decides one batch's throttle from the last sample.
  void Decide(State& state, const LoadProbe::Sample& sample, int64_t now_ms,
              std::vector<std::pair<int64_t, std::string>>* pause)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool InWindow(const ::tandem::migrator::v1::BatchOptions& o);

  BatchStore* store_;
  LoadProbe* probe_;
  BatchMetrics* metrics_;
  GovernorOptions options_;
  Clock& clock_;
  absl::Mutex mu_;
  std::map<int64_t, State> batches_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, std::unique_ptr<BatchPacer>> pacers_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, int> busy_everywhere_ ABSL_GUARDED_BY(mu_);
  absl::Time refreshed_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time sampled_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time reconciled_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time heartbeat_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time progress_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  LoadProbe::Sample last_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tandem::migrator
