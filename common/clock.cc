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
  // Ours is taken inside the caller's mutex, never the other way round, so
  // a waiter cannot deadlock against Advance(); the real-time timeout bounds
  // how late a waiter notices the simulated deadline.
  std::multiset<absl::Time>::iterator waiter;
  {
    absl::MutexLock lock(&mu_);
    waiter = waiters_.insert(deadline);
  }
  bool result;
  while (true) {
    if (cond.Eval()) {
      result = true;
      break;
    }
    if (Now() >= deadline) {
      result = false;
      break;
    }
    mu.AwaitWithTimeout(cond, absl::Milliseconds(1));
  }
  absl::MutexLock lock(&mu_);
  waiters_.erase(waiter);
  return result;
}

std::optional<absl::Time> SimulatedClock::EarliestWaiter() {
  absl::MutexLock lock(&mu_);
  if (waiters_.empty()) return std::nullopt;
  return *waiters_.begin();
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
