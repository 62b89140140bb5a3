#include "migrator/batch/governor.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/log.h"
#include "migrator/engine/rows.h"

namespace tandem::migrator {
namespace {

namespace v1 = ::tandem::migrator::v1;
using Rows = std::unique_ptr<sql::ResultSet>;

// A batch backing off resumes once its figure is below this share of the
// threshold.
constexpr double kResumeBelow = 0.8;
// Writes waiting on a closed or empty bucket look again this often.
constexpr absl::Duration kPaceStep = absl::Milliseconds(50);
// A bucket holds at most this much of its rate (the burst).
constexpr double kBurstSeconds = 0.5;

class MysqlLoadProbe final : public LoadProbe {
 public:
  MysqlLoadProbe(BillingDb* db, const Mapping* mapping)
      : db_(db), spec_(mapping->customer(db->side())) {}

  Sample Take() override {
    Sample out;
    absl::Status s = db_->pool().Run("load probe", [&](sql::Connection& conn) {
      std::unique_ptr<sql::Statement> st(conn.createStatement());
      Rows tr(st->executeQuery("SHOW GLOBAL STATUS LIKE 'Threads_running'"));
      if (tr->next()) out.threads_running = tr->getInt64(2);
      const std::string table = absl::StrCat(QuoteIdent(db_->database()), ".",
                                             QuoteIdent(spec_.table));
      if (key_ < 0) {
        Rows k(st->executeQuery(absl::StrCat("SELECT COALESCE(MIN(",
                                             QuoteIdent(spec_.key),
                                             "), 0) FROM ", table)));
        key_ = k->next() ? k->getInt64(1) : 0;
      }
      std::unique_ptr<sql::PreparedStatement> probe(conn.prepareStatement(
          absl::StrCat("SELECT ", QuoteIdent(spec_.status), " FROM ", table,
                       " WHERE ", QuoteIdent(spec_.key), " = ?")));
      probe->setInt64(1, key_);
      const auto start = std::chrono::steady_clock::now();
      Rows r(probe->executeQuery());
      while (r->next()) {
      }
      out.latency_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - start)
                           .count();
      return absl::OkStatus();
    });
    out.ok = s.ok();
    if (!s.ok()) out.error = std::string(s.message());
    return out;
  }

 private:
  BillingDb* db_;
  CustomerSpec spec_;
  int64_t key_ = -1;
};

std::string CauseName(v1::ThrottleCause c) {
  switch (c) {
    case v1::THROTTLE_CAUSE_THREADS_RUNNING:
      return "threads_running";
    case v1::THROTTLE_CAUSE_QUERY_LATENCY:
      return "query_latency";
    case v1::THROTTLE_CAUSE_CRITICAL:
      return "critical";
    case v1::THROTTLE_CAUSE_OUTSIDE_WINDOW:
      return "outside_window";
    case v1::THROTTLE_CAUSE_SOURCE_UNREACHABLE:
      return "source_unreachable";
    default:
      return "none";
  }
}

bool ClosesWrites(v1::ThrottleCause c) {
  return c == v1::THROTTLE_CAUSE_THREADS_RUNNING ||
         c == v1::THROTTLE_CAUSE_QUERY_LATENCY ||
         c == v1::THROTTLE_CAUSE_CRITICAL ||
         c == v1::THROTTLE_CAUSE_SOURCE_UNREACHABLE;
}

std::string Hhmm(int minute) {
  return absl::StrFormat("%02d:%02d", minute / 60, minute % 60);
}

}  // namespace

std::unique_ptr<LoadProbe> NewMysqlLoadProbe(BillingDb* db,
                                             const Mapping* mapping) {
  return std::make_unique<MysqlLoadProbe>(db, mapping);
}

// --- BatchPacer --------------------------------------------------------------

void BatchPacer::SetRates(double rows, double statements) {
  absl::MutexLock lock(&mu_);
  rows_rate_ = rows;
  statements_rate_ = statements;
}

void BatchPacer::SetClosed(bool closed) {
  absl::MutexLock lock(&mu_);
  closed_ = closed;
}

int64_t BatchPacer::TakeWritten() {
  absl::MutexLock lock(&mu_);
  const int64_t n = written_;
  written_ = 0;
  return n;
}

void BatchPacer::BeforeWrite(int64_t rows, bool urgent) {
  absl::MutexLock lock(&mu_);
  while (true) {
    const absl::Time now = clock_.Now();
    if (refilled_ == absl::InfinitePast()) refilled_ = now;
    const double elapsed = absl::ToDoubleSeconds(now - refilled_);
    refilled_ = now;
    rows_tokens_ = std::min(rows_tokens_ + elapsed * rows_rate_,
                            std::max(1.0, rows_rate_ * kBurstSeconds));
    statement_tokens_ =
        std::min(statement_tokens_ + elapsed * statements_rate_,
                 std::max(1.0, statements_rate_ * kBurstSeconds));
    const bool rows_ok = rows_rate_ <= 0 || rows_tokens_ >= 0;
    const bool statements_ok = statements_rate_ <= 0 || statement_tokens_ >= 0;
    if (urgent || (!closed_ && rows_ok && statements_ok)) break;
    // Wait (outside the lock) for the bucket to refill or the batch to
    // stop backing off.
    mu_.Unlock();
    clock_.SleepUntil(now + kPaceStep);
    mu_.Lock();
  }
  // Pay after: a statement larger than the bucket still goes, and the
  // bucket's debt holds the average at the rate.
  if (rows_rate_ > 0) rows_tokens_ -= static_cast<double>(rows);
  if (statements_rate_ > 0) statement_tokens_ -= 1;
  written_ += rows;
}

// --- Governor
// ------------------------------------------------------------------

Governor::Governor(BatchStore* store, LoadProbe* probe, BatchMetrics* metrics,
                   GovernorOptions options, Clock& clock)
    : store_(store),
      probe_(probe),
      metrics_(metrics),
      options_(std::move(options)),
      clock_(clock) {}

BatchPacer* Governor::PacerFor(int64_t batch_id) {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<BatchPacer>& p = pacers_[batch_id];
  if (p == nullptr) p = std::make_unique<BatchPacer>(clock_);
  return p.get();
}

bool Governor::Throttled(int64_t batch_id) {
  absl::MutexLock lock(&mu_);
  auto it = batches_.find(batch_id);
  return it != batches_.end() && it->second.throttle.throttled();
}

void Governor::Refresh() {
  absl::StatusOr<std::vector<BatchControl>> active = store_->ActiveBatches();
  if (!active.ok()) {
    TANDEM_LOG(Warning, "batch_refresh_failed")
        .With("error", active.status().ToString());
    return;
  }
  absl::MutexLock lock(&mu_);
  refreshed_ = clock_.Now();
  std::map<int64_t, State> next;
  for (BatchControl& c : *active) {
    State& s = next[c.batch_id];
    auto old = batches_.find(c.batch_id);
    if (old != batches_.end()) s = std::move(old->second);
    if (c.state != v1::BATCH_STATE_RUNNING) s.critical_reported = false;
    s.control = std::move(c);
  }
  batches_.swap(next);
}

bool Governor::InWindow(const v1::BatchOptions& o) {
  const int start = o.window().start_minute();
  const int end = o.window().end_minute();
  if (start == end) return true;
  const int minute =
      static_cast<int>((absl::ToUnixSeconds(clock_.Now()) % 86400) / 60);
  return start < end ? (minute >= start && minute < end)
                     : (minute >= start || minute < end);
}

void Governor::Decide(State& s, const LoadProbe::Sample& sample, int64_t now_ms,
                      std::vector<std::pair<int64_t, std::string>>* pause) {
  const v1::LoadThrottle& t = s.control.options.load_throttle();
  v1::ThrottleStatus& st = s.throttle;
  const v1::ThrottleCause before = st.cause();
  v1::ThrottleCause cause = v1::THROTTLE_CAUSE_NONE;
  std::string reason;
  const bool limited =
      t.max_threads_running() > 0 || t.max_query_latency_ms() > 0 ||
      t.critical_threads_running() > 0 || t.critical_query_latency_ms() > 0;
  const bool working = s.control.state == v1::BATCH_STATE_RUNNING ||
                       s.control.state == v1::BATCH_STATE_PAUSING;
  const int64_t tr = sample.threads_running;
  const int64_t ms = sample.latency_ms;
  auto over = [&](int64_t value, int64_t max, v1::ThrottleCause c) {
    if (max <= 0) return false;
    return value > max ||
           (before == c && static_cast<double>(value) >
                               kResumeBelow * static_cast<double>(max));
  };
  if (working && limited) {
    if (!sample.ok) {
      cause = v1::THROTTLE_CAUSE_SOURCE_UNREACHABLE;
      reason = absl::StrCat("the source could not be sampled: ", sample.error);
    } else if (t.critical_threads_running() > 0 &&
               tr > t.critical_threads_running()) {
      cause = v1::THROTTLE_CAUSE_CRITICAL;
      reason = absl::StrCat("source Threads_running ", tr, " > critical ",
                            t.critical_threads_running());
    } else if (t.critical_query_latency_ms() > 0 &&
               ms > t.critical_query_latency_ms()) {
      cause = v1::THROTTLE_CAUSE_CRITICAL;
      reason = absl::StrCat("source probe latency ", ms, " ms > critical ",
                            t.critical_query_latency_ms(), " ms");
    } else if (over(tr, t.max_threads_running(),
                    v1::THROTTLE_CAUSE_THREADS_RUNNING)) {
      cause = v1::THROTTLE_CAUSE_THREADS_RUNNING;
      reason = absl::StrCat(
          "source Threads_running ", tr, " > ", t.max_threads_running(),
          " (resumes below ",
          static_cast<int64_t>(kResumeBelow * t.max_threads_running()), ")");
    } else if (over(ms, t.max_query_latency_ms(),
                    v1::THROTTLE_CAUSE_QUERY_LATENCY)) {
      cause = v1::THROTTLE_CAUSE_QUERY_LATENCY;
      reason = absl::StrCat("source probe latency ", ms, " ms > ",
                            t.max_query_latency_ms(), " ms");
    }
  }
  if (cause == v1::THROTTLE_CAUSE_NONE && working &&
      !InWindow(s.control.options)) {
    cause = v1::THROTTLE_CAUSE_OUTSIDE_WINDOW;
    reason = absl::StrCat("outside the batch's window ",
                          Hhmm(s.control.options.window().start_minute()), "-",
                          Hhmm(s.control.options.window().end_minute()),
                          " UTC: no customer starts");
  }
  st.set_throttled(cause != v1::THROTTLE_CAUSE_NONE);
  st.set_cause(cause);
  st.set_reason(reason);
  st.set_source_threads_running(static_cast<int32_t>(tr));
  st.set_source_query_latency_ms(static_cast<int32_t>(ms));
  st.set_sampled_at_unix_ms(now_ms);
  if (cause != before) {
    st.set_since_unix_ms(now_ms);
    s.saved = absl::InfinitePast();  // store the change at once
    if (cause != v1::THROTTLE_CAUSE_NONE)
      metrics_->ThrottleEvent(CauseName(cause));
    TANDEM_LOG(Info, "batch_throttle")
        .With("batch_id", s.control.batch_id)
        .With("cause", CauseName(cause))
        .With("reason", reason);
  }
  if (cause == v1::THROTTLE_CAUSE_CRITICAL && !s.critical_reported &&
      s.control.state == v1::BATCH_STATE_RUNNING) {
    s.critical_reported = true;
    pause->emplace_back(s.control.batch_id,
                        absl::StrCat("paused by itself: ", reason));
  }
  auto& pacer = pacers_[s.control.batch_id];
  if (pacer == nullptr) pacer = std::make_unique<BatchPacer>(clock_);
  pacer->SetClosed(ClosesWrites(cause));
}

void Governor::Sample(const std::map<int64_t, int>& busy, bool force) {
  const absl::Time now = clock_.Now();
  bool due = false;
  {
    absl::MutexLock lock(&mu_);
    absl::Duration interval = absl::InfiniteDuration();
    bool undecided = false;
    for (const auto& [id, s] : batches_) {
      const int ms = s.control.options.load_throttle().check_interval_ms();
      interval = std::min(interval, absl::Milliseconds(ms > 0 ? ms : 1000));
      undecided = undecided || s.throttle.sampled_at_unix_ms() == 0;
    }
    due = !batches_.empty() &&
          (now - sampled_ >= interval || (force && undecided));
  }
  LoadProbe::Sample sample;
  if (due) sample = probe_->Take();
  std::vector<std::pair<int64_t, std::string>> pause;
  std::vector<std::pair<int64_t, v1::ThrottleStatus>> save;
  std::map<std::string, int> by_cause;
  double allowed = 0, written = 0;
  {
    absl::MutexLock lock(&mu_);
    if (due) {
      const double elapsed = sampled_ == absl::InfinitePast()
                                 ? 0
                                 : absl::ToDoubleSeconds(now - sampled_);
      sampled_ = now;
      last_ = sample;
      for (auto& [id, s] : batches_) {
        Decide(s, sample, absl::ToUnixMillis(now), &pause);
        BatchPacer* pacer = pacers_[id].get();
        const int64_t rows = pacer->TakeWritten();
        if (elapsed > 0) {
          s.throttle.set_written_rows_per_second(
              static_cast<int64_t>(static_cast<double>(rows) / elapsed));
        }
      }
    }
    for (auto& [id, s] : batches_) {
      // This replica's share of the budget: by its busy workers on the batch
      // against every replica's.
      const v1::WriteBudget& b = s.control.options.write_budget();
      auto mine = busy.find(id);
      const int here = mine == busy.end() ? 0 : mine->second;
      auto all = busy_everywhere_.find(id);
      const int everywhere =
          std::max(here, all == busy_everywhere_.end() ? 0 : all->second);
      const double share =
          everywhere > 0 && here > 0
              ? static_cast<double>(here) / static_cast<double>(everywhere)
              : 1.0;
      auto& pacer = pacers_[id];
      if (pacer == nullptr) pacer = std::make_unique<BatchPacer>(clock_);
      pacer->SetRates(b.rows_per_second() * share,
                      b.statements_per_second() * share);
      s.throttle.set_budget_rows_per_second(
          static_cast<int64_t>(b.rows_per_second() * share));
      if (b.rows_per_second() > 0) {
        allowed += b.rows_per_second() * share;
      }
      written += static_cast<double>(s.throttle.written_rows_per_second());
      if (s.throttle.throttled()) ++by_cause[CauseName(s.throttle.cause())];
      if (due && now - s.saved >= options_.save_every) {
        s.saved = now;
        save.emplace_back(id, s.throttle);
      }
    }
  }
  for (const auto& [id, reason] : pause) {
    absl::Status paused = store_->AutoPause(id, reason);
    TANDEM_LOG(Warning, "batch_paused_by_itself")
        .With("batch_id", id)
        .With("reason", reason)
        .With("stored", paused.ok());
  }
  for (const auto& [id, status] : save) (void)store_->SaveThrottle(id, status);
  metrics_->Throttled(by_cause);
  metrics_->Budget(allowed, written);
}

void Governor::Tick(const std::map<int64_t, int>& busy, bool woken) {
  const absl::Time now = clock_.Now();
  bool refresh, heartbeat, reconcile, progress;
  {
    absl::MutexLock lock(&mu_);
    // Woken: a batch was created, started or changed; it is decided on
    // before any of its customers can start.
    refresh = woken || now - refreshed_ >= options_.refresh;
    heartbeat = now - heartbeat_ >= options_.heartbeat;
    reconcile = now - reconciled_ >= options_.reconcile;
    progress = now - progress_ >= absl::Seconds(2);
    if (heartbeat) heartbeat_ = now;
    if (reconcile) reconciled_ = now;
    if (progress) progress_ = now;
  }
  if (refresh) Refresh();
  if (heartbeat) {
    absl::StatusOr<std::map<int64_t, int>> all =
        store_->Heartbeat(options_.worker, busy,
                          absl::ToInt64Milliseconds(3 * options_.heartbeat));
    if (all.ok()) {
      absl::MutexLock lock(&mu_);
      busy_everywhere_ = *std::move(all);
    }
  }
  Sample(busy, woken);
  if (reconcile) {
    absl::Status s = store_->Reconcile();
    if (!s.ok()) {
      TANDEM_LOG(Warning, "reconcile_failed").With("error", s.ToString());
    }
  }
  int total = 0;
  for (const auto& [id, n] : busy) total += n;
  metrics_->WorkersBusy(total);
  if (progress) {
    std::vector<int64_t> ids;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [id, s] : batches_) ids.push_back(id);
    }
    std::map<int64_t, v1::Batch> shown;
    for (auto it = ids.rbegin();
         it != ids.rend() && shown.size() < BatchMetrics::kMaxBatchSeries;
         ++it) {
      absl::StatusOr<v1::Batch> b = store_->GetBatch(*it);
      if (b.ok()) shown[*it] = *std::move(b);
    }
    metrics_->Progress(shown);
  }
}

std::set<int64_t> Governor::MayStart() {
  absl::MutexLock lock(&mu_);
  std::set<int64_t> out;
  for (const auto& [id, s] : batches_) {
    if (s.control.state == v1::BATCH_STATE_RUNNING &&
        s.throttle.sampled_at_unix_ms() > 0 && !s.throttle.throttled()) {
      out.insert(id);
    }
  }
  return out;
}

ItemDecision Governor::Check(const ItemRecord& record, bool at_gate) {
  const int64_t batch_id = record.item.batch_id();
  bool fresh;
  {
    absl::MutexLock lock(&mu_);
    auto it = batches_.find(batch_id);
    // A batch created since the last refresh, or one the cache says must
    // stop: looked at again (an operator may have just resumed it).
    fresh = it != batches_.end() &&
            (it->second.control.state == v1::BATCH_STATE_RUNNING ||
             clock_.Now() - refreshed_ < absl::Milliseconds(100));
  }
  if (!fresh) Refresh();
  bool hold = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = batches_.find(batch_id);
    if (it == batches_.end()) return ItemDecision::kGo;
    const State& s = it->second;
    switch (s.control.state) {
      case v1::BATCH_STATE_CANCELLING:
      case v1::BATCH_STATE_CANCELLED:
        return ItemDecision::kCancel;
      case v1::BATCH_STATE_CREATED:
      case v1::BATCH_STATE_PAUSING:
      case v1::BATCH_STATE_PAUSED:
        return ItemDecision::kPause;
      default:
        break;
    }
    if (ClosesWrites(s.throttle.cause())) return ItemDecision::kWait;
    hold = at_gate && s.control.options.hold_before_cutover() &&
           record.mode != v1::BATCH_MODE_DRY_RUN;
  }
  if (!hold) return ItemDecision::kGo;
  absl::StatusOr<bool> released =
      store_->GateReleased(batch_id, record.item.customer_id());
  return released.ok() && *released ? ItemDecision::kGo : ItemDecision::kHold;
}

}  // namespace tandem::migrator
