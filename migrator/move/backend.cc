#include "migrator/move/backend.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include "common/log.h"
#include "migrator/move/item_states.h"

namespace tandem::migrator {

namespace v1 = ::tandem::migrator::v1;

Backend::Backend(MoveStore* store, Mover* mover, BackendOptions options,
                 Clock& clock, WorkPolicy* policy, BillingDb* const dbs[2])
    : store_(store),
      mover_(mover),
      options_(std::move(options)),
      clock_(clock),
      policy_(policy) {
  if (dbs != nullptr) {
    dbs_[0] = dbs[0];
    dbs_[1] = dbs[1];
  }
}

WorkerContext Backend::ContextFor(const ItemRecord& record) {
  WorkerContext c;
  c.batch_id = record.item.batch_id();
  c.customer_id = record.item.customer_id();
  c.epoch = record.epoch;
  c.worker = record.worker;
  // A rehearsal's writes are always rolled back: nothing to fence.
  c.fenced = record.mode != v1::BATCH_MODE_DRY_RUN && dbs_[0] != nullptr;
  c.pacer = policy_ != nullptr ? policy_->PacerFor(c.batch_id) : nullptr;
  return c;
}

bool Backend::TakeFences(const WorkerContext& context) {
  if (!context.fenced) return true;
  for (BillingDb* db : dbs_) {
    absl::Status s = TakeFence(db->pool(), db->fence_table(), context);
    if (s.code() == absl::StatusCode::kAborted) {
      if (policy_ != nullptr) policy_->LeaseLost("fence");
      TANDEM_LOG(Warning, "claim_fenced_off")
          .With("customer_id", context.customer_id)
          .With("error", s.ToString());
      return false;
    }
    if (!s.ok()) {
      // The server is unreachable: the move fails on it cleanly, and its
      // writes there are refused until a claim takes the fence.
      TANDEM_LOG(Warning, "fence_not_taken")
          .With("customer_id", context.customer_id)
          .With("database", db->database())
          .With("error", s.ToString());
    }
  }
  return true;
}

Backend::~Backend() { Stop(absl::Seconds(5)); }

void Backend::Start() {
  loop_ = std::thread([this] { Loop(); });
  tail_loop_ = std::thread([this] { TailLoop(); });
  sentinel_loop_ = std::thread([this] { SentinelLoop(); });
}

void Backend::Wake() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

int Backend::active() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(advancing_.size() + tailing_.size());
}

void Backend::Stop(absl::Duration grace) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && !loop_.joinable()) return;
    stopping_ = true;
  }
  if (loop_.joinable()) loop_.join();
  if (tail_loop_.joinable()) tail_loop_.join();
  if (sentinel_loop_.joinable()) sentinel_loop_.join();
  // Let items in flight finish their current run.
  const absl::Time deadline = clock_.Now() + grace;
  std::map<std::pair<int64_t, int64_t>, std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    auto done = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return advancing_.empty();
    };
    clock_.AwaitWithDeadline(mu_, absl::Condition(&done), deadline);
    threads.swap(threads_);
  }
  for (auto& [key, t] : threads) {
    if (t.joinable()) t.join();
  }
  std::map<std::pair<int64_t, int64_t>, ItemRecord> tailing;
  {
    absl::MutexLock lock(&mu_);
    tailing.swap(tailing_);
  }
  for (auto& [key, record] : tailing) (void)store_->ReleaseItem(record);
}

void Backend::Loop() {
  bool woken = false;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return stopping_ || wake_;
      };
      clock_.AwaitWithDeadline(mu_, absl::Condition(&ready),
                               clock_.Now() + options_.poll_interval);
      if (stopping_) return;
      woken = wake_;
      wake_ = false;
    }
    if (policy_ != nullptr) {
      std::map<int64_t, int> busy;
      {
        absl::MutexLock lock(&mu_);
        for (const auto& [key, record] : advancing_) ++busy[key.first];
      }
      policy_->Tick(busy, woken);
    }
    ClaimAndStart();
    RenewLeases();
  }
}

bool Backend::AwaitDue(const absl::Time* last, absl::Duration interval) {
  absl::MutexLock lock(&mu_);
  auto stopping = [this]()
                      ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_; };
  clock_.AwaitWithDeadline(mu_, absl::Condition(&stopping), *last + interval);
  return !stopping_;
}

void Backend::TailLoop() {
  while (AwaitDue(&last_tail_, options_.tail_interval)) TailPasses();
}

void Backend::SentinelLoop() {
  while (AwaitDue(&last_sentinel_, options_.sentinel_interval)) Sentinel();
}

void Backend::Sentinel() {
  {
    absl::MutexLock lock(&mu_);
    if (clock_.Now() - last_sentinel_ < options_.sentinel_interval) return;
    last_sentinel_ = clock_.Now();
  }
  absl::StatusOr<std::vector<ItemRecord>> done = store_->RecentlyDone(
      absl::ToInt64Milliseconds(options_.sentinel_window), 1000);
  if (!done.ok()) return;
  for (const ItemRecord& record : *done) {
    absl::StatusOr<int64_t> late = mover_->LateWritesAfterWindow(record);
    if (!late.ok() || *late == record.item.late_writes_after_window()) {
      continue;
    }
    // An alarm: written on the old system after the window, not carried.
    TANDEM_LOG(Error, "late_writes_after_window")
        .With("batch_id", record.item.batch_id())
        .With("customer_id", record.item.customer_id())
        .With("writes", *late);
    mover_->ReportLateWritesAfterWindow(*late -
                                        record.item.late_writes_after_window());
    (void)store_->RecordLateWrites(record.item.batch_id(),
                                   record.item.customer_id(), *late);
  }
}

void Backend::ClaimAndStart() {
  int free_slots;
  {
    absl::MutexLock lock(&mu_);
    // Finished threads are joined here.
    for (auto it = threads_.begin(); it != threads_.end();) {
      if (!advancing_.count(it->first)) {
        it->second.join();
        it = threads_.erase(it);
      } else {
        ++it;
      }
    }
    free_slots = options_.parallelism - static_cast<int>(advancing_.size());
  }
  ClaimLimits limits;
  limits.limit = std::max(0, free_slots);
  if (policy_ != nullptr) limits.may_start = policy_->MayStart();
  absl::StatusOr<std::vector<ItemRecord>> claimed = store_->ClaimItems(
      options_.worker, absl::ToInt64Milliseconds(options_.item_lease), limits);
  if (!claimed.ok()) {
    TANDEM_LOG(Warning, "claim_failed")
        .With("error", claimed.status().ToString());
    return;
  }
  // Claims of items this replica still runs (stale now) are given back at
  // once, for another replica to take.
  std::vector<ItemRecord> release_again;
  for (ItemRecord& record : *claimed) {
    const auto key =
        std::make_pair(record.item.batch_id(), record.item.customer_id());
    // The previous run of the same item on this replica: still running
    // (its lease ran out under it: it is stale now, and stops at its next
    // write; the item waits for this new claim's lease to end), or ended
    // and not yet joined.
    std::thread previous;
    {
      absl::MutexLock lock(&mu_);
      if (advancing_.count(key) || tailing_.count(key)) {
        TANDEM_LOG(Warning, "item_still_running")
            .With("customer_id", record.item.customer_id());
        release_again.push_back(record);
        continue;
      }
      auto t = threads_.find(key);
      if (t != threads_.end()) {
        previous = std::move(t->second);
        threads_.erase(t);
      }
    }
    if (previous.joinable()) previous.join();
    if (record.item.state() == v1::ITEM_STATE_TAIL &&
        !TakeFences(ContextFor(record))) {
      continue;
    }
    absl::MutexLock lock(&mu_);
    if (record.item.state() == v1::ITEM_STATE_TAIL) {
      tailing_[key] = std::move(record);
      continue;
    }
    advancing_[key] = record;
    threads_[key] = std::thread([this, record]() mutable { RunItem(record); });
  }
  for (const ItemRecord& record : release_again) {
    (void)store_->ReleaseItem(record);
  }
}

void Backend::RunItem(ItemRecord record) {
  const auto key =
      std::make_pair(record.item.batch_id(), record.item.customer_id());
  WorkerContext context = ContextFor(record);
  // Writes of a customer held MIGRATING are never delayed.
  context.urgent = [&record] {
    return record.item.state() == v1::ITEM_STATE_CUTOVER ||
           record.item.state() == v1::ITEM_STATE_VERIFYING;
  };
  absl::Status status = absl::AbortedError("a newer claim holds the customer");
  if (TakeFences(context)) {
    ScopedWorkerContext scope(&context);
    status = mover_->Advance(record);
  }
  if (status.code() == absl::StatusCode::kAborted && policy_ != nullptr) {
    policy_->LeaseLost("store");
  }
  if (!status.ok()) {
    TANDEM_LOG(Warning, "item_interrupted")
        .With("batch_id", record.item.batch_id())
        .With("customer_id", record.item.customer_id())
        .With("state", ItemStateName(record.item.state()))
        .With("error", status.ToString());
  }
  // Paused at a checkpoint, or interrupted (not by losing the claim): the
  // item is released as it is, to be taken again later; only after this
  // worker let go of it here, so no claim of it overlaps this run.
  const bool release =
      (status.ok() && record.stopped) ||
      (!status.ok() && status.code() != absl::StatusCode::kAborted);
  {
    absl::MutexLock lock(&mu_);
    advancing_.erase(key);
    if (status.ok() && record.item.state() == v1::ITEM_STATE_TAIL) {
      tailing_[key] = record;
    }
    wake_ = true;
  }
  if (release) (void)store_->ReleaseItem(record);
}

void Backend::TailPasses() {
  std::vector<ItemRecord> due;
  absl::Time round_at;
  {
    absl::MutexLock lock(&mu_);
    if (clock_.Now() - last_tail_ < options_.tail_interval) return;
    last_tail_ = clock_.Now();
    round_at = last_tail_;
    std::erase_if(tail_schedule_,
                  [&](const auto& s) { return !tailing_.count(s.first); });
    for (const auto& [key, record] : tailing_) {
      if (tail_schedule_[key].next <= last_tail_) due.push_back(record);
    }
    mover_->SetTailBacklog(static_cast<int64_t>(tailing_.size()));
  }
  if (due.empty()) return;
  const absl::Time round_start = clock_.Now();
  // Every due customer's probe first, in a few statements: most passes
  // find nothing moved and end there.
  const std::vector<std::optional<Mover::TailProbe>> probes =
      mover_->ProbeTails(due);
  ScheduleTails(due, probes, round_at);
  // Each thread takes the next customer until none is left (or the back
  // end stops: the rest wait for the next claim).
  std::atomic<size_t> next{0};
  auto work = [this, &due, &probes, &next] {
    for (size_t i = next++; i < due.size(); i = next++) {
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) return;
      }
      TailPass(due[i], probes[i].has_value() ? &*probes[i] : nullptr);
    }
  };
  std::vector<std::thread> helpers;
  const size_t threads = std::min<size_t>(
      due.size(), static_cast<size_t>(std::max(1, options_.tail_threads)));
  for (size_t t = 1; t < threads; ++t) helpers.emplace_back(work);
  work();
  for (std::thread& t : helpers) t.join();
  mover_->TailRoundTook(clock_.Now() - round_start);
}

void Backend::ScheduleTails(
    const std::vector<ItemRecord>& due,
    const std::vector<std::optional<Mover::TailProbe>>& probes,
    absl::Time round_at) {
  const int most = std::max(1, options_.tail_quiet_backoff);
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < due.size(); ++i) {
    TailSchedule& s =
        tail_schedule_[{due[i].item.batch_id(), due[i].item.customer_id()}];
    const bool quiet = probes[i].has_value() && s.last_probe == probes[i];
    s.quiet_rounds = quiet ? s.quiet_rounds + 1 : 0;
    s.last_probe = probes[i];
    const int factor = std::min(most, 1 << std::min(s.quiet_rounds, 16));
    const absl::Time window_end = absl::FromUnixMillis(due[i].tail_until_ms);
    s.next = std::min(round_at + options_.tail_interval * factor,
                      std::max(window_end, round_at));
  }
}

void Backend::TailPass(ItemRecord& record, const Mover::TailProbe* probe) {
  const auto key =
      std::make_pair(record.item.batch_id(), record.item.customer_id());
  WorkerContext context = ContextFor(record);
  ScopedWorkerContext scope(&context);
  absl::Status status = mover_->TailPass(record, probe);
  absl::MutexLock lock(&mu_);
  if (!status.ok()) {
    // Not carried: probed again next round, whatever the probe says.
    tail_schedule_[key] = TailSchedule();
  }
  if (status.code() == absl::StatusCode::kAborted ||
      IsTerminal(record.item.state())) {
    tailing_.erase(key);
  } else if (tailing_.count(key)) {
    tailing_[key] = record;
  }
}

void Backend::RenewLeases() {
  std::vector<ItemRecord> held;
  {
    absl::MutexLock lock(&mu_);
    if (clock_.Now() - last_renew_ < options_.item_lease / 3) return;
    last_renew_ = clock_.Now();
    for (auto& [key, record] : advancing_) held.push_back(record);
    for (auto& [key, record] : tailing_) held.push_back(record);
  }
  if (held.empty()) return;
  absl::StatusOr<std::vector<size_t>> lost =
      store_->RenewLeases(held, absl::ToInt64Milliseconds(options_.item_lease));
  if (!lost.ok()) {
    TANDEM_LOG(Warning, "lease_renewal_failed")
        .With("items", held.size())
        .With("error", lost.status().ToString());
    return;
  }
  for (size_t i : *lost) {
    if (policy_ != nullptr) policy_->LeaseLost("renewal");
    TANDEM_LOG(Warning, "lease_renewal_failed")
        .With("customer_id", held[i].item.customer_id())
        .With("error", "the claim was lost");
  }
}

}  // namespace tandem::migrator
