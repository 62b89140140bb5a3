#include "migrator/batch/batch_options.h"

#include "absl/strings/str_cat.h"

namespace tandem::migrator {

namespace v1 = ::tandem::migrator::v1;

absl::Status ValidateBatchOptions(const v1::BatchOptions& o) {
  auto bad = [](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("options.", what));
  };
  if (o.parallelism() < 0 || o.parallelism() > kMaxParallelism) {
    return bad(absl::StrCat("parallelism must be between 0 and ",
                            kMaxParallelism, ", not ", o.parallelism()));
  }
  const v1::WriteBudget& b = o.write_budget();
  if (b.rows_per_second() < 0 || b.statements_per_second() < 0) {
    return bad("write_budget: a budget is not negative");
  }
  const v1::LoadThrottle& t = o.load_throttle();
  if (t.max_threads_running() < 0 || t.max_query_latency_ms() < 0 ||
      t.max_replica_lag_ms() < 0 || t.check_interval_ms() < 0 ||
      t.critical_threads_running() < 0 || t.critical_query_latency_ms() < 0) {
    return bad("load_throttle: a threshold is not negative");
  }
  if (t.check_interval_ms() > 0 && t.check_interval_ms() < 100) {
    return bad(
        absl::StrCat("load_throttle.check_interval_ms is at least 100, "
                     "not ",
                     t.check_interval_ms()));
  }
  if (t.critical_threads_running() > 0 && t.max_threads_running() > 0 &&
      t.critical_threads_running() < t.max_threads_running()) {
    return bad(absl::StrCat("load_throttle: critical_threads_running ",
                            t.critical_threads_running(),
                            " is below max_threads_running ",
                            t.max_threads_running(),
                            " (the batch would pause before backing off)"));
  }
  if (t.critical_query_latency_ms() > 0 && t.max_query_latency_ms() > 0 &&
      t.critical_query_latency_ms() < t.max_query_latency_ms()) {
    return bad(absl::StrCat("load_throttle: critical_query_latency_ms ",
                            t.critical_query_latency_ms(),
                            " is below max_query_latency_ms ",
                            t.max_query_latency_ms(),
                            " (the batch would pause before backing off)"));
  }
  for (int minute : {o.window().start_minute(), o.window().end_minute()}) {
    if (minute < 0 || minute >= 24 * 60) {
      return bad(absl::StrCat("window: minutes after midnight are 0-1439, not ",
                              minute));
    }
  }
  if (o.tail_window_seconds() < 0 || o.tail_window_seconds() > 86400) {
    return bad("tail_window_seconds must be between 0 and 86,400");
  }
  if (o.cutover_timeout_ms() < 0 || o.cutover_timeout_ms() > 600000) {
    return bad("cutover_timeout_ms must be between 0 and 600,000");
  }
  if (o.pause_after_failures() < 0) {
    return bad("pause_after_failures is not negative");
  }
  return absl::OkStatus();
}

v1::BatchOptions EffectiveOptions(v1::BatchOptions o) {
  if (o.parallelism() == 0) o.set_parallelism(kDefaultParallelism);
  return o;
}

}  // namespace tandem::migrator
