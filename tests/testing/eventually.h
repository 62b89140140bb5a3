// Waiting on a condition with a deadline: how tests wait for something that
// happens on another thread or in another process, instead of sleeping for
// an outcome.
#pragma once

#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tandem::testing {

// Polls `condition` until it holds (true) or `timeout` passes (false).
inline bool Eventually(const std::function<bool()>& condition,
                       absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    // Polling a condition with a deadline, not sleeping for an outcome.
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

}  // namespace tandem::testing
