// Time as a collaborator: everything that waits, expires or measures (leases,
// holds, polls, windows) asks a Clock, so tests can run it on simulated time
// instead of sleeping (the role of Envoy's TimeSource or Abseil's
// SimulatedClock).
#pragma once

#include <optional>
#include <set>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tandem {

class Clock {
 public:
  virtual ~Clock() = default;

  // The current time by this clock.
  virtual absl::Time Now() = 0;

  // With `mu` held, waits until `cond` holds or this clock reaches
  // `deadline`, whichever comes first; returns whether `cond` holds. `mu` is
  // released while waiting, as absl::Mutex::AwaitWithDeadline does.
  virtual bool AwaitWithDeadline(absl::Mutex& mu, const absl::Condition& cond,
                                 absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) = 0;

  // Blocks the caller until this clock reaches `deadline`.
  void SleepUntil(absl::Time deadline);

  // The process-wide real clock (absl::Now()). Never destroyed.
  static Clock& Real();
};

// A clock that only moves when told to, for tests. Waiters wake when the
// time they wait for is reached by Advance() or SetTime(), or when their
// condition becomes true (checked at least every millisecond of real time).
class SimulatedClock final : public Clock {
 public:
  explicit SimulatedClock(absl::Time start = absl::UnixEpoch() +
                                             absl::Hours(24 * 365 * 50))
      : now_(start) {}

  absl::Time Now() override;
  bool AwaitWithDeadline(absl::Mutex& mu, const absl::Condition& cond,
                         absl::Time deadline) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Moves the time forward by `d` (not backwards).
  void Advance(absl::Duration d);
  // Sets the time; it never goes backwards (an earlier `t` is ignored).
  void SetTime(absl::Time t);

  // The earliest deadline a caller of AwaitWithDeadline is waiting for now,
  // if any: lets a test see what a component waits for (a backoff, a poll
  // interval) and move the time exactly there.
  std::optional<absl::Time> EarliestWaiter();

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  std::multiset<absl::Time> waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tandem
