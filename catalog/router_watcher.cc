#include "catalog/router_watcher.h"

#include <algorithm>
#include <chrono>

#include "common/auth.h"
#include "common/grpc_status.h"
#include "common/log.h"

namespace tandem::catalog {

namespace rv1 = ::tandem::router::v1;

RouterWatcher::RouterWatcher(std::shared_ptr<grpc::Channel> channel,
                             std::string token, absl::Duration poll_interval)
    : stub_(rv1::RouterService::NewStub(channel)),
      token_(std::move(token)),
      poll_interval_(poll_interval) {}

RouterWatcher::~RouterWatcher() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (watch_context_ != nullptr) watch_context_->TryCancel();
  }
  if (poller_.joinable()) poller_.join();
  if (watcher_.joinable()) watcher_.join();
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
  RouteCounts counts;
  counts.source_stable = stats.source_stable();
  counts.source_migrating = stats.source_migrating();
  counts.target_stable = stats.target_stable();
  counts.target_migrating = stats.target_migrating();
  return counts;
}

void RouterWatcher::Start(Catalog* catalog) {
  catalog_ = catalog;
  poller_ = std::thread([this] { PollLoop(); });
  watcher_ = std::thread([this] { WatchLoop(); });
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
    mu_.AwaitWithTimeout(absl::Condition(&woken), poll_interval_);
    if (stopping_) return;
    woken_ = false;
  }
}

void RouterWatcher::WatchLoop() {
  absl::Duration backoff = absl::Milliseconds(100);
  while (true) {
    // Start from the router's current revision: the counts are read
    // separately, so the stream is needed only as a trigger, never as a
    // snapshot.
    bool reachable = FetchCounts().ok();
    grpc::ClientContext context;
    AttachBearerToken(context, token_);
    rv1::WatchRequest request;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      watch_context_ = &context;
      request.set_from_revision(revision_);
    }
    bool got_any = false;
    if (reachable) {
      std::unique_ptr<grpc::ClientReader<rv1::WatchResponse>> reader =
          stub_->Watch(&context, request);
      rv1::WatchResponse message;
      while (reader->Read(&message)) {
        got_any = true;
        // Snapshot messages carry no counts; a change or the end of a
        // snapshot means the counts may have moved.
        if (message.changes_size() > 0 || message.snapshot_done()) Wake();
      }
      reader->Finish();
    }
    if (got_any) backoff = absl::Milliseconds(100);
    absl::MutexLock lock(&mu_);
    watch_context_ = nullptr;
    if (stopping_) return;
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_;
    };
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping), backoff)) return;
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
}

}  // namespace tandem::catalog
