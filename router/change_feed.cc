#include "router/change_feed.h"

#include <algorithm>

#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace tandem::router {

ChangeFeed::ChangeFeed(RouteStore* store, RouteTable* table,
                       ChangeFeedOptions options,
                       prometheus::Registry* registry)
    : store_(store),
      table_(table),
      options_(options),
      clock_(options.clock != nullptr ? *options.clock : Clock::Real()) {
  if (registry == nullptr) {
    return;
  }
  propagation_ =
      &prometheus::BuildHistogram()
           .Name("tandem_router_change_propagation_seconds")
           .Help(
               "Time from a change's commit to its arrival in this "
               "replica's table (includes clock skew between replicas).")
           .Register(*registry)
           .Add({}, prometheus::Histogram::BucketBoundaries{
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                        1, 2.5, 5, 10});
  revision_gauge_ = &prometheus::BuildGauge()
                         .Name("tandem_router_revision")
                         .Help("The revision this replica's table is at.")
                         .Register(*registry)
                         .Add({});
  subscribers_gauge_ = &prometheus::BuildGauge()
                            .Name("tandem_router_watch_subscribers")
                            .Help("Open Watch streams on this replica.")
                            .Register(*registry)
                            .Add({});
  auto& routes = prometheus::BuildGauge()
                     .Name("tandem_router_routes")
                     .Help("Routes by system and state.")
                     .Register(*registry);
  routes_[0] = &routes.Add({{"system", "source"}, {"state", "stable"}});
  routes_[1] = &routes.Add({{"system", "source"}, {"state", "migrating"}});
  routes_[2] = &routes.Add({{"system", "target"}, {"state", "stable"}});
  routes_[3] = &routes.Add({{"system", "target"}, {"state", "migrating"}});
  pruned_ = &prometheus::BuildCounter()
                 .Name("tandem_router_changes_pruned_total")
                 .Help("Logged route changes deleted past the retention.")
                 .Register(*registry)
                 .Add({});
  keys_gauge_ = &prometheus::BuildGauge()
                     .Name("tandem_router_keys")
                     .Help("Keys that resolve to a customer.")
                     .Register(*registry)
                     .Add({});
}

ChangeFeed::~ChangeFeed() { Stop(); }

absl::Status ChangeFeed::Start() {
  table_->Clear();
  TANDEM_RETURN_IF_ERROR(store_->LoadSnapshot(*table_));
  // Remember the changes just before the snapshot too, so watchers that
  // were following a replica that went away resume here without a
  // snapshot.
  int64_t loaded = table_->revision();
  int64_t from = std::max<int64_t>(
      0, loaded - static_cast<int64_t>(options_.remembered_changes));
  std::vector<RouteChange> recent;
  while (from < loaded) {
    TANDEM_ASSIGN_OR_RETURN(
        std::vector<RouteChange> page,
        store_->ChangesSince(from, static_cast<int>(std::min<int64_t>(
                                       options_.poll_batch, loaded - from))));
    if (page.empty()) break;
    from = page.back().revision();
    for (RouteChange& change : page) {
      if (change.revision() <= loaded) recent.push_back(std::move(change));
    }
  }
  {
    absl::MutexLock lock(&ring_mu_);
    ring_.assign(recent.begin(), recent.end());
    ring_floor_ = recent.empty() ? loaded : recent.front().revision() - 1;
  }
  {
    absl::MutexLock lock(&applied_mu_);
    applied_ = table_->revision();
    stopping_ = false;
  }
  UpdateGauges();
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void ChangeFeed::Stop() {
  {
    absl::MutexLock lock(&applied_mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

void ChangeFeed::Wake() {
  absl::MutexLock lock(&applied_mu_);
  wake_ = true;
}

bool ChangeFeed::WaitForRevision(int64_t revision, absl::Duration timeout) {
  Wake();
  absl::MutexLock lock(&applied_mu_);
  auto reached = [this, revision]() ABSL_SHARED_LOCKS_REQUIRED(applied_mu_) {
    return applied_ >= revision || stopping_;
  };
  return applied_mu_.AwaitWithTimeout(absl::Condition(&reached), timeout) &&
         applied_ >= revision;
}

bool ChangeFeed::ChangesAfter(int64_t after, size_t max,
                              std::vector<RouteChange>* out) const {
  absl::MutexLock lock(&ring_mu_);
  if (after < ring_floor_) {
    return false;
  }
  auto it = std::upper_bound(
      ring_.begin(), ring_.end(), after,
      [](int64_t rev, const RouteChange& c) { return rev < c.revision(); });
  for (; it != ring_.end() && max > 0; ++it, --max) {
    out->push_back(*it);
  }
  return true;
}

int ChangeFeed::Subscribe(std::function<void()> notify) {
  absl::MutexLock lock(&subscribers_mu_);
  int id = next_subscriber_++;
  subscribers_.emplace(id, std::move(notify));
  if (subscribers_gauge_ != nullptr) {
    subscribers_gauge_->Set(subscribers_.size());
  }
  return id;
}

void ChangeFeed::Unsubscribe(int id) {
  absl::MutexLock lock(&subscribers_mu_);
  subscribers_.erase(id);
  if (subscribers_gauge_ != nullptr) {
    subscribers_gauge_->Set(subscribers_.size());
  }
}

int ChangeFeed::subscribers() const {
  absl::MutexLock lock(&subscribers_mu_);
  return static_cast<int>(subscribers_.size());
}

bool ChangeFeed::lagging() const {
  absl::MutexLock lock(&applied_mu_);
  return failing_;
}

absl::Status ChangeFeed::PollOnce(bool* applied) {
  int64_t after = table_->revision();
  TANDEM_ASSIGN_OR_RETURN(std::vector<RouteChange> changes,
                          store_->ChangesSince(after, options_.poll_batch));
  if (changes.empty()) {
    return absl::OkStatus();
  }
  int64_t now_ms = absl::ToUnixMillis(clock_.Now());
  for (const RouteChange& change : changes) {
    table_->Apply(change);
    if (propagation_ != nullptr) {
      propagation_->Observe(
          std::max<int64_t>(0, now_ms - change.stamp().at_unix_ms()) / 1000.0);
    }
  }
  {
    absl::MutexLock lock(&ring_mu_);
    for (RouteChange& change : changes) {
      ring_.push_back(std::move(change));
    }
    while (ring_.size() > options_.remembered_changes) {
      ring_floor_ = ring_.front().revision();
      ring_.pop_front();
    }
  }
  // Gauges first: a caller woken by WaitForRevision may scrape them.
  UpdateGauges();
  {
    absl::MutexLock lock(&applied_mu_);
    applied_ = table_->revision();
  }
  *applied = true;
  return absl::OkStatus();
}

void ChangeFeed::UpdateGauges() {
  if (revision_gauge_ == nullptr) {
    return;
  }
  RouteCounts counts = table_->Counts();
  revision_gauge_->Set(static_cast<double>(table_->revision()));
  routes_[0]->Set(counts.source_stable);
  routes_[1]->Set(counts.source_migrating);
  routes_[2]->Set(counts.target_stable);
  routes_[3]->Set(counts.target_migrating);
  keys_gauge_->Set(counts.keys);
}

absl::StatusOr<int64_t> ChangeFeed::PruneNow() {
  int64_t keep_after =
      table_->revision() - static_cast<int64_t>(options_.remembered_changes);
  if (keep_after <= 0) {
    return 0;
  }
  int64_t before_ms = absl::ToUnixMillis(clock_.Now() - options_.retention);
  TANDEM_ASSIGN_OR_RETURN(int64_t pruned,
                          store_->PruneChanges(before_ms, keep_after));
  if (pruned > 0) {
    if (pruned_ != nullptr) pruned_->Increment(static_cast<double>(pruned));
    TANDEM_LOG(Info, "route_changes_pruned")
        .With("deleted", pruned)
        .With("up_to_revision", keep_after);
  }
  return pruned;
}

void ChangeFeed::Loop() {
  absl::Duration backoff = options_.poll_interval;
  while (true) {
    bool applied = false;
    absl::Status status = PollOnce(&applied);
    bool failed = !status.ok();
    {
      absl::MutexLock lock(&applied_mu_);
      if (failed != failing_) {
        failing_ = failed;
        if (failed) {
          TANDEM_LOG(Warning, "change_feed_failing")
              .With("error", status.message());
        } else {
          TANDEM_LOG(Info, "change_feed_recovered");
        }
      }
    }
    if (options_.retention > absl::ZeroDuration() &&
        clock_.Now() >= next_prune_) {
      next_prune_ = clock_.Now() + options_.prune_interval;
      absl::StatusOr<int64_t> pruned = PruneNow();
      if (!pruned.ok()) {
        TANDEM_LOG(Warning, "route_changes_prune_failed")
            .With("error", pruned.status().message());
      }
    }
    if (applied) {
      absl::MutexLock lock(&subscribers_mu_);
      for (auto& [id, notify] : subscribers_) {
        notify();
      }
      // More may be waiting right behind a full batch.
      continue;
    }
    backoff = failed ? std::min(backoff * 2, absl::Seconds(2))
                     : options_.poll_interval;
    absl::MutexLock lock(&applied_mu_);
    auto woken = [this]() ABSL_SHARED_LOCKS_REQUIRED(applied_mu_) {
      return wake_ || stopping_;
    };
    clock_.AwaitWithDeadline(applied_mu_, absl::Condition(&woken),
                             clock_.Now() + backoff);
    wake_ = false;
    if (stopping_) {
      return;
    }
  }
}

}  // namespace tandem::router
