// The batches' metrics: progress by batch (only the unfinished batches, at
// most kMaxBatchSeries of them, so the label stays bounded), throttle state
// and cause, write budget in use, workers busy, lease losses.
#pragma once

#include <map>
#include <set>
#include <string>

#include "absl/synchronization/mutex.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "tandem/migrator/v1/migrator.pb.h"

namespace tandem::migrator {

class BatchMetrics {
 public:
  static constexpr size_t kMaxBatchSeries = 20;

  // A null registry makes every call a no-op.
  explicit BatchMetrics(prometheus::Registry* registry);

  // The progress of the batches to show (the newest unfinished ones); the
  // series of batches no longer given are removed.
  void Progress(const std::map<int64_t, ::tandem::migrator::v1::Batch>& batches)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Batches throttled now, by cause (every cause present, 0 when none).
  void Throttled(const std::map<std::string, int>& by_cause);
  void ThrottleEvent(const std::string& cause);
  // The write budget this replica allows itself (rows per second, summed
  // over batches) and what it wrote over the last interval.
  void Budget(double allowed_rows_per_second, double written_rows_per_second);
  void WorkersBusy(int busy);
  // A worker found its claim taken: `how` is "renewal", "store" or "fence".
  void LeaseLost(const std::string& how);

 private:
  prometheus::Family<prometheus::Gauge>* items_ = nullptr;
  prometheus::Family<prometheus::Gauge>* ratio_ = nullptr;
  prometheus::Family<prometheus::Gauge>* throttled_ = nullptr;
  prometheus::Family<prometheus::Counter>* throttle_events_ = nullptr;
  prometheus::Gauge* budget_ = nullptr;
  prometheus::Gauge* written_ = nullptr;
  prometheus::Gauge* in_use_ = nullptr;
  prometheus::Gauge* busy_ = nullptr;
  prometheus::Family<prometheus::Counter>* lease_losses_ = nullptr;
  absl::Mutex mu_;
  std::set<int64_t> shown_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tandem::migrator
