// The one Watch-following loop (common/stream_follower.h): its backoff on
// simulated time, its reconnect count, and Stop() cancelling a real open
// stream (a health Watch on a real gRPC server).
#include "common/stream_follower.h"

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <vector>

#include "common/grpc_server.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "prometheus/registry.h"
#include "tests/testing/eventually.h"

namespace tandem {
namespace {

using ::tandem::testing::Eventually;

// A FollowOnce that plays a script of outcomes and records when (by the
// simulated clock) each stream was opened.
struct ScriptedStreams {
  explicit ScriptedStreams(SimulatedClock* clock) : clock(clock) {}
  StreamOutcome operator()(grpc::ClientContext&) {
    absl::MutexLock lock(&mu);
    opened_at.push_back(clock->Now());
    bool delivered = !script.empty() && script.front();
    if (!script.empty()) script.pop_front();
    return {.delivered = delivered,
            .status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "scripted")};
  }
  size_t opened() {
    absl::MutexLock lock(&mu);
    return opened_at.size();
  }
  absl::Time last_opened() {
    absl::MutexLock lock(&mu);
    return opened_at.back();
  }

  SimulatedClock* clock;
  absl::Mutex mu;
  std::deque<bool> script ABSL_GUARDED_BY(mu);
  std::vector<absl::Time> opened_at ABSL_GUARDED_BY(mu);
};

TEST(StreamFollowerTest, BacksOffDoublingToTheMaximumAndResetsAfterDelivery) {
  SimulatedClock clock;
  ScriptedStreams streams(&clock);
  {
    absl::MutexLock lock(&streams.mu);
    // Six streams that fail, one that delivers, one that fails again.
    streams.script = {false, false, false, false, false, false, true, false};
  }
  prometheus::Registry registry;
  prometheus::Counter& reconnects = prometheus::BuildCounter()
                                        .Name("test_reconnects_total")
                                        .Help("test")
                                        .Register(registry)
                                        .Add({});
  StreamFollowerOptions options;
  options.name = "test_watch";
  options.min_backoff = absl::Milliseconds(100);
  options.max_backoff = absl::Seconds(2);
  options.clock = &clock;
  options.reconnects_counter = &reconnects;
  StreamFollower follower(
      options, [&](grpc::ClientContext& context) { return streams(context); });
  follower.Start();
  // After each stream, the follower waits exactly this long for the next.
  const std::vector<absl::Duration> expected = {
      absl::Milliseconds(200), absl::Milliseconds(400),
      absl::Milliseconds(800), absl::Milliseconds(1600),
      absl::Seconds(2),        absl::Seconds(2),
      absl::Milliseconds(100),  // after the stream that delivered
      absl::Milliseconds(200)};
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_TRUE(Eventually([&] { return streams.opened() == i + 1; }));
    std::optional<absl::Time> wake;
    ASSERT_TRUE(Eventually([&] {
      wake = clock.EarliestWaiter();
      return wake.has_value();
    }));
    EXPECT_EQ(*wake - streams.last_opened(), expected[i])
        << "after stream " << i;
    clock.SetTime(*wake);
  }
  ASSERT_TRUE(
      Eventually([&] { return streams.opened() == expected.size() + 1; }));
  follower.Stop();
  const size_t opened = streams.opened();
  EXPECT_EQ(follower.reconnects(), static_cast<int64_t>(opened) - 1);
  EXPECT_EQ(reconnects.Value(), static_cast<double>(opened) - 1);
}

TEST(StreamFollowerTest, StopCancelsTheOpenStreamAndEndsTheLoop) {
  GrpcServerOptions server_options;
  server_options.address = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<GrpcServer>> server =
      GrpcServer::Start(server_options, {});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string target = absl::StrCat("127.0.0.1:", (*server)->port());
  auto stub = grpc::health::v1::Health::NewStub(
      CreateFollowerChannel({.target = target,
                             .credentials = nullptr,
                             .min_backoff = absl::Milliseconds(100),
                             .max_backoff = absl::Seconds(5),
                             .max_receive_message_bytes = 0}));
  std::atomic<int> messages{0};
  absl::Mutex mu;
  std::vector<grpc::StatusCode> ends;
  StreamFollowerOptions options;
  options.name = "health_watch";
  options.target = target;
  StreamFollower follower(options, [&](grpc::ClientContext& context) {
    // The liveness service answers SERVING and then stays open: the
    // stream ends only when it is cancelled.
    auto reader = stub->Watch(&context, grpc::health::v1::HealthCheckRequest());
    grpc::health::v1::HealthCheckResponse response;
    StreamOutcome outcome;
    while (reader->Read(&response)) {
      outcome.delivered = true;
      messages.fetch_add(1);
    }
    outcome.status = reader->Finish();
    absl::MutexLock lock(&mu);
    ends.push_back(outcome.status.error_code());
    return outcome;
  });
  follower.Start();
  ASSERT_TRUE(Eventually([&] { return messages.load() >= 1; }));
  follower.Stop();
  absl::MutexLock lock(&mu);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0], grpc::StatusCode::CANCELLED);
  EXPECT_EQ(follower.reconnects(), 0);
}

}  // namespace
}  // namespace tandem
