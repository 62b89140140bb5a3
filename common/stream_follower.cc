#include "common/stream_follower.h"

#include <grpcpp/create_channel.h>

#include <algorithm>

#include "common/auth.h"
#include "common/grpc_status.h"
#include "common/log.h"

namespace tandem {

StreamFollower::StreamFollower(StreamFollowerOptions options,
                               FollowOnce follow_once)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : Clock::Real()),
      follow_once_(std::move(follow_once)) {}

StreamFollower::~StreamFollower() { Stop(); }

void StreamFollower::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void StreamFollower::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (context_ != nullptr) context_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

void StreamFollower::Loop() {
  absl::Duration backoff = options_.min_backoff;
  for (bool first = true;; first = false) {
    if (!first) {
      reconnects_.fetch_add(1);
      if (options_.reconnects_counter != nullptr) {
        options_.reconnects_counter->Increment();
      }
    }
    grpc::ClientContext context;
    if (!options_.token.empty()) AttachBearerToken(context, options_.token);
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      context_ = &context;
    }
    StreamOutcome outcome = follow_once_(context);
    absl::MutexLock lock(&mu_);
    context_ = nullptr;
    if (stopping_) return;
    if (!options_.name.empty()) {
      TANDEM_LOG(Warning, absl::StrCat(options_.name, "_broken"))
          .With("target", options_.target)
          .With("code", GrpcCodeName(outcome.status.error_code()))
          .With("error", outcome.status.error_message());
    }
    backoff = outcome.delivered ? options_.min_backoff
                                : std::min(backoff * 2, options_.max_backoff);
    auto stop = [this]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    if (clock_.AwaitWithDeadline(mu_, absl::Condition(&stop),
                                 clock_.Now() + backoff)) {
      return;
    }
  }
}

std::shared_ptr<grpc::Channel> CreateFollowerChannel(
    const FollowerChannelOptions& options) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  if (options.max_receive_message_bytes > 0) {
    args.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
                options.max_receive_message_bytes);
  }
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.min_backoff)));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.max_backoff)));
  return grpc::CreateCustomChannel(options.target,
                                   options.credentials
                                       ? options.credentials
                                       : grpc::InsecureChannelCredentials(),
                                   args);
}

}  // namespace tandem
