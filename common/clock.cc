#include "common/clock.h"

namespace tandem {
namespace {

class RealClock final : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
  bool AwaitWithDeadline(absl::Mutex& mu, const absl::Condition& cond,
                         absl::Time deadline) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return mu.AwaitWithDeadline(cond, deadline);
  }
};

}  // namespace

Clock& Clock::Real() {
  static RealClock* clock = new RealClock();
  return *clock;
}

void Clock::SleepUntil(absl::Time deadline) {
  absl::Mutex mu;
  bool never = false;
  absl::MutexLock lock(&mu);
  AwaitWithDeadline(mu, absl::Condition(&never), deadline);
}

absl::Time SimulatedClock::Now() {
  absl::MutexLock lock(&mu_);
  return now_;
}

bool SimulatedClock::AwaitWithDeadline(absl::Mutex& mu,
                                       const absl::Condition& cond,
                                       absl::Time deadline) {
  // The caller's mutex and ours are never held together, so a waiter cannot
  // deadlock against Advance(); the real-time timeout bounds how late a
  // waiter notices the simulated deadline.
  while (true) {
    if (cond.Eval()) return true;
    if (Now() >= deadline) return false;
    mu.AwaitWithTimeout(cond, absl::Milliseconds(1));
  }
}

void SimulatedClock::Advance(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  if (d > absl::ZeroDuration()) now_ += d;
}

void SimulatedClock::SetTime(absl::Time t) {
  absl::MutexLock lock(&mu_);
  if (t > now_) now_ = t;
}

}  // namespace tandem
