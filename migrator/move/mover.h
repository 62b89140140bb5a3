// Moves one customer from one system to the other (or back), one stored step
// at a time, so that a worker that dies anywhere leaves an item another
// worker (or the same one, restarted) continues safely:
//
//   PLANNING   the catalog plans the customer's products; a refusal fails it
//              and touches nothing.
//   PRE_COPY   rows read from a consistent snapshot of the side the
//              customer is on, converted, written to the other side (which
//              keeps the customer `exported` so its own tools refuse it);
//              then catch-up rounds re-read only what changed (the server
//              hashes every row; only rows whose hash moved are fetched)
//              until a round finds little, or the customer fails as not
//              converging.
//   CUTOVER    route MIGRATING with a lease (dispatchers hold the customer);
//              the customer's row is locked on the old side (the fence:
//              every writer that follows the route waits on it), the last
//              changes are read in that transaction and written.
//   VERIFYING  rows and business checks compared; any difference fails the
//              customer: route back, copy removed. Otherwise the copy
//              commits, the route flips by compare-and-set (refused if the
//              lease ran out), the old side marks the customer exported and
//              the new side releases it.
//   TAIL       late writes on the old side (route-blind jobs, calls that
//              started before the flip) are carried as deltas for the tail
//              window: new append-only rows, and changes of balances and
//              usage added to the new side's values, exactly once.
//
// Every write to the billing databases is idempotent by key (rows are
// replaced, never inserted twice), so a step repeated after a crash changes
// nothing more.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "migrator/engine/billing_db.h"
#include "migrator/engine/converter.h"
#include "migrator/engine/verifier.h"
#include "migrator/mapping/mapping.h"
#include "migrator/move/clients.h"
#include "migrator/move/item_control.h"
#include "migrator/move/item_states.h"
#include "migrator/move/move_store.h"
#include "migrator/move/plan_lookups.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace tandem::migrator {

class Txn;

struct MoverOptions {
  // Catch-up rounds before the cutover, at most.
  int max_catch_up_rounds = 10;
  // A round that finds at most this many changed rows is close enough: the
  // cutover follows.
  int converged_rows = 200;
  // The longest a customer may stay MIGRATING (the route's lease), unless a
  // batch says otherwise. Keep it below the dispatchers' hold timeout.
  absl::Duration cutover_timeout = absl::Seconds(5);
  // How long late writes on the old side are carried after the flip, and how
  // often the tail looks for them.
  absl::Duration tail_window = absl::Seconds(300);
  absl::Duration tail_interval = absl::Seconds(1);
  // Differences kept in a verification.
  int max_differences = 100;
  // Connections a pre-copy writes with at once.
  int copy_connections = 2;
  // Who the migrator is, in route changes' audit.
  std::string actor = "migrator";
  // Test hook: called at named points of a move ("after_plan",
  // "after_pre_copy", "before_catch_up" (each online round),
  // "after_migrating", "before_verify", "before_flip",
  // "after_flip", "tail_pass"); a non-OK status is treated as a failure of
  // the step at that point.
  std::function<absl::Status(const std::string& point, int64_t customer)> fault;
};

class MoverMetrics {
 public:
  explicit MoverMetrics(prometheus::Registry* registry);
  void Finished(Direction d, const std::string& outcome);
  void Failed(Direction d, const std::string& kind);
  void RowsWritten(const std::string& table, int64_t n);
  void Cutover(Direction d, absl::Duration held);
  void Phase(const std::string& phase, absl::Duration d);
  void VerificationFailed();
  void CatchUpRound(int64_t changed_rows);
  void LateWrites(int64_t carried, int64_t after_window);
  void Tailing(int64_t customers);

 private:
  prometheus::Family<prometheus::Counter>* customers_ = nullptr;
  prometheus::Family<prometheus::Counter>* failures_ = nullptr;
  prometheus::Family<prometheus::Counter>* rows_ = nullptr;
  prometheus::Family<prometheus::Histogram>* cutover_ = nullptr;
  prometheus::Family<prometheus::Histogram>* phase_ = nullptr;
  prometheus::Counter* verify_failures_ = nullptr;
  prometheus::Histogram* catch_up_ = nullptr;
  prometheus::Counter* late_carried_ = nullptr;
  prometheus::Counter* late_after_ = nullptr;
  prometheus::Gauge* tailing_ = nullptr;
};

// Everything a mover works with; all must outlive it.
struct MoverDeps {
  const Mapping* mapping = nullptr;
  const LiveSchema* schemas[2] = {nullptr, nullptr};
  BillingDb* dbs[2] = {nullptr, nullptr};  // by SchemaSide
  RouteClient* router = nullptr;
  PlanClient* catalog = nullptr;
  MoveStore* store = nullptr;
  // The batches' wishes at checkpoints; null: always go on.
  ItemControl* control = nullptr;
  Clock* clock = nullptr;
  MoverMetrics* metrics = nullptr;  // may be null
};

class Mover {
 public:
  // The tail's probe of a flipped customer: the digests
  // (BillingDb::ColumnDigests) of the old side's rows that late writes can
  // change, by table.
  using TailProbe = std::map<std::string, HashTotal>;

  Mover(MoverDeps deps, MoverOptions options);
  ~Mover();

  // Drives the item forward from its stored state until it is terminal or
  // in TAIL (the tail is driven by TailPass), storing each step. Returns
  // ABORTED when the claim was lost (another worker owns the item now),
  // other errors when the control database could not store a step (the
  // item is then resumed later). A customer that fails is not an error:
  // its item is FAILED with the reason.
  absl::Status Advance(ItemRecord& record);

  // Rehearses a DRY_RUN item (dry_run.cc): plans, copies into the other
  // side inside a transaction it rolls back, measures the would-be cutover
  // and verifies; the item ends DONE or FAILED with `dry_run` filled in.
  // Never changes a route or the side read. Errors as for Advance.
  absl::Status Rehearse(ItemRecord& record);

  // One pass of the tail for an item in TAIL: carries late writes, and
  // finishes the item (DONE) once the window has ended.
  // `probe`, when given, is the customer's probe read by ProbeTails: a pass
  // whose probe has not moved since its last complete pass has nothing to
  // carry and reads nothing. Without it, the pass reads its own.
  absl::Status TailPass(ItemRecord& record, const TailProbe* probe = nullptr);

  // The probes of the customers of `records` (items in TAIL), read on their
  // old side in one statement per couple of hundred customers; a customer
  // whose probe could not be read gets none (its pass reads its own).
  std::vector<std::optional<TailProbe>> ProbeTails(
      const std::vector<ItemRecord>& records);

  // For a DONE item: how many writes landed on the old system since its
  // tail window ended (not carried). Read-only.
  absl::StatusOr<int64_t> LateWritesAfterWindow(const ItemRecord& record);

  // Reports how many customers are in their tail window.
  void SetTailBacklog(int64_t customers) { deps_.metrics->Tailing(customers); }

  // Observes how long one round of tail passes over every tailing customer
  // took (the round delays the claims of new customers behind it).
  void TailRoundTook(absl::Duration d) {
    deps_.metrics->Phase("tail_round", d);
  }

  // Counts writes found after a tail window in the alarm metric.
  void ReportLateWritesAfterWindow(int64_t writes) {
    deps_.metrics->LateWrites(0, writes);
  }

  // Compares one customer on the two systems, read-only (see
  // VerifyCustomerRequest).
  absl::StatusOr<::tandem::migrator::v1::VerifyCustomerResponse> Verify(
      int64_t customer_id, int max_differences);

 public:
  struct Session;

 private:
  absl::StatusOr<std::unique_ptr<Session>> NewSession(const ItemRecord& record);
  // A session for the tail of a flipped item (a restarted worker's, or the
  // sentinel's): the plan's lookups, without the customer's rows.
  absl::StatusOr<std::unique_ptr<Session>> NewTailSession(
      const ItemRecord& record);
  absl::Status Plan(ItemRecord& record);
  absl::Status PreCopy(ItemRecord& record, Session& session);
  // The pre-copy's steps (mover_cutover.cc), in order. Each returns true to
  // go on, false when the item stopped (failed, paused or cancelled, as
  // `record` says), an error when that could not be stored.
  // Reads the snapshot of the side read into the session, and what the
  // side written holds into `written`.
  absl::StatusOr<bool> ReadForCopy(ItemRecord& record, Session& session,
                                   CustomerRows* written);
  // Converts table by table, writing each table's difference to
  // `written` as soon as it is converted, on parallel connections; then
  // hashes the rows, makes the mirror and saves the tail's baseline while
  // the writes finish. `converted` gets the time the conversion ended.
  absl::StatusOr<bool> ConvertAndWrite(ItemRecord& record, Session& session,
                                       const CustomerRows& written,
                                       absl::Time* converted);
  // Converts again once rows created on the side written have ids.
  absl::StatusOr<bool> RedoPlaceholders(ItemRecord& record, Session& session);
  // Catch-up rounds until one finds few enough changes.
  absl::StatusOr<bool> CatchUpRounds(ItemRecord& record, Session& session,
                                     int* rounds);
  // Hashes what the catch-up converted and saves the baseline's changes.
  absl::StatusOr<bool> FinishCopy(ItemRecord& record, Session& session);
  // A step's answer after Fail: false, or the error storing it.
  static absl::StatusOr<bool> Stopped(absl::Status failed);
  // The cutover's steps: the route held MIGRATING under `lease`
  // (HoldRoute); the customer fenced on the side read and the last changes
  // written into the open `copy` (FinalCatchUp); the copy verified equal
  // (VerifyBeforeFlip); the copy committed and the route flipped, the
  // route as flipped returned, none when it failed (Flip); the tail begun
  // (AfterFlip).
  absl::Status Cutover(ItemRecord& record, std::unique_ptr<Session>& session);
  absl::StatusOr<bool> HoldRoute(ItemRecord& record, absl::Duration lease);
  absl::StatusOr<bool> FinalCatchUp(ItemRecord& record, Session& session,
                                    Txn& fence, Txn& copy);
  absl::StatusOr<bool> VerifyBeforeFlip(ItemRecord& record, Session& session,
                                        Txn& fence, Txn& copy);
  absl::StatusOr<std::optional<::tandem::router::v1::Route>> Flip(
      ItemRecord& record, Session& session, Txn& fence, Txn& copy,
      absl::Time held_since, absl::Duration lease);
  absl::Status AfterFlip(ItemRecord& record, std::unique_ptr<Session>& session,
                         const ::tandem::router::v1::Route& flipped,
                         absl::Time held_since);
  // Reads what changed on the side read since the session last looked
  // into `session.read` (only the tables whose digest moved, only the rows
  // whose hash moved), and returns the rows added, changed or removed.
  absl::StatusOr<std::set<RowRef>> ReadChanges(Session& session,
                                               sql::Connection& read_conn);
  // One catch-up round: ReadChanges, converted, and the difference written
  // on `write_conn` (or in a transaction of its own when null); `changed`
  // gets how many rows of the side read changed.
  absl::Status CatchUp(Session& session, sql::Connection& read_conn,
                       sql::Connection* write_conn, int64_t* changed);
  absl::Status FinishFlip(ItemRecord& record);
  absl::Status Fail(ItemRecord& record,
                    ::tandem::migrator::v1::FailureKind kind,
                    const std::string& message, bool remove_copy);
  absl::Status Store(ItemRecord& record, ItemState state);
  // Checkpoints (mover_control.cc). True when the item must stop here:
  // paused (`record.stopped`, released as it is) or cancelled (SKIPPED, the
  // copy removed). Waits while the batch backs off.
  absl::StatusOr<bool> Interrupted(ItemRecord& record);
  // The operator gate, after the bulk copy: holds the item (catching up
  // now and then) until released; true when it must stop instead.
  absl::StatusOr<bool> AwaitGate(ItemRecord& record, Session& session);
  absl::Status Skip(ItemRecord& record,
                    ::tandem::migrator::v1::FailureKind kind,
                    const std::string& message);
  // The rehearsal's steps (dry_run.cc): the copy, then (RehearseWrite)
  // the key conflicts and the write into the open transaction on `target`,
  // then (RehearseCutover) the would-be cutover measured and verified, and
  // the transaction rolled back.
  absl::Status RehearseCopy(ItemRecord& record, Session& session);
  absl::StatusOr<bool> RehearseWrite(ItemRecord& record, Session& session,
                                     sql::Connection& target,
                                     const CustomerRows& written);
  absl::Status RehearseCutover(ItemRecord& record, Session& session,
                               Txn& target);
  absl::Status Fault(const std::string& point, int64_t customer);
  absl::StatusOr<int64_t> CarryLateWrites(ItemRecord& record, Session& session,
                                          bool count_only);

  MoverDeps deps_;
  MoverOptions options_;
  // Tail sessions, kept between passes.
  absl::Mutex mu_;
  std::map<int64_t, std::unique_ptr<Session>> tails_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tandem::migrator
