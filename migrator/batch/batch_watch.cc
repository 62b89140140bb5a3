#include "migrator/batch/batch_watch.h"

#include <vector>

#include "common/log.h"
#include "migrator/batch/batch_states.h"

namespace tandem::migrator {
namespace {

namespace v1 = ::tandem::migrator::v1;

constexpr int kMaxChangedItems = 1000;
constexpr absl::Duration kTick = absl::Milliseconds(100);

}  // namespace

class BatchWatchHub::Reactor final
    : public grpc::ServerWriteReactor<v1::WatchBatchResponse> {
 public:
  explicit Reactor(BatchWatchHub* hub) : hub_(hub) {}

  // Queues `message` (replacing one not yet written); `last` ends the stream
  // OK after it.
  void Offer(v1::WatchBatchResponse message, bool last) {
    absl::MutexLock lock(&mu_);
    if (closing_ || finished_) return;
    pending_ = std::move(message);
    has_pending_ = true;
    if (last) {
      closing_ = true;
      close_status_ = grpc::Status::OK;
    }
    Pump();
  }

  void Close(grpc::Status status) {
    absl::MutexLock lock(&mu_);
    if (closing_ && !has_pending_) {
      Pump();
      return;
    }
    closing_ = true;
    has_pending_ = false;
    close_status_ = std::move(status);
    Pump();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok && !finished_) {
      closing_ = true;
      has_pending_ = false;
      close_status_ = grpc::Status(grpc::StatusCode::CANCELLED, "client gone");
    }
    Pump();
  }

  void OnCancel() override {
    Close(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
  }

  void OnDone() override {
    hub_->Done(this);
    delete this;
  }

 private:
  void Pump() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_) return;
    if (has_pending_) {
      current_ = std::move(pending_);
      has_pending_ = false;
      writing_ = true;
      StartWrite(&current_);
      return;
    }
    if (closing_) {
      finished_ = true;
      Finish(close_status_);
    }
  }

  BatchWatchHub* hub_;
  absl::Mutex mu_;
  v1::WatchBatchResponse current_ ABSL_GUARDED_BY(mu_);
  v1::WatchBatchResponse pending_ ABSL_GUARDED_BY(mu_);
  bool has_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status close_status_ ABSL_GUARDED_BY(mu_);
};

BatchWatchHub::BatchWatchHub(BatchStore* store, Clock& clock)
    : store_(store), clock_(clock) {
  loop_ = std::thread([this] { Loop(); });
}

BatchWatchHub::~BatchWatchHub() { Shutdown(); }

int BatchWatchHub::watchers() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(watchers_.size());
}

grpc::ServerWriteReactor<v1::WatchBatchResponse>* BatchWatchHub::Watch(
    int64_t batch_id, absl::Duration interval, bool include_items) {
  auto* reactor = new Reactor(this);
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    reactor->Close(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                "migrator replica shutting down"));
    return reactor;
  }
  Watcher w;
  w.batch_id = batch_id;
  w.interval = interval;
  w.include_items = include_items;
  watchers_.emplace(reactor, w);
  return reactor;
}

void BatchWatchHub::Done(Reactor* reactor) {
  absl::MutexLock lock(&mu_);
  watchers_.erase(reactor);
}

void BatchWatchHub::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && !loop_.joinable()) return;
    stopping_ = true;
    for (auto& [reactor, w] : watchers_) {
      reactor->Close(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                  "migrator replica shutting down"));
    }
  }
  if (loop_.joinable()) loop_.join();
}

void BatchWatchHub::Loop() {
  while (true) {
    std::vector<std::pair<Reactor*, Watcher>> due;
    {
      absl::MutexLock lock(&mu_);
      auto stop = [this]()
                      ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_; };
      clock_.AwaitWithDeadline(mu_, absl::Condition(&stop),
                               clock_.Now() + kTick);
      if (stopping_) return;
      const absl::Time now = clock_.Now();
      for (auto& [reactor, w] : watchers_) {
        if (now >= w.due) {
          w.due = now + w.interval;
          due.emplace_back(reactor, w);
        }
      }
    }
    for (auto& [reactor, w] : due) Poll(reactor, w);
  }
}

void BatchWatchHub::Poll(Reactor* reactor, Watcher& w) {
  v1::WatchBatchResponse message;
  absl::StatusOr<v1::Batch> batch = store_->GetBatch(w.batch_id);
  if (!batch.ok()) {
    TANDEM_LOG(Warning, "watch_batch_poll_failed")
        .With("batch_id", w.batch_id)
        .With("error", batch.status().ToString());
    return;  // tried again at the next interval
  }
  int64_t since = w.items_since_ms;
  if (w.include_items) {
    absl::StatusOr<std::vector<v1::BatchItem>> items =
        store_->ItemsChangedSince(w.batch_id, w.items_since_ms,
                                  kMaxChangedItems + 1, &since);
    if (!items.ok()) return;
    if (static_cast<int>(items->size()) > kMaxChangedItems) {
      items->resize(kMaxChangedItems);
      message.set_items_truncated(true);
      since = items->back().updated_at_unix_ms();
    }
    for (v1::BatchItem& item : *items) {
      *message.add_changed_items() = std::move(item);
    }
  }
  const bool finished = IsTerminalBatch(batch->state());
  std::string serialized;
  batch->SerializeToString(&serialized);
  *message.mutable_batch() = *std::move(batch);
  message.set_batch_finished(finished);
  const bool changed = w.first || serialized != w.last_batch ||
                       message.changed_items_size() > 0 || finished;
  absl::MutexLock lock(&mu_);
  auto it = watchers_.find(reactor);
  if (it == watchers_.end()) return;  // the stream ended meanwhile
  it->second.first = false;
  it->second.last_batch = std::move(serialized);
  it->second.items_since_ms = since;
  if (changed) reactor->Offer(std::move(message), finished);
}

}  // namespace tandem::migrator
