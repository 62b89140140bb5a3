#include "migrator/batch/batch_metrics.h"

#include "absl/strings/str_cat.h"

namespace tandem::migrator {
namespace {

namespace v1 = ::tandem::migrator::v1;

constexpr const char* kItemStates[] = {"pending", "in_progress", "done",
                                       "failed",  "skipped",     "rolled_back"};

}  // namespace

BatchMetrics::BatchMetrics(prometheus::Registry* registry) {
  if (registry == nullptr) return;
  items_ = &prometheus::BuildGauge()
                .Name("tandem_migrator_batch_items")
                .Help(
                    "Items of each unfinished batch (the newest 20) by state "
                    "(pending, in_progress, done, failed, skipped, "
                    "rolled_back).")
                .Register(*registry);
  ratio_ = &prometheus::BuildGauge()
                .Name("tandem_migrator_batch_progress_ratio")
                .Help(
                    "Share of each unfinished batch's items that are "
                    "finished (the newest 20 batches).")
                .Register(*registry);
  throttled_ = &prometheus::BuildGauge()
                    .Name("tandem_migrator_batches_throttled")
                    .Help("Batches backing off now, by cause.")
                    .Register(*registry);
  throttle_events_ = &prometheus::BuildCounter()
                          .Name("tandem_migrator_throttle_events_total")
                          .Help(
                              "Times a batch began backing off (or paused "
                              "itself), by cause.")
                          .Register(*registry);
  budget_ = &prometheus::BuildGauge()
                 .Name("tandem_migrator_write_budget_rows_per_second")
                 .Help(
                     "Rows per second this replica's share of the batches' "
                     "write budgets allows (0: no budget).")
                 .Register(*registry)
                 .Add({});
  written_ = &prometheus::BuildGauge()
                  .Name("tandem_migrator_written_rows_per_second")
                  .Help(
                      "Rows per second this replica wrote for batches over "
                      "the last interval.")
                  .Register(*registry)
                  .Add({});
  in_use_ = &prometheus::BuildGauge()
                 .Name("tandem_migrator_write_budget_in_use_ratio")
                 .Help(
                     "Written rows per second over the budget allowed (0 "
                     "without a budget).")
                 .Register(*registry)
                 .Add({});
  busy_ = &prometheus::BuildGauge()
               .Name("tandem_migrator_workers_busy")
               .Help(
                   "Customers this replica is advancing now (PLANNING to "
                   "VERIFYING).")
               .Register(*registry)
               .Add({});
  lease_losses_ = &prometheus::BuildCounter()
                       .Name("tandem_migrator_lease_losses_total")
                       .Help(
                           "Times a worker found its claim on a customer "
                           "taken by another, by how it found out (renewal, "
                           "store, fence).")
                       .Register(*registry);
  for (const char* cause : {"threads_running", "query_latency", "critical",
                            "outside_window", "source_unreachable"}) {
    throttled_->Add({{"cause", cause}}).Set(0);
    throttle_events_->Add({{"cause", cause}});
  }
  for (const char* how : {"renewal", "store", "fence"}) {
    lease_losses_->Add({{"how", how}});
  }
}

void BatchMetrics::Progress(const std::map<int64_t, v1::Batch>& batches) {
  if (items_ == nullptr) return;
  absl::MutexLock lock(&mu_);
  std::set<int64_t> now;
  for (auto it = batches.rbegin();
       it != batches.rend() && now.size() < kMaxBatchSeries; ++it) {
    now.insert(it->first);
  }
  for (int64_t gone : shown_) {
    if (now.count(gone)) continue;
    const std::string id = absl::StrCat(gone);
    for (const char* state : kItemStates) {
      items_->Remove(&items_->Add({{"batch", id}, {"state", state}}));
    }
    ratio_->Remove(&ratio_->Add({{"batch", id}}));
  }
  for (int64_t b : now) {
    const v1::BatchProgress& p = batches.at(b).progress();
    const std::string id = absl::StrCat(b);
    const double values[] = {static_cast<double>(p.items_pending()),
                             static_cast<double>(p.items_in_progress()),
                             static_cast<double>(p.items_done()),
                             static_cast<double>(p.items_failed()),
                             static_cast<double>(p.items_skipped()),
                             static_cast<double>(p.items_rolled_back())};
    for (size_t i = 0; i < 6; ++i) {
      items_->Add({{"batch", id}, {"state", kItemStates[i]}}).Set(values[i]);
    }
    const double finished = values[2] + values[3] + values[4] + values[5];
    ratio_->Add({{"batch", id}})
        .Set(p.items_total() > 0
                 ? finished / static_cast<double>(p.items_total())
                 : 0);
  }
  shown_ = now;
}

void BatchMetrics::Throttled(const std::map<std::string, int>& by_cause) {
  if (throttled_ == nullptr) return;
  for (const char* cause : {"threads_running", "query_latency", "critical",
                            "outside_window", "source_unreachable"}) {
    auto it = by_cause.find(cause);
    throttled_->Add({{"cause", cause}})
        .Set(it == by_cause.end() ? 0 : it->second);
  }
}

void BatchMetrics::ThrottleEvent(const std::string& cause) {
  if (throttle_events_ != nullptr) {
    throttle_events_->Add({{"cause", cause}}).Increment();
  }
}

void BatchMetrics::Budget(double allowed, double written) {
  if (budget_ == nullptr) return;
  budget_->Set(allowed);
  written_->Set(written);
  in_use_->Set(allowed > 0 ? written / allowed : 0);
}

void BatchMetrics::WorkersBusy(int busy) {
  if (busy_ != nullptr) busy_->Set(busy);
}

void BatchMetrics::LeaseLost(const std::string& how) {
  if (lease_losses_ != nullptr) lease_losses_->Add({{"how", how}}).Increment();
}

}  // namespace tandem::migrator
