// RouterWatcher: how the catalog hears where customers are. It follows the
// router's Watch stream (from the current revision, so no snapshot; the
// loop is common/stream_follower.h) and re-reads the router's counts
// whenever routes change, and at least every `poll_interval`; each reading
// goes to Catalog::OnRouteCounts, which lifts the freeze by itself when the
// last customer has left the source.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "catalog/catalog.h"
#include "common/clock.h"
#include "common/stream_follower.h"
#include "tandem/router/v1/router.grpc.pb.h"

namespace tandem::catalog {

class RouterWatcher {
 public:
  // `token` is the bearer token for the router (viewer role suffices).
  // `clock` (null: Clock::Real()) measures the poll interval and the Watch
  // backoff.
  RouterWatcher(std::shared_ptr<grpc::Channel> channel, std::string token,
                absl::Duration poll_interval = absl::Seconds(2),
                Clock* clock = nullptr);
  // Stops both loops.
  ~RouterWatcher();

  // Asks the router for its counts now (deadline 2 s); UNAVAILABLE when it
  // cannot be reached. Safe from any thread.
  absl::StatusOr<RouteCounts> FetchCounts();

  // Starts reporting to `catalog`, which must outlive this watcher.
  void Start(Catalog* catalog);

 private:
  void PollLoop();
  // One Watch stream, opened only when the router answers for its counts.
  StreamOutcome WatchOnce(grpc::ClientContext& context);
  void Wake();

  std::unique_ptr<::tandem::router::v1::RouterService::Stub> stub_;
  const std::string token_;
  const absl::Duration poll_interval_;
  Clock& clock_;
  Catalog* catalog_ = nullptr;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  // The last revision the counts were read at.
  int64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread poller_;
  StreamFollower watcher_;
};

}  // namespace tandem::catalog
