// CoalescedRead: every answer comes from a read that started after the call,
// and callers that arrive during a read share the next one.
#include "catalog/coalesced_read.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "tests/testing/eventually.h"

namespace tandem::catalog {
namespace {

using ::tandem::testing::Eventually;

TEST(CoalescedReadTest, EveryAnswerComesFromAReadStartedAfterTheCall) {
  // A logical clock: each call and each read's start takes the next tick.
  std::atomic<int64_t> clock{0};
  CoalescedRead<int64_t> read([&]() -> absl::StatusOr<int64_t> {
    const int64_t started = ++clock;
    std::this_thread::yield();
    return started;
  });
  std::atomic<int> stale{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 8; ++t) {
    callers.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        const int64_t asked = ++clock;
        absl::StatusOr<int64_t> answer = read.Get();
        if (!answer.ok() || *answer <= asked) ++stale;
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(stale.load(), 0);
  EXPECT_LE(read.reads(), 8 * 500);
}

TEST(CoalescedReadTest, CallersArrivingDuringAReadShareTheNextOne) {
  absl::Notification release;
  std::atomic<int> reads{0};
  CoalescedRead<int> read([&]() -> absl::StatusOr<int> {
    const int n = ++reads;
    if (n == 1) release.WaitForNotification();
    return n;
  });
  std::thread first([&] { EXPECT_EQ(*read.Get(), 1); });
  ASSERT_TRUE(Eventually([&] { return reads.load() == 1; }));
  // Five callers arrive while read 1 runs: it started before them.
  std::vector<int> answers(5);
  std::vector<std::thread> later;
  for (int i = 0; i < 5; ++i) {
    later.emplace_back([&, i] { answers[i] = *read.Get(); });
  }
  ASSERT_TRUE(Eventually([&] { return read.waiting() == 5; }));
  release.Notify();
  first.join();
  for (std::thread& t : later) t.join();
  for (int answer : answers) EXPECT_EQ(answer, 2);
  EXPECT_EQ(read.reads(), 2);
}

TEST(CoalescedReadTest, AFailedReadIsEveryWaitingCallersAnswer) {
  CoalescedRead<int> read(
      []() -> absl::StatusOr<int> { return absl::UnavailableError("down"); });
  EXPECT_EQ(read.Get().status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tandem::catalog
