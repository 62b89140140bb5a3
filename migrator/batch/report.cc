#include "migrator/batch/report.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "migrator/batch/batch_states.h"
#include "migrator/move/item_states.h"

namespace tandem::migrator {
namespace {

namespace v1 = ::tandem::migrator::v1;
namespace cv1 = ::tandem::catalog::v1;

std::string Strip(const std::string& name, const std::string& prefix) {
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

void Counts(const std::map<std::string, int64_t>& counts,
            google::protobuf::RepeatedPtrField<v1::ReportCount>* out) {
  for (const auto& [name, n] : counts) {
    v1::ReportCount* c = out->Add();
    c->set_name(name);
    c->set_count(n);
  }
}

// A Markdown table cell: no pipes or line breaks.
std::string Cell(const std::string& text) {
  return absl::StrReplaceAll(text, {{"|", "\\|"}, {"\n", " "}});
}

std::string Time(int64_t ms) {
  if (ms <= 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixMillis(ms),
                          absl::UTCTimeZone());
}

std::string Duration(int64_t ms) {
  if (ms < 1000) return absl::StrCat(ms, " ms");
  const int64_t s = ms / 1000;
  if (s < 120) return absl::StrFormat("%.1f s", static_cast<double>(ms) / 1000);
  return absl::StrFormat("%d min %02d s", s / 60, s % 60);
}

}  // namespace

namespace {

// Adds `c` to `section` unless it holds `max` already (then the report says
// it was cut).
void AddCapped(google::protobuf::RepeatedPtrField<v1::ReportCustomer>* section,
               v1::ReportCustomer c, int max, v1::BatchReport& r) {
  if (section->size() < max) {
    *section->Add() = std::move(c);
  } else {
    r.set_truncated(true);
  }
}

// The counts by state, failure kind and plan outcome the report totals.
struct ItemCounts {
  std::map<std::string, int64_t> by_state, by_kind, by_outcome;
  bool tails = false;
  int64_t last_end = 0;
  int64_t finished = 0;
};

// Adds one item to the report's sections and totals and to `counts`.
void AddItem(const v1::BatchItem& item, int max_customers, v1::BatchReport& r,
             ItemCounts& counts) {
  ++counts.by_state[ItemStateName(item.state())];
  counts.tails = counts.tails || item.state() == v1::ITEM_STATE_TAIL;
  counts.last_end = std::max(counts.last_end, item.finished_at_unix_ms());
  if (IsTerminal(item.state()) || item.state() == v1::ITEM_STATE_TAIL) {
    ++counts.finished;
  }
  if (item.state() == v1::ITEM_STATE_FAILED ||
      item.state() == v1::ITEM_STATE_SKIPPED) {
    ++counts.by_kind[Strip(v1::FailureKind_Name(item.failure().kind()),
                           "FAILURE_KIND_")];
    v1::ReportCustomer c;
    c.set_customer_id(item.customer_id());
    c.set_state(item.state());
    c.set_kind(item.failure().kind());
    c.set_message(item.failure().message());
    AddCapped(item.state() == v1::ITEM_STATE_FAILED ? r.mutable_failed()
                                                    : r.mutable_skipped(),
              std::move(c), max_customers, r);
  }
  std::set<int> outcomes;
  for (const auto& sub : item.plan().subscriptions()) {
    for (int o : sub.outcomes()) outcomes.insert(o);
  }
  for (int o : outcomes) {
    ++counts.by_outcome[Strip(
        cv1::PlanOutcome_Name(static_cast<cv1::PlanOutcome>(o)),
        "PLAN_OUTCOME_")];
  }
  const bool moved = item.state() == v1::ITEM_STATE_DONE ||
                     item.state() == v1::ITEM_STATE_TAIL ||
                     item.state() == v1::ITEM_STATE_ROLLED_BACK;
  if (moved) {
    for (const std::string& w : item.warnings()) {
      v1::ReportCustomer c;
      c.set_customer_id(item.customer_id());
      c.set_state(item.state());
      c.set_message(w);
      AddCapped(r.mutable_warnings(), std::move(c), max_customers, r);
    }
  }
  for (const v1::KeyConflict& k : item.dry_run().key_conflicts()) {
    if (r.key_conflicts_size() < max_customers) {
      *r.add_key_conflicts() = k;
      r.add_key_conflict_customers(item.customer_id());
    } else {
      r.set_truncated(true);
    }
  }
  for (const auto& [table, n] : item.dry_run().projected_rows()) {
    (*r.mutable_rows_by_table())[table] += n;
  }
  r.set_rows_total(r.rows_total() + item.rows_copied());
  r.set_late_writes_carried(r.late_writes_carried() +
                            item.late_writes_carried());
  r.set_late_writes_after_window(r.late_writes_after_window() +
                                 item.late_writes_after_window());
}

}  // namespace

v1::BatchReport BuildReport(const v1::Batch& batch,
                            const std::vector<v1::BatchItem>& items,
                            int max_customers, int64_t now_ms) {
  v1::BatchReport r;
  *r.mutable_batch() = batch;
  r.set_generated_at_unix_ms(now_ms);
  ItemCounts counts;
  for (const v1::BatchItem& item : items) {
    AddItem(item, max_customers, r, counts);
  }
  Counts(counts.by_state, r.mutable_by_state());
  Counts(counts.by_kind, r.mutable_by_failure_kind());
  Counts(counts.by_outcome, r.mutable_by_plan_outcome());
  r.set_final(IsTerminalBatch(batch.state()) && !counts.tails);
  if (batch.started_at_unix_ms() > 0) {
    const int64_t end =
        batch.finished_at_unix_ms() > 0
            ? std::max(batch.finished_at_unix_ms(), counts.last_end)
            : now_ms;
    r.set_elapsed_ms(std::max<int64_t>(0, end - batch.started_at_unix_ms()));
  }
  if (r.elapsed_ms() > 0) {
    const double seconds = static_cast<double>(r.elapsed_ms()) / 1000.0;
    r.set_customers_per_second(static_cast<double>(counts.finished) / seconds);
    r.set_rows_per_second(static_cast<double>(r.rows_total()) / seconds);
  }
  r.set_markdown(ReportMarkdown(r));
  return r;
}

namespace {

// The table at the top: mode, direction, state, who created it, when.
void AppendSummary(const v1::BatchReport& r, bool dry, bool rollback,
                   std::string& md) {
  const v1::Batch& b = r.batch();
  absl::StrAppend(&md, "# Batch ", b.batch_id(), ": ", b.name(), "\n\n");
  if (!b.description().empty()) absl::StrAppend(&md, b.description(), "\n\n");
  absl::StrAppend(
      &md, "| | |\n|---|---|\n", "| mode | ",
      dry ? "DRY_RUN (rehearsal: nothing was moved)" : "LIVE", " |\n",
      "| direction | ",
      rollback ? "ROLLBACK (target to source)" : "MOVE (source to target)",
      " |\n", "| state | ", BatchStateName(b.state()),
      b.state_reason().empty() ? "" : absl::StrCat(" (", b.state_reason(), ")"),
      r.final() ? "" : " — not finished: this report is provisional", " |\n",
      "| created | ", Time(b.created().at_unix_ms()), " by ",
      Cell(b.created().actor()),
      b.created().reason().empty()
          ? ""
          : absl::StrCat(": ", Cell(b.created().reason())),
      " |\n", "| started | ", Time(b.started_at_unix_ms()), " |\n",
      "| finished | ", Time(b.finished_at_unix_ms()), " |\n", "| elapsed | ",
      Duration(r.elapsed_ms()), " |\n", "| mapping | `",
      b.mapping_digest().substr(0, 12), "` |\n\n");
}

// Customers by state.
void AppendOutcome(const v1::BatchProgress& p, bool dry, bool rollback,
                   std::string& md) {
  absl::StrAppend(&md, "## Outcome\n\n", "| customers | count |\n|---|---:|\n",
                  "| total | ", p.items_total(), " |\n", "| ",
                  dry ? "would move" : (rollback ? "rolled back" : "moved"),
                  " | ", p.items_done() + p.items_rolled_back(), " |\n",
                  "| in progress | ", p.items_in_progress(), " |\n", "| ",
                  dry ? "would fail" : "failed", " | ", p.items_failed(),
                  " |\n", "| skipped | ", p.items_skipped(), " |\n",
                  "| pending | ", p.items_pending(), " |\n");
  if (!dry) {
    absl::StrAppend(&md, "| of those moved, rolled back since | ",
                    p.items_rolled_back(), " |\n");
  }
  absl::StrAppend(&md, "\n");
}

void AppendCounts(
    const char* title,
    const google::protobuf::RepeatedPtrField<v1::ReportCount>& list,
    std::string& md) {
  if (list.empty()) return;
  absl::StrAppend(&md, "### ", title, "\n\n| | customers |\n|---|---:|\n");
  for (const v1::ReportCount& c : list) {
    absl::StrAppend(&md, "| ", c.name(), " | ", c.count(), " |\n");
  }
  absl::StrAppend(&md, "\n");
}

// Customers with a failure kind and its reason, or with a warning.
void AppendCustomers(
    const char* title,
    const google::protobuf::RepeatedPtrField<v1::ReportCustomer>& list,
    bool kind, std::string& md) {
  if (list.empty()) return;
  absl::StrAppend(&md, "## ", title, "\n\n| customer | ",
                  kind ? "kind | why" : "warning", " |\n|---:|",
                  kind ? "---|---" : "---", "|\n");
  for (const v1::ReportCustomer& c : list) {
    absl::StrAppend(&md, "| ", c.customer_id(), " | ");
    if (kind) {
      absl::StrAppend(
          &md, Strip(v1::FailureKind_Name(c.kind()), "FAILURE_KIND_"), " | ");
    }
    absl::StrAppend(&md, Cell(c.message()), " |\n");
  }
  absl::StrAppend(&md, "\n");
}

void AppendKeyConflicts(const v1::BatchReport& r, std::string& md) {
  if (r.key_conflicts().empty()) return;
  absl::StrAppend(&md,
                  "## Key conflicts on the other system\n\n| customer | "
                  "table.key | value | held by customer |\n|---:|---|---|---:"
                  "|\n");
  for (int i = 0; i < r.key_conflicts_size(); ++i) {
    const v1::KeyConflict& k = r.key_conflicts(i);
    absl::StrAppend(&md, "| ", r.key_conflict_customers(i), " | ", k.table(),
                    ".", k.key(), " | ", Cell(k.value()), " | ",
                    k.held_by_customer_id(), " |\n");
  }
  absl::StrAppend(&md, "\n");
}

// Rows by table, rates, cutover percentiles, late writes, throttle.
void AppendRowsAndTimings(const v1::BatchReport& r, bool dry, std::string& md) {
  const v1::BatchProgress& p = r.batch().progress();
  absl::StrAppend(&md, "## Rows and timings\n\n| | |\n|---|---:|\n", "| rows ",
                  dry ? "the moves would write" : "written", " | ",
                  r.rows_total(), " |\n");
  for (const auto& [table, n] : r.rows_by_table()) {
    absl::StrAppend(&md, "| … ", table, " | ", n, " |\n");
  }
  absl::StrAppend(
      &md, "| customers per second | ",
      absl::StrFormat("%.2f", r.customers_per_second()), " |\n",
      "| rows per second | ", absl::StrFormat("%.0f", r.rows_per_second()),
      " |\n", "| cutover (held) p50 / p90 / p99 / max", dry ? ", would be" : "",
      " | ", p.cutover_ms_p50(), " / ", p.cutover_ms_p90(), " / ",
      p.cutover_ms_p99(), " / ", p.cutover_ms_max(), " ms |\n");
  if (!dry) {
    absl::StrAppend(&md, "| late writes carried in tails | ",
                    r.late_writes_carried(), " |\n",
                    "| late writes after the window (alarm) | ",
                    r.late_writes_after_window(), " |\n");
  }
  if (p.throttle().throttled()) {
    absl::StrAppend(&md, "\nThrottled at the last sample: ",
                    Cell(p.throttle().reason()), "\n");
  }
}

}  // namespace

std::string ReportMarkdown(const v1::BatchReport& r) {
  const v1::Batch& b = r.batch();
  const bool dry = b.mode() == v1::BATCH_MODE_DRY_RUN;
  const bool rollback =
      b.direction() == ::tandem::common::v1::DIRECTION_ROLLBACK;
  std::string md;
  AppendSummary(r, dry, rollback, md);
  AppendOutcome(b.progress(), dry, rollback, md);
  AppendCounts("By failure kind", r.by_failure_kind(), md);
  AppendCounts("By plan outcome (a customer counts once per outcome)",
               r.by_plan_outcome(), md);
  AppendCustomers(
      dry ? "Customers that would fail, and why" : "Failed customers",
      r.failed(), true, md);
  AppendCustomers("Skipped customers", r.skipped(), true, md);
  AppendCustomers(dry ? "Warnings (the customers would move)" : "Warnings",
                  r.warnings(), false, md);
  AppendKeyConflicts(r, md);
  AppendRowsAndTimings(r, dry, md);
  if (r.truncated()) {
    absl::StrAppend(&md,
                    "\nSome lists were cut; `tandemctl batch items` lists "
                    "every customer.\n");
  }
  return md;
}

}  // namespace tandem::migrator
