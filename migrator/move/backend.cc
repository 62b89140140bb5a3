#include "migrator/move/backend.h"

#include <vector>

#include "common/log.h"
#include "migrator/move/item_states.h"

namespace tandem::migrator {

namespace v1 = ::tandem::migrator::v1;

Backend::Backend(MoveStore* store, Mover* mover, BackendOptions options,
                 Clock& clock)
    : store_(store),
      mover_(mover),
      options_(std::move(options)),
      clock_(clock) {}

Backend::~Backend() { Stop(absl::Seconds(5)); }

void Backend::Start() {
  loop_ = std::thread([this] { Loop(); });
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
  // Let items in flight finish their current run.
  const absl::Time deadline = absl::Now() + grace;
  std::map<std::pair<int64_t, int64_t>, std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    auto done = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return advancing_.empty();
    };
    mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
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
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return stopping_ || wake_;
      };
      clock_.AwaitWithDeadline(mu_, absl::Condition(&ready),
                               clock_.Now() + options_.poll_interval);
      if (stopping_) return;
      wake_ = false;
    }
    ClaimAndStart();
    TailPasses();
    RenewLeases();
    Sentinel();
  }
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
  if (free_slots <= 0) return;
  absl::StatusOr<std::vector<ItemRecord>> claimed = store_->ClaimItems(
      options_.worker, absl::ToInt64Milliseconds(options_.item_lease),
      free_slots);
  if (!claimed.ok()) {
    TANDEM_LOG(Warning, "claim_failed")
        .With("error", claimed.status().ToString());
    return;
  }
  for (ItemRecord& record : *claimed) {
    const auto key =
        std::make_pair(record.item.batch_id(), record.item.customer_id());
    absl::MutexLock lock(&mu_);
    if (record.item.state() == v1::ITEM_STATE_TAIL) {
      tailing_[key] = std::move(record);
      continue;
    }
    advancing_[key] = record;
    threads_[key] = std::thread([this, record]() mutable { RunItem(record); });
  }
}

void Backend::RunItem(ItemRecord record) {
  const auto key =
      std::make_pair(record.item.batch_id(), record.item.customer_id());
  absl::Status status = mover_->Advance(record);
  if (!status.ok()) {
    TANDEM_LOG(Warning, "item_interrupted")
        .With("batch_id", record.item.batch_id())
        .With("customer_id", record.item.customer_id())
        .With("state", ItemStateName(record.item.state()))
        .With("error", status.ToString());
    if (status.code() != absl::StatusCode::kAborted) {
      (void)store_->ReleaseItem(record);
    }
  }
  absl::MutexLock lock(&mu_);
  advancing_.erase(key);
  if (status.ok() && record.item.state() == v1::ITEM_STATE_TAIL) {
    tailing_[key] = std::move(record);
  }
  wake_ = true;
}

void Backend::TailPasses() {
  std::vector<std::pair<std::pair<int64_t, int64_t>, ItemRecord>> due;
  {
    absl::MutexLock lock(&mu_);
    if (clock_.Now() - last_tail_ < options_.tail_interval) return;
    last_tail_ = clock_.Now();
    for (auto& [key, record] : tailing_) due.emplace_back(key, record);
  }
  mover_->SetTailBacklog(static_cast<int64_t>(due.size()));
  for (auto& [key, record] : due) {
    absl::Status status = mover_->TailPass(record);
    absl::MutexLock lock(&mu_);
    if (status.code() == absl::StatusCode::kAborted ||
        IsTerminal(record.item.state())) {
      tailing_.erase(key);
    } else if (tailing_.count(key)) {
      tailing_[key] = record;
    }
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
  for (const ItemRecord& record : held) {
    absl::Status s = store_->RenewLease(
        record, absl::ToInt64Milliseconds(options_.item_lease));
    if (!s.ok()) {
      TANDEM_LOG(Warning, "lease_renewal_failed")
          .With("customer_id", record.item.customer_id())
          .With("error", s.ToString());
    }
  }
}

}  // namespace tandem::migrator
