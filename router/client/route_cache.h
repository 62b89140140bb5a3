// The router's client library: a local copy of the routing table, fed by
// the router's Watch stream, for dispatchers that must not make a network
// call per request (the portal-proxy, the migrator, a SIP dispatcher).
//
// It follows the stream with common/stream_follower.h (reconnecting with
// exponential backoff) and resumes from the last revision it applied; while the
// router is unreachable it keeps serving what it has (fail-static) and reports
// how stale that is.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/stream_follower.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "router/route_table.h"
#include "tandem/router/v1/router.grpc.pb.h"

namespace tandem::router {

struct RouteCacheOptions {
  // gRPC target of the router, e.g. "127.0.0.1:7001" or "dns:///router:7001".
  std::string target;
  // Bearer token with at least the viewer role.
  std::string token;
  // Insecure when null.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  // Prefix of the cache's metric names, e.g. "tandem_proxy" gives
  // tandem_proxy_route_cache_staleness_seconds.
  std::string metrics_prefix = "tandem_router_client";
  // Measures staleness, the backoff and the retirement of replaced tables;
  // null: Clock::Real().
  Clock* clock = nullptr;
};

class RouteCache {
 public:
  // Starts following the router in the background; returns at once. Use
  // WaitForSync to wait for the first complete snapshot.
  static std::unique_ptr<RouteCache> Start(
      RouteCacheOptions options, prometheus::Registry* registry = nullptr);
  // Stops following and closes the stream.
  ~RouteCache();

  // Lookups answered from memory; safe from any thread.
  std::optional<Route> Lookup(KeyKind kind, absl::string_view value) const;
  std::optional<Route> FindCustomer(int64_t customer_id) const;
  System default_system() const;
  // The allocation-free forms for request paths (see RouteTable).
  std::optional<RouteInfo> FindInfo(int64_t customer_id) const {
    return current()->FindInfo(customer_id);
  }
  std::optional<RouteInfo> LookupInfo(KeyKind kind,
                                      absl::string_view value) const {
    return current()->LookupInfo(kind, value);
  }
  // Counts of the routes held.
  RouteCounts Counts() const;

  // True once a complete snapshot has been applied (and stays true: a
  // cache that lost its router still serves).
  bool synced() const { return synced_.load(); }
  // True while the Watch stream is open and in sync.
  bool connected() const { return connected_.load(); }
  // The revision the cache is complete up to.
  int64_t revision() const;
  // Zero while connected; otherwise how long since the stream was last in
  // sync (or since Start, if it never was).
  absl::Duration Staleness() const;
  // How many times the stream was opened after the first time.
  int64_t reconnects() const { return follower_->reconnects(); }
  // How many complete snapshots were received.
  int64_t snapshots() const { return snapshots_.load(); }

  // Blocks until synced() or `timeout`.
  bool WaitForSync(absl::Duration timeout) const;
  // Blocks until revision() >= `revision` or `timeout`.
  bool WaitForRevision(int64_t revision, absl::Duration timeout) const;

  // Called on the cache's thread after each applied change (`change` set),
  // and after a snapshot replaced everything (`change` null). Must not block.
  using Listener = std::function<void(const RouteChange* change)>;
  int AddListener(Listener listener);
  void RemoveListener(int id);

 private:
  explicit RouteCache(RouteCacheOptions options);
  // Runs one Watch stream on `context` until it breaks; delivered if it was
  // in sync at some point.
  StreamOutcome FollowOnce(grpc::ClientContext& context);
  // Applies one message of the stream; `staging` and `building` carry a
  // snapshot across messages. Returns whether the stream is now in sync.
  bool ApplyMessage(const ::tandem::router::v1::WatchResponse& response,
                    std::unique_ptr<RouteTable>& staging,
                    RouteTable*& building);
  void SwapIn(std::unique_ptr<RouteTable> staging);
  // Whether the router is at `revision` or behind it (GetStats): a stream
  // resumed from `revision` then misses nothing although it carries
  // nothing until the next change.
  bool RouterCaughtUp(int64_t revision);
  void Notify(const RouteChange* change);
  RouteTable* current() const {
    return current_.load(std::memory_order_acquire);
  }

  const RouteCacheOptions options_;
  Clock& clock_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<::tandem::router::v1::RouterService::Stub> stub_;

  // Readers use `current_`; a new snapshot is built in a second table and
  // swapped in, and the old one is freed only after a grace period, since
  // readers hold the pointer for the duration of one lookup.
  std::atomic<RouteTable*> current_;
  std::vector<std::pair<absl::Time, std::unique_ptr<RouteTable>>> retired_;
  std::unique_ptr<RouteTable> owned_;

  std::atomic<bool> synced_{false};
  std::atomic<bool> connected_{false};
  std::atomic<int64_t> snapshots_{0};

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time disconnected_since_ ABSL_GUARDED_BY(mu_);
  int64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  bool synced_flag_ ABSL_GUARDED_BY(mu_) = false;

  mutable absl::Mutex listeners_mu_;
  std::map<int, Listener> listeners_ ABSL_GUARDED_BY(listeners_mu_);
  int next_listener_ ABSL_GUARDED_BY(listeners_mu_) = 0;

  // Metrics: <prefix>_route_cache_{routes,connected,revision,
  // last_sync_timestamp_seconds} and <prefix>_route_cache_reconnects_total.
  void UpdateMetrics();
  prometheus::Gauge* routes_gauge_ = nullptr;
  prometheus::Gauge* connected_gauge_ = nullptr;
  prometheus::Gauge* revision_gauge_ = nullptr;
  prometheus::Gauge* last_sync_gauge_ = nullptr;
  prometheus::Counter* reconnects_counter_ = nullptr;
  // Last: stopped (by its destructor) before anything it uses goes away.
  std::unique_ptr<StreamFollower> follower_;
};

}  // namespace tandem::router
