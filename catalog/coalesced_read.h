// CoalescedRead<T>: a read whose answer must be at least as new as the
// moment it was asked for, shared by concurrent callers.
//
// Get() returns the result of a read that *started after Get() was called*,
// so it reflects everything committed before the call. Callers that arrive
// while a read is running cannot use it (it may have started before them);
// they wait for the next read, which one of them runs for all. Under load
// one read serves every caller that arrived during the previous one, so the
// reads per second stay near 1 / (one read's latency) however many callers
// there are, and each caller waits at most about two reads.
#pragma once

#include <cstdint>
#include <functional>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace tandem::catalog {

template <typename T>
class CoalescedRead {
 public:
  using ReadFn = std::function<absl::StatusOr<T>()>;

  // `read` is called from the callers' threads, one call at a time.
  explicit CoalescedRead(ReadFn read) : read_(std::move(read)) {}

  // The result (value or error) of a read that started after this call.
  absl::StatusOr<T> Get() {
    absl::MutexLock lock(&mu_);
    // Every read numbered `needed` or later starts after this point.
    const int64_t needed = started_ + 1;
    auto can_proceed = [this, needed]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !running_ || finished_ >= needed;
    };
    while (finished_ < needed) {
      if (running_) {
        ++waiting_;
        mu_.Await(absl::Condition(&can_proceed));
        --waiting_;
        continue;
      }
      running_ = true;
      const int64_t mine = ++started_;
      mu_.Unlock();
      absl::StatusOr<T> result = read_();
      mu_.Lock();
      running_ = false;
      finished_ = mine;
      last_ = std::move(result);
      ++reads_;
    }
    return last_;
  }

  // How many reads ran, and how many callers wait for one (tests and
  // benchmarks).
  int64_t reads() const {
    absl::MutexLock lock(&mu_);
    return reads_;
  }
  int waiting() const {
    absl::MutexLock lock(&mu_);
    return waiting_;
  }

 private:
  const ReadFn read_;
  mutable absl::Mutex mu_;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  int64_t started_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t finished_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t reads_ ABSL_GUARDED_BY(mu_) = 0;
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
  absl::StatusOr<T> last_ ABSL_GUARDED_BY(mu_) =
      absl::UnavailableError("not read yet");
};

}  // namespace tandem::catalog
