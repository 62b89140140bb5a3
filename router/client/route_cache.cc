#include "router/client/route_cache.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/auth.h"
#include "common/log.h"

namespace tandem::router {

namespace v1 = ::tandem::router::v1;

namespace {
// Readers finish a lookup in well under a millisecond; a replaced table is
// kept this long before it is freed.
constexpr absl::Duration kRetireGrace = absl::Seconds(30);
}  // namespace

RouteCache::RouteCache(RouteCacheOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : Clock::Real()),
      owned_(std::make_unique<RouteTable>()) {
  current_.store(owned_.get());
  absl::MutexLock lock(&mu_);
  disconnected_since_ = clock_.Now();
}

std::unique_ptr<RouteCache> RouteCache::Start(RouteCacheOptions options,
                                              prometheus::Registry* registry) {
  std::unique_ptr<RouteCache> cache(new RouteCache(std::move(options)));
  const RouteCacheOptions& o = cache->options_;
  cache->channel_ =
      CreateFollowerChannel({.target = o.target,
                             .credentials = o.credentials,
                             .min_backoff = o.min_backoff,
                             .max_backoff = o.max_backoff,
                             .max_receive_message_bytes = 64 << 20});
  cache->stub_ = v1::RouterService::NewStub(cache->channel_);
  if (registry != nullptr) {
    const std::string& p = o.metrics_prefix;
    auto gauge = [&](const std::string& name, const std::string& help) {
      return &prometheus::BuildGauge()
                  .Name(absl::StrCat(p, "_route_cache_", name))
                  .Help(help)
                  .Register(*registry)
                  .Add({});
    };
    cache->routes_gauge_ = gauge("routes", "Routes held by the route cache.");
    cache->connected_gauge_ =
        gauge("connected", "1 while the Watch stream is open and in sync.");
    cache->revision_gauge_ =
        gauge("revision", "The router revision the cache is complete up to.");
    cache->last_sync_gauge_ =
        gauge("last_sync_timestamp_seconds",
              "Unix time the cache was last known in sync; staleness is "
              "time() minus this while connected is 0.");
    cache->reconnects_counter_ =
        &prometheus::BuildCounter()
             .Name(absl::StrCat(p, "_route_cache_reconnects_total"))
             .Help("Watch streams opened after the first.")
             .Register(*registry)
             .Add({});
  }
  cache->follower_ = std::make_unique<StreamFollower>(
      StreamFollowerOptions{.name = "route_watch",
                            .target = o.target,
                            .token = o.token,
                            .min_backoff = o.min_backoff,
                            .max_backoff = o.max_backoff,
                            .clock = &cache->clock_,
                            .reconnects_counter = cache->reconnects_counter_},
      [c = cache.get()](grpc::ClientContext& context) {
        return c->FollowOnce(context);
      });
  cache->follower_->Start();
  return cache;
}

RouteCache::~RouteCache() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  follower_->Stop();
  RouteTable* table = current_.load();
  if (owned_ == nullptr || table != owned_.get()) {
    delete table;
  }
}

std::optional<Route> RouteCache::Lookup(KeyKind kind,
                                        absl::string_view value) const {
  return current()->Lookup(kind, value);
}

std::optional<Route> RouteCache::FindCustomer(int64_t customer_id) const {
  return current()->FindCustomer(customer_id);
}

System RouteCache::default_system() const {
  return current()->default_system();
}

RouteCounts RouteCache::Counts() const { return current()->Counts(); }

int64_t RouteCache::revision() const {
  absl::MutexLock lock(&mu_);
  return revision_;
}

absl::Duration RouteCache::Staleness() const {
  if (connected_.load()) {
    return absl::ZeroDuration();
  }
  absl::MutexLock lock(&mu_);
  return clock_.Now() - disconnected_since_;
}

bool RouteCache::WaitForSync(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return synced_flag_ || stopping_;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout) && synced_flag_;
}

bool RouteCache::WaitForRevision(int64_t revision,
                                 absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [this, revision]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return (synced_flag_ && revision_ >= revision) || stopping_;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout) &&
         synced_flag_ && revision_ >= revision;
}

int RouteCache::AddListener(Listener listener) {
  absl::MutexLock lock(&listeners_mu_);
  int id = next_listener_++;
  listeners_.emplace(id, std::move(listener));
  return id;
}

void RouteCache::RemoveListener(int id) {
  absl::MutexLock lock(&listeners_mu_);
  listeners_.erase(id);
}

void RouteCache::Notify(const RouteChange* change) {
  absl::MutexLock lock(&listeners_mu_);
  for (auto& [id, listener] : listeners_) {
    listener(change);
  }
}

void RouteCache::UpdateMetrics() {
  if (routes_gauge_ == nullptr) {
    return;
  }
  RouteCounts counts = Counts();
  routes_gauge_->Set(static_cast<double>(counts.total()));
  connected_gauge_->Set(connected_.load() ? 1 : 0);
  revision_gauge_->Set(static_cast<double>(current()->revision()));
  if (connected_.load()) {
    last_sync_gauge_->Set(
        absl::ToDoubleSeconds(clock_.Now() - absl::UnixEpoch()));
  }
}

void RouteCache::SwapIn(std::unique_ptr<RouteTable> staging) {
  RouteTable* old = current_.exchange(staging.release());
  absl::Time now = clock_.Now();
  std::unique_ptr<RouteTable> old_owned =
      old == owned_.get() ? std::move(owned_)
                          : std::unique_ptr<RouteTable>(old);
  retired_.emplace_back(now, std::move(old_owned));
  std::erase_if(retired_,
                [now](const auto& r) { return now - r.first > kRetireGrace; });
}

bool RouteCache::ApplyMessage(const v1::WatchResponse& response,
                              std::unique_ptr<RouteTable>& staging,
                              RouteTable*& building) {
  bool in_sync = false;
  if (response.reset()) {
    if (synced_.load()) {
      staging = std::make_unique<RouteTable>();
      building = staging.get();
    } else {
      building = current();
      building->Clear();
    }
  }
  if (building != nullptr) {
    for (const RouteUpdate& item : response.snapshot()) {
      building->ApplySnapshotItem(item);
    }
    if (response.snapshot_done()) {
      building->SetRevision(response.revision());
      building->SetDefaultSystem(response.default_system());
      if (staging != nullptr) SwapIn(std::move(staging));
      building = nullptr;
      snapshots_.fetch_add(1);
      // Everything a woken WaitForSync caller may read is set before the
      // flag it waits on.
      synced_.store(true);
      connected_.store(true);
      in_sync = true;
      {
        absl::MutexLock lock(&mu_);
        revision_ = response.revision();
        synced_flag_ = true;
      }
      Notify(nullptr);
    }
  }
  if (response.snapshot_size() == 0 && !response.reset()) {
    for (const RouteChange& change : response.changes()) {
      current()->Apply(change);
    }
    // A resumed stream starts straight with changes.
    connected_.store(true);
    in_sync = true;
    // Listeners run before the revision is published, so a caller of
    // WaitForRevision finds them done.
    for (const RouteChange& change : response.changes()) {
      Notify(&change);
    }
    absl::MutexLock lock(&mu_);
    revision_ = std::max(revision_, response.revision());
  }
  return in_sync;
}

bool RouteCache::RouterCaughtUp(int64_t revision) {
  grpc::ClientContext context;
  AttachBearerToken(context, options_.token);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(2));
  v1::GetStatsResponse stats;
  return stub_->GetStats(&context, v1::GetStatsRequest(), &stats).ok() &&
         stats.revision() <= revision;
}

StreamOutcome RouteCache::FollowOnce(grpc::ClientContext& context) {
  v1::WatchRequest request;
  int64_t from;
  {
    absl::MutexLock lock(&mu_);
    from = synced_flag_ ? revision_ : 0;
  }
  request.set_from_revision(from);
  std::unique_ptr<grpc::ClientReader<v1::WatchResponse>> reader =
      stub_->Watch(&context, request);
  StreamOutcome outcome;
  if (from > 0 && RouterCaughtUp(from)) {
    // Resumed with nothing missing: the stream carries nothing until the
    // next change, but the cache is in sync now.
    connected_.store(true);
    outcome.delivered = true;
    UpdateMetrics();
  }
  v1::WatchResponse response;
  // While a snapshot arrives for a cache that already serves, it is built
  // here and swapped in when complete.
  std::unique_ptr<RouteTable> staging;
  RouteTable* building = nullptr;
  while (reader->Read(&response)) {
    if (ApplyMessage(response, staging, building)) outcome.delivered = true;
    UpdateMetrics();
  }
  outcome.status = reader->Finish();
  {
    absl::MutexLock lock(&mu_);
    if (connected_.exchange(false)) {
      disconnected_since_ = clock_.Now();
    }
  }
  UpdateMetrics();
  return outcome;
}

}  // namespace tandem::router
