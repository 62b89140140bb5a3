#include "catalog/router_watcher.h"

#include <algorithm>
#include <chrono>

#include "common/auth.h"
#include "common/grpc_status.h"
#include "common/log.h"

namespace tandem::catalog {

namespace rv1 = ::tandem::router::v1;

namespace {

RouteCounts RouteCountsFromStats(const rv1::GetStatsResponse& stats) {
  RouteCounts counts;
  counts.source_stable = stats.source_stable();
  counts.source_migrating = stats.source_migrating();
  counts.target_stable = stats.target_stable();
  counts.target_migrating = stats.target_migrating();
  counts.keys = stats.keys();
  return counts;
}

// The stream is only a trigger; a break is not worth a log line (the poll
// loop logs the router being unreachable).
StreamFollowerOptions FollowerOptions(const std::string& token, Clock* clock) {
  StreamFollowerOptions options;
  options.token = token;
  options.clock = clock;
  return options;
}

}  // namespace

RouterWatcher::RouterWatcher(std::shared_ptr<grpc::Channel> channel,
                             std::string token, absl::Duration poll_interval,
                             Clock* clock)
    : stub_(rv1::RouterService::NewStub(channel)),
      token_(std::move(token)),
      poll_interval_(poll_interval),
      clock_(clock != nullptr ? *clock : Clock::Real()),
      watcher_(
          FollowerOptions(token_, &clock_),
          [this](grpc::ClientContext& context) { return WatchOnce(context); }) {
}

RouterWatcher::~RouterWatcher() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  watcher_.Stop();
  if (poller_.joinable()) poller_.join();
}

absl::StatusOr<RouteCounts> RouterWatcher::FetchCounts() {
  grpc::ClientContext context;
  AttachBearerToken(context, token_);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(2));
  rv1::GetStatsResponse stats;
  grpc::Status status = stub_->GetStats(&context, {}, &stats);
  if (!status.ok()) {
    absl::Status error = FromGrpcStatus(status);
    return absl::UnavailableError(
        absl::StrCat("router GetStats: ", error.ToString()));
  }
  {
    absl::MutexLock lock(&mu_);
    revision_ = std::max(revision_, stats.revision());
  }
  return RouteCountsFromStats(stats);
}

void RouterWatcher::Start(Catalog* catalog) {
  catalog_ = catalog;
  poller_ = std::thread([this] { PollLoop(); });
  watcher_.Start();
}

void RouterWatcher::Wake() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
}

void RouterWatcher::PollLoop() {
  bool was_known = true;
  while (true) {
    absl::StatusOr<RouteCounts> counts = FetchCounts();
    if (!counts.ok() && was_known) {
      TANDEM_LOG(Warning, "router_unreachable")
          .With("error", counts.status().ToString());
    }
    was_known = counts.ok();
    catalog_->OnRouteCounts(counts.ok() ? *counts : RouteCounts{}, counts.ok());
    absl::MutexLock lock(&mu_);
    auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || woken_;
    };
    clock_.AwaitWithDeadline(mu_, absl::Condition(&woken),
                             clock_.Now() + poll_interval_);
    if (stopping_) return;
    woken_ = false;
  }
}

StreamOutcome RouterWatcher::WatchOnce(grpc::ClientContext& context) {
  // Start from the router's current revision: the counts are read
  // separately, so the stream is needed only as a trigger, never as a
  // snapshot.
  absl::StatusOr<RouteCounts> counts = FetchCounts();
  if (!counts.ok()) {
    return {.delivered = false,
            .status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                   std::string(counts.status().message()))};
  }
  rv1::WatchRequest request;
  {
    absl::MutexLock lock(&mu_);
    request.set_from_revision(revision_);
  }
  std::unique_ptr<grpc::ClientReader<rv1::WatchResponse>> reader =
      stub_->Watch(&context, request);
  rv1::WatchResponse message;
  StreamOutcome outcome;
  while (reader->Read(&message)) {
    outcome.delivered = true;
    // Snapshot messages carry no counts; a change or the end of a snapshot
    // means the counts may have moved.
    if (message.changes_size() > 0 || message.snapshot_done()) Wake();
  }
  outcome.status = reader->Finish();
  return outcome;
}

}  // namespace tandem::catalog
