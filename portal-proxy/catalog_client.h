// The proxy's client of tandem.catalog.v1.CatalogService.
//
// It follows the catalog's WatchFreeze stream in a background thread and
// keeps a CachedFreezePolicy up to date: the state of every message, and
// "disconnected" (so FROZEN, failing closed) from the moment the stream
// breaks until a new stream delivers its first message. It follows through
// common/stream_follower.h (reconnecting with exponential backoff). It also
// asks CheckChange for single product changes, asynchronously (gRPC's callback
// API), for the proxy's request path.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>

#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/stream_follower.h"
#include "portal-proxy/change_checker.h"
#include "portal-proxy/freeze_policy.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "tandem/catalog/v1/catalog.grpc.pb.h"

namespace tandem::proxy {

struct CatalogClientOptions {
  // gRPC target of the catalog, e.g. "127.0.0.1:7003" or "dns:///catalog".
  std::string target;
  // Bearer token with at least the viewer role; CheckChange audits refusals
  // under this token's principal.
  std::string token;
  // Insecure when null.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  // Measures the reconnect backoff and the feed's staleness; null:
  // Clock::Real().
  Clock* clock = nullptr;
};

// What the client knows about the freeze, for the admin service.
struct FreezeFeedStatus {
  bool connected = false;
  FreezeState state = ::tandem::catalog::v1::FREEZE_STATE_UNSPECIFIED;
  int64_t version = 0;
  // Zero while connected; otherwise how long since the stream last was (or
  // since Start, if it never was).
  absl::Duration staleness;
};

class CatalogClient final : public ChangeChecker {
 public:
  // Starts following the catalog in the background and returns at once;
  // `policy` (not owned, must outlive the client) reads as disconnected
  // until the first message arrives. `registry` may be null; otherwise the
  // client exports tandem_proxy_freeze_feed_{connected,version},
  // tandem_proxy_freeze_feed_reconnects_total and
  // tandem_proxy_catalog_checks_total{result}.
  static std::unique_ptr<CatalogClient> Start(CatalogClientOptions options,
                                              CachedFreezePolicy* policy,
                                              prometheus::Registry* registry);
  // Stops following, closes the stream and waits for CheckChange calls in
  // flight (each is bounded by its deadline).
  ~CatalogClient() override;

  void CheckChange(const ProductChange& change, std::string on_behalf_of,
                   absl::Duration timeout, Done done) override;

  FreezeFeedStatus Status() const;

  // Blocks until the stream has delivered a message with a freeze version of
  // at least `version` (and is connected), or `timeout`.
  bool WaitForVersion(int64_t version, absl::Duration timeout) const;
  // How many times the stream was opened after the first time.
  int64_t reconnects() const { return follower_->reconnects(); }

 private:
  CatalogClient(CatalogClientOptions options, CachedFreezePolicy* policy);
  // Runs one WatchFreeze stream on `context` until it breaks; delivered if
  // a message arrived.
  StreamOutcome FollowOnce(grpc::ClientContext& context);
  void SetDisconnected();

  const CatalogClientOptions options_;
  CachedFreezePolicy* const policy_;
  Clock& clock_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<::tandem::catalog::v1::CatalogService::Stub> stub_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  FreezeState state_ ABSL_GUARDED_BY(mu_) =
      ::tandem::catalog::v1::FREEZE_STATE_UNSPECIFIED;
  int64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time disconnected_since_ ABSL_GUARDED_BY(mu_);
  int checks_in_flight_ ABSL_GUARDED_BY(mu_) = 0;

  prometheus::Gauge* connected_gauge_ = nullptr;
  prometheus::Gauge* version_gauge_ = nullptr;
  prometheus::Counter* reconnects_counter_ = nullptr;
  prometheus::Counter* checks_allowed_ = nullptr;
  prometheus::Counter* checks_refused_ = nullptr;
  prometheus::Counter* checks_failed_ = nullptr;
  // Last: stopped first, while everything its stream writes to is alive.
  std::unique_ptr<StreamFollower> follower_;
};

}  // namespace tandem::proxy
