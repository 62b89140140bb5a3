// Hands out request slots at a fixed rate to any number of threads, until
// a deadline or a maximum count. Sleeping here is rate control, not
// synchronisation.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tandem::testbed {

class Pacer {
 public:
  // `rate` slots per second (<= 0: as fast as asked); no slot is handed out
  // at or after `start + duration`, nor more than `max` (0: no limit).
  Pacer(double rate, absl::Duration duration, int64_t max)
      : rate_(rate), start_(absl::Now()), end_(start_ + duration), max_(max) {}

  // Blocks until the next slot is due and returns its index, or nullopt
  // when the run is over.
  std::optional<int64_t> Next() {
    int64_t i = next_.fetch_add(1);
    if (max_ > 0 && i >= max_) return std::nullopt;
    absl::Time due =
        rate_ > 0 ? start_ + absl::Seconds(static_cast<double>(i) / rate_)
                  : absl::Now();
    if (due >= end_) return std::nullopt;
    absl::Time now = absl::Now();
    if (due > now) absl::SleepFor(due - now);
    if (absl::Now() >= end_) return std::nullopt;
    return i;
  }

  absl::Time start() const { return start_; }

 private:
  const double rate_;
  const absl::Time start_;
  const absl::Time end_;
  const int64_t max_;
  std::atomic<int64_t> next_{0};
};

}  // namespace tandem::testbed
