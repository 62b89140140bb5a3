// The simulated clock: time moves only when told, waiters wake when their
// deadline is reached or their condition holds, and a test can see what a
// component waits for.
#include "common/clock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/testing/eventually.h"

namespace tandem {
namespace {

using ::tandem::testing::Eventually;

TEST(SimulatedClockTest, MovesOnlyForwardAndOnlyWhenTold) {
  SimulatedClock clock(absl::UnixEpoch() + absl::Hours(1));
  EXPECT_EQ(clock.Now(), absl::UnixEpoch() + absl::Hours(1));
  clock.Advance(absl::Seconds(5));
  EXPECT_EQ(clock.Now(), absl::UnixEpoch() + absl::Hours(1) + absl::Seconds(5));
  clock.Advance(-absl::Seconds(10));
  clock.SetTime(absl::UnixEpoch());
  EXPECT_EQ(clock.Now(), absl::UnixEpoch() + absl::Hours(1) + absl::Seconds(5));
}

TEST(SimulatedClockTest, AWaiterWakesAtItsDeadlineAndShowsIt) {
  SimulatedClock clock;
  const absl::Time deadline = clock.Now() + absl::Minutes(10);
  EXPECT_FALSE(clock.EarliestWaiter().has_value());
  std::atomic<bool> done{false};
  std::atomic<bool> result{true};
  std::thread waiter([&] {
    absl::Mutex mu;
    bool never = false;
    absl::MutexLock lock(&mu);
    result = clock.AwaitWithDeadline(mu, absl::Condition(&never), deadline);
    done = true;
  });
  ASSERT_TRUE(Eventually([&] { return clock.EarliestWaiter() == deadline; }));
  clock.Advance(absl::Minutes(9));
  // Still waiting: the deadline it shows is the one it was given.
  EXPECT_EQ(clock.EarliestWaiter(), deadline);
  EXPECT_FALSE(done);
  clock.SetTime(deadline);
  ASSERT_TRUE(Eventually([&] { return done.load(); }));
  waiter.join();
  EXPECT_FALSE(result);
  EXPECT_FALSE(clock.EarliestWaiter().has_value());
}

TEST(SimulatedClockTest, AWaiterWakesWhenItsConditionHolds) {
  SimulatedClock clock;
  absl::Mutex mu;
  bool ready = false;
  std::atomic<bool> result{false};
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result = clock.AwaitWithDeadline(mu, absl::Condition(&ready),
                                     clock.Now() + absl::Hours(1));
  });
  ASSERT_TRUE(Eventually([&] { return clock.EarliestWaiter().has_value(); }));
  {
    absl::MutexLock lock(&mu);
    ready = true;
  }
  waiter.join();
  EXPECT_TRUE(result);
}

TEST(RealClockTest, SleepUntilAPastTimeReturnsAtOnce) {
  Clock& clock = Clock::Real();
  absl::Time before = clock.Now();
  clock.SleepUntil(before - absl::Seconds(1));
  EXPECT_GE(clock.Now(), before);
}

}  // namespace
}  // namespace tandem
