// Following a server-streaming RPC for as long as the follower lives: the
// loop the router's route cache, the catalog's router watcher and the
// proxy's freeze feed share. One stream at a time: open it, read until it
// breaks, wait a backoff (doubling from `min_backoff` to `max_backoff`
// while streams deliver nothing, back to `min_backoff` after one that did),
// open the next. What a stream means (which RPC, from which revision, what
// each message changes) is the caller's; when to retry, how long to wait,
// cancelling on Stop, counting and logging reconnects is this class's.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/status.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "prometheus/counter.h"

namespace tandem {

struct StreamFollowerOptions {
  // What is followed, for the log: a broken stream is logged as
  // `<name>_broken` with the target, the gRPC code and message. Empty: not
  // logged.
  std::string name;
  // The peer, for the log.
  std::string target;
  // Attached to every stream as a bearer token; empty: none.
  std::string token;
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  // Measures the backoff; null: Clock::Real().
  Clock* clock = nullptr;
  // Incremented for every stream opened after the first; may be null.
  prometheus::Counter* reconnects_counter = nullptr;
};

// How one stream went.
struct StreamOutcome {
  // The stream delivered (was in sync) at some point: the next stream is
  // opened after `min_backoff` again.
  bool delivered = false;
  // How it ended (reader->Finish()); logged unless the follower is stopping.
  grpc::Status status;
};

class StreamFollower {
 public:
  // Opens one stream on `context` (which carries the token and is
  // cancelled by Stop) and reads it until it ends. Runs on the follower's
  // thread only.
  using FollowOnce = std::function<StreamOutcome(grpc::ClientContext& context)>;

  StreamFollower(StreamFollowerOptions options, FollowOnce follow_once);
  // Stop().
  ~StreamFollower();

  // Starts the loop on its own thread; returns at once. Call once.
  void Start();
  // Cancels the open stream, ends the loop and joins it. Idempotent; after
  // it returns FollowOnce is never called again.
  void Stop();

  // How many streams were opened after the first.
  int64_t reconnects() const { return reconnects_.load(); }

 private:
  void Loop();

  const StreamFollowerOptions options_;
  Clock& clock_;
  const FollowOnce follow_once_;
  std::atomic<int64_t> reconnects_{0};
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread thread_;
};

struct FollowerChannelOptions {
  std::string target;
  // Insecure when null.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // gRPC's own reconnect backoff, set to the follower's.
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  // Zero: gRPC's default (4 MiB).
  int max_receive_message_bytes = 0;
};

// A channel for a long-lived stream: keepalive pings every 10 s even when
// idle (a dead peer is noticed within about 15 s, not at the next write),
// and gRPC's reconnect backoff bounded like the follower's.
std::shared_ptr<grpc::Channel> CreateFollowerChannel(
    const FollowerChannelOptions& options);

}  // namespace tandem
