// The mover's copy and cutover: PRE_COPY, CUTOVER, VERIFYING and the flip.
#include <cppconn/exception.h>
#include <mysql_connection.h>

#include <deque>
#include <optional>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/invariants.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "migrator/engine/values.h"
#include "migrator/engine/write_guard.h"
#include "migrator/move/item_states.h"
#include "migrator/move/mover.h"
#include "migrator/move/mover_session.h"

namespace tandem::migrator {
namespace {

namespace v1 = ::tandem::migrator::v1;
namespace rv1 = ::tandem::router::v1;

// The prefix of the request ids of this attempt's route changes: a retry
// of the same change is recognised by the router.
std::string RequestPrefix(const ItemRecord& record) {
  return absl::StrCat("m", record.item.batch_id(), "-",
                      record.item.customer_id(), "-", record.item.attempts());
}

// Why the route changes, for the router's audit.
std::string MoveReason(const ItemRecord& record) {
  return absl::StrCat(DirectionName(record.direction), " of customer ",
                      record.item.customer_id(), " (batch ",
                      record.item.batch_id(), ")");
}

std::string Summary(const Verification& v) {
  std::vector<std::string> parts;
  for (const Difference& d : v.differences) {
    if (parts.size() >= 5) break;
    std::vector<std::string> key = DecodeKey(d.key);
    parts.push_back(absl::StrCat(
        d.table, " ",
        absl::StrJoin(key.empty() ? std::vector<std::string>{d.key} : key, ","),
        d.column.empty() ? "" : absl::StrCat(" ", d.column), ": ",
        d.kind == Difference::kMissing ? "missing on the other side"
        : d.kind == Difference::kExtra
            ? "extra on the other side"
            : absl::StrCat("expected ", d.expected, ", found ", d.actual)));
  }
  return absl::StrCat("verification found differences: ",
                      absl::StrJoin(parts, "; "));
}

// The baseline of the tail: the values of the additive columns (balances,
// usage) of the side read, as last read.
BillingDb::Marks Baseline(const Mapping& mapping, Direction direction,
                          const CustomerRows& read) {
  const SchemaSide side = Mapping::ReadSide(direction);
  std::map<std::string, std::set<std::string>> additive;
  for (const BalanceSpec& b : mapping.balances()) {
    additive[b.v[side].holder_table].insert(b.v[side].balance);
  }
  for (const TableMapping& t : mapping.tables(direction)) {
    for (const ColumnSpec& c : t.columns) {
      if (c.additive) additive[t.from].insert(c.from);
    }
  }
  BillingDb::Marks marks;
  for (const auto& [table, columns] : additive) {
    const TableRows* rows = read.Find(table);
    if (rows == nullptr) continue;
    for (const std::string& column : columns) {
      const int i = rows->info->IndexOf(column);
      if (i < 0) continue;
      for (const auto& [key, row] : rows->rows) {
        marks[absl::StrCat(table, "|", column, "|", key)] =
            row[i].value_or("0");
      }
    }
  }
  return marks;
}

// Fills the hash (RowHash) of every complete row of `state` that has none.
void HashRows(const DesiredState& state) {
  for (const auto& [name, table] : state.tables) {
    for (const auto& [key, row] : table.rows) {
      bool all_set = true;
      for (bool set : row.set) all_set = all_set && set;
      if (all_set && row.hash.empty()) row.hash = RowHash(row.values);
    }
  }
}

// Writes a customer's changes, handed over table by table while the rest
// converts, on up to `connections` connections at once. Rows are applied in
// chunks, each its own transaction (the writes are idempotent by key, so a
// chunk that fails leaves nothing a retry would not redo); small tables
// share a chunk. Rows waiting for an id of the side written, and every
// table from the first that holds one, are applied last in one
// transaction, as the id map must commit with them and what refers to
// them. The writers write under the caller's worker context (its fence and
// its pace: the context is per thread).
class ParallelWriter {
 public:
  ParallelWriter(BillingDb& db, int64_t customer, int connections)
      : db_(db), customer_(customer) {
    WorkerContext* context = CurrentWorkerContext();
    for (int t = 0; t < std::max(1, connections); ++t) {
      threads_.emplace_back([this, context] {
        ScopedWorkerContext scope(context);
        Work();
      });
    }
  }
  ~ParallelWriter() { (void)Finish(nullptr); }

  // Queues one table's changes (pointing into a desired state that must
  // stay unchanged until Finish).
  void Add(TableChanges t) {
    if (t.deletes.empty() && t.upserts.empty()) return;
    if (!held_.tables.empty() || HasPlaceholder(t)) {
      held_.tables.push_back(std::move(t));
      return;
    }
    size_t replaced = 0;
    for (size_t start = 0; start == 0 || start < t.upserts.size();
         start += kChunk) {
      TableChanges part;
      part.info = t.info;
      const size_t end = std::min(t.upserts.size(), start + kChunk);
      part.upserts.assign(t.upserts.begin() + start, t.upserts.begin() + end);
      // `replaces` follows the order of `upserts` (Diff): the part's are
      // the next ones.
      for (const auto& [key, row] : part.upserts) {
        if (replaced < t.replaces.size() && t.replaces[replaced] == key) {
          part.replaces.push_back(t.replaces[replaced++]);
        }
      }
      if (start == 0) part.deletes = std::move(t.deletes);
      pending_.tables.push_back(std::move(part));
      if (pending_.RowCount() >= kChunk) {
        Queue(std::move(pending_));
        pending_ = Changes();
      }
    }
  }

  // Applies what is left, waits for the writers and returns the first
  // error; `applied` (may be null) gets the rows written or deleted.
  absl::Status Finish(int64_t* applied) {
    Queue(std::move(pending_));
    Queue(std::move(held_));
    pending_ = held_ = Changes();
    {
      absl::MutexLock lock(&mu_);
      closed_ = true;
    }
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    if (applied != nullptr) *applied = applied_;
    return error_;
  }

  // Stops the writers after the chunks being applied; queued ones are
  // dropped.
  void Abort() {
    {
      absl::MutexLock lock(&mu_);
      queue_.clear();
      closed_ = true;
    }
    (void)Finish(nullptr);
  }

 private:
  static constexpr size_t kChunk = 4000;

  static bool HasPlaceholder(const TableChanges& t) {
    for (const auto& [key, row] : t.upserts) {
      for (const Value& v : row->values) {
        if (v.has_value() && v->rfind("@new:", 0) == 0) return true;
      }
    }
    return false;
  }

  void Queue(Changes c) {
    if (c.tables.empty()) return;
    absl::MutexLock lock(&mu_);
    if (!closed_) queue_.push_back(std::move(c));
  }

  void Work() {
    while (true) {
      Changes chunk;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](ParallelWriter* w) { return w->closed_ || !w->queue_.empty(); },
            this));
        if (queue_.empty()) return;
        chunk = std::move(queue_.front());
        queue_.pop_front();
      }
      int64_t n = 0;
      absl::Status s = db_.pool().Transaction(
          "pre-copy", [&](sql::Connection& conn) -> absl::Status {
            TANDEM_ASSIGN_OR_RETURN(n, db_.Apply(conn, customer_, chunk));
            return absl::OkStatus();
          });
      absl::MutexLock lock(&mu_);
      applied_ += n;
      if (!s.ok() && error_.ok()) {
        error_ = s;
        queue_.clear();
        closed_ = true;
      }
    }
  }

  BillingDb& db_;
  const int64_t customer_;
  // Only the thread handing changes over touches these.
  Changes pending_;
  Changes held_;
  std::vector<std::thread> threads_;
  absl::Mutex mu_;
  std::deque<Changes> queue_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_;   // written under mu_, read after the join
  int64_t applied_ = 0;  // likewise
};

// The conversion's warnings and roundings, as the item's (at most 100).
void AddWarnings(const DesiredState& desired, v1::BatchItem* item) {
  for (const std::string& w : desired.warnings) {
    if (item->warnings_size() < 100) item->add_warnings(w);
  }
  for (const Rounding& r : desired.roundings) {
    if (item->warnings_size() < 100) {
      item->add_warnings(absl::StrCat("rounded ", r.table, ".", r.column, " ",
                                      r.exact, " to ", r.rounded));
    }
  }
}

// True when some desired row still waits for an id of the side written.
bool HasPlaceholders(const DesiredState& desired) {
  for (const auto& [name, table] : desired.tables) {
    for (const auto& [key, row] : table.rows) {
      if (key.find("@new:") != std::string::npos) return true;
    }
  }
  return false;
}

}  // namespace

absl::Status Mover::PreCopy(ItemRecord& record, Session& s) {
  const int64_t customer = record.item.customer_id();
  const absl::Time start = deps_.clock->Now();
  CustomerRows written;
  TANDEM_ASSIGN_OR_RETURN(bool go, ReadForCopy(record, s, &written));
  if (!go) return absl::OkStatus();
  const absl::Time read_done = deps_.clock->Now();
  absl::Time converted = read_done;
  TANDEM_ASSIGN_OR_RETURN(go, ConvertAndWrite(record, s, written, &converted));
  if (!go) return absl::OkStatus();
  const absl::Time written_at = deps_.clock->Now();
  TANDEM_LOG(Info, "pre_copy_written")
      .With("customer_id", customer)
      .With("rows", s.rows_written)
      .With("read_s", absl::ToDoubleSeconds(read_done - start))
      .With("convert_s", absl::ToDoubleSeconds(converted - read_done))
      .With("write_s", absl::ToDoubleSeconds(written_at - converted));
  TANDEM_ASSIGN_OR_RETURN(go, RedoPlaceholders(record, s));
  if (!go) return absl::OkStatus();
  if (absl::Status f = Fault("after_pre_copy", customer); !f.ok()) {
    return Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                std::string(f.message()), true);
  }
  // The operator gate (and a pause or cancel) before catching up for the
  // cutover.
  TANDEM_ASSIGN_OR_RETURN(bool stop, AwaitGate(record, s));
  if (stop) return absl::OkStatus();
  int rounds = 0;
  TANDEM_ASSIGN_OR_RETURN(go, CatchUpRounds(record, s, &rounds));
  if (!go) return absl::OkStatus();
  const absl::Time caught_up = deps_.clock->Now();
  TANDEM_ASSIGN_OR_RETURN(go, FinishCopy(record, s));
  if (!go) return absl::OkStatus();
  const absl::Time done = deps_.clock->Now();
  TANDEM_LOG(Info, "pre_copy_caught_up")
      .With("customer_id", customer)
      .With("rounds", rounds)
      .With("catch_up_s", absl::ToDoubleSeconds(caught_up - written_at))
      .With("hash_and_baseline_s", absl::ToDoubleSeconds(done - caught_up));
  deps_.metrics->Phase("pre_copy_read", read_done - start);
  deps_.metrics->Phase("pre_copy_convert", converted - read_done);
  deps_.metrics->Phase("pre_copy_write", written_at - converted);
  deps_.metrics->Phase("pre_copy_catch_up", caught_up - written_at);
  deps_.metrics->Phase("pre_copy_hash", done - caught_up);
  deps_.metrics->Phase("pre_copy", done - start);
  return Store(record, v1::ITEM_STATE_CUTOVER);
}

absl::StatusOr<bool> Mover::Stopped(absl::Status failed) {
  if (!failed.ok()) return failed;
  return false;
}

absl::StatusOr<bool> Mover::ReadForCopy(ItemRecord& record, Session& s,
                                        CustomerRows* written) {
  const int64_t customer = record.item.customer_id();
  // A consistent snapshot of the customer on the side it is on.
  {
    absl::StatusOr<Txn> snapshot = Txn::Begin(s.read_db->pool());
    if (!snapshot.ok()) return snapshot.status();
    absl::StatusOr<CustomerRows> read = s.read_db->ReadCustomer(
        snapshot->conn(), customer, s.read_db->CustomerTables(true),
        &s.read_hashes);
    if (!read.ok()) {
      return Stopped(Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                          std::string(read.status().message()), false));
    }
    s.read = *std::move(read);
    snapshot->Rollback();
  }
  const TableRows* customers = s.read.Find(
      deps_.mapping->customer(Mapping::ReadSide(s.direction)).table);
  if (customers == nullptr || customers->rows.empty()) {
    return Stopped(Fail(record, v1::FAILURE_KIND_CUSTOMER_NOT_FOUND,
                        absl::StrCat("customer ", customer, " has no rows on ",
                                     s.read_db->database()),
                        false));
  }
  absl::StatusOr<CustomerRows> found = absl::UnavailableError("");
  {
    absl::StatusOr<MysqlPool::Lease> conn = s.write_db->pool().Acquire();
    found = conn.ok() ? s.write_db->ReadCustomer(
                            **conn, customer, s.write_db->CustomerTables(false))
                      : absl::StatusOr<CustomerRows>(conn.status());
  }
  if (!found.ok()) {
    return Stopped(Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                        std::string(found.status().message()), false));
  }
  *written = *std::move(found);
  return true;
}

absl::StatusOr<bool> Mover::ConvertAndWrite(ItemRecord& record, Session& s,
                                            const CustomerRows& written,
                                            absl::Time* converted) {
  const int64_t customer = record.item.customer_id();
  BuildConverterFor(*deps_.mapping, deps_.schemas, s, written,
                    record.options.allow_rounding(), true);
  // Each table is written as soon as it is converted, while the next ones
  // convert (the server writes, this thread converts).
  ParallelWriter writer(*s.write_db, customer, options_.copy_connections);
  std::set<std::string> handed;
  std::vector<std::pair<std::string, int64_t>> rows;  // for the metrics
  auto hand_over = [&](const std::string& table, const DesiredState& state) {
    if (handed.count(table) ||
        std::find(s.write_order.begin(), s.write_order.end(), table) ==
            s.write_order.end()) {
      return;
    }
    handed.insert(table);
    for (TableChanges& t : Diff(state, written, {table}).tables) {
      rows.emplace_back(t.info->name, static_cast<int64_t>(t.upserts.size() +
                                                           t.deletes.size()));
      writer.Add(std::move(t));
    }
  };
  absl::StatusOr<DesiredState> desired =
      s.converter->Convert(s.read, written, hand_over);
  if (!desired.ok()) {
    // Tables converted before the failure may have been written.
    writer.Abort();
    return Stopped(Fail(record, v1::FAILURE_KIND_TRANSFORM_ERROR,
                        std::string(desired.status().message()),
                        !handed.empty()));
  }
  // The state's rows stay where the writers read them (moving the state
  // moves no row).
  s.desired = *std::move(desired);
  AddWarnings(s.desired, &record.item);
  for (const std::string& table : s.write_order) hand_over(table, s.desired);
  *converted = deps_.clock->Now();
  // While the writers finish: the rows' hashes (the verifier's), the
  // mirror (the catch-up's) and the tail's baseline. The writers read only
  // the rows' values, which none of this changes.
  HashRows(s.desired);
  s.mirror = MirrorOf(s.desired);
  s.saved_marks = Baseline(*deps_.mapping, s.direction, s.read);
  absl::Status marked = s.write_db->pool().Transaction(
      "save baseline", [&](sql::Connection& conn) {
        return s.write_db->SaveMarks(conn, customer, s.saved_marks, true);
      });
  int64_t applied = 0;
  absl::Status wrote = writer.Finish(&applied);
  if (!wrote.ok()) {
    return Stopped(
        Fail(record, KindOfWrite(wrote), std::string(wrote.message()), true));
  }
  if (!marked.ok()) {
    return Stopped(Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                        std::string(marked.message()), true));
  }
  for (const auto& [table, n] : rows) deps_.metrics->RowsWritten(table, n);
  s.rows_written += applied;
  return true;
}

absl::StatusOr<bool> Mover::RedoPlaceholders(ItemRecord& record, Session& s) {
  // Rows created natively on the side written that came back have ids
  // now: the conversion is made again with them, against what the side
  // holds.
  if (s.desired.RowCount() == 0 || !HasPlaceholders(s.desired)) return true;
  const int64_t customer = record.item.customer_id();
  absl::Status again = deps_.dbs[kSourceSide]->pool().Run(
      "reload id map", [&](sql::Connection& conn) {
        return deps_.dbs[kSourceSide]->LoadIdMap(conn, customer, &s.ids);
      });
  absl::StatusOr<CustomerRows> now;
  if (again.ok()) {
    absl::StatusOr<MysqlPool::Lease> conn = s.write_db->pool().Acquire();
    again = conn.status();
    if (conn.ok()) {
      now = s.write_db->ReadCustomer(**conn, customer,
                                     s.write_db->CustomerTables(false));
      again = now.status();
    }
  }
  if (again.ok()) {
    absl::StatusOr<DesiredState> redone = s.converter->Convert(s.read, *now);
    again = redone.status();
    if (redone.ok()) s.desired = *std::move(redone);
  }
  if (!again.ok()) {
    return Stopped(
        Fail(record, KindOfWrite(again), std::string(again.message()), true));
  }
  s.mirror = MirrorOf(s.desired);
  return true;
}

absl::StatusOr<bool> Mover::CatchUpRounds(ItemRecord& record, Session& s,
                                          int* rounds) {
  // Catch up while the customer keeps being served.
  const int64_t customer = record.item.customer_id();
  int64_t changed = 0;
  while (true) {
    TANDEM_ASSIGN_OR_RETURN(bool halt, Interrupted(record));
    if (halt) return false;
    absl::StatusOr<MysqlPool::Lease> conn = s.read_db->pool().Acquire();
    if (!conn.ok()) {
      return Stopped(Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                          std::string(conn.status().message()), true));
    }
    if (absl::Status f = Fault("before_catch_up", customer); !f.ok()) {
      return Stopped(Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                          std::string(f.message()), true));
    }
    absl::Status caught = CatchUp(s, **conn, nullptr, &changed);
    if (!caught.ok()) {
      return Stopped(Fail(record, KindOfWrite(caught),
                          std::string(caught.message()), true));
    }
    ++*rounds;
    if (changed <= options_.converged_rows) return true;
    if (*rounds >= options_.max_catch_up_rounds) {
      return Stopped(
          Fail(record, v1::FAILURE_KIND_NOT_CONVERGED,
               absl::StrCat("still ", changed, " rows changed after ", *rounds,
                            " catch-up rounds (the cutover allows ",
                            options_.converged_rows, ")"),
               true));
    }
  }
}

absl::StatusOr<bool> Mover::FinishCopy(ItemRecord& record, Session& s) {
  // The hashes of the rows the catch-up converted again, computed now
  // rather than while the customer is held.
  HashRows(s.desired);
  // The tail's baseline as the catch-up left it, saved now so the cutover
  // writes only what moves. Usually what the copy saved; otherwise only
  // the marks that changed are written (all of them when one went away).
  BillingDb::Marks now = Baseline(*deps_.mapping, s.direction, s.read);
  if (now != s.saved_marks) {
    bool removed = false;
    BillingDb::Marks moved;
    for (const auto& [mark, value] : s.saved_marks) {
      removed = removed || !now.count(mark);
    }
    for (const auto& [mark, value] : now) {
      auto saved = s.saved_marks.find(mark);
      if (saved == s.saved_marks.end() || saved->second != value) {
        moved[mark] = value;
      }
    }
    absl::Status marked = s.write_db->pool().Transaction(
        "save baseline", [&](sql::Connection& conn) {
          return s.write_db->SaveMarks(conn, record.item.customer_id(),
                                       removed ? now : moved, removed);
        });
    if (!marked.ok()) {
      return Stopped(Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                          std::string(marked.message()), true));
    }
    s.saved_marks = std::move(now);
  }
  record.item.set_rows_copied(s.rows_written);
  return true;
}

absl::Status Mover::Cutover(ItemRecord& record,
                            std::unique_ptr<Session>& session) {
  Session& s = *session;
  const absl::Duration lease =
      record.options.cutover_timeout_ms() > 0
          ? absl::Milliseconds(record.options.cutover_timeout_ms())
          : options_.cutover_timeout;
  TANDEM_ASSIGN_OR_RETURN(bool go, HoldRoute(record, lease));
  if (!go) return absl::OkStatus();
  const absl::Time held_since = absl::FromUnixMillis(record.cutover_started_ms);
  // The fence: the customer's row locked on the side it is on. Every writer
  // that follows the route locks it too, so from here nothing but
  // route-blind jobs changes the customer there (their writes are the
  // tail's).
  absl::StatusOr<Txn> fence = Txn::Begin(s.read_db->pool());
  if (!fence.ok()) {
    return Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                std::string(fence.status().message()), true);
  }
  absl::StatusOr<Txn> copy = Txn::Begin(s.write_db->pool(), false);
  if (!copy.ok()) {
    return Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                std::string(copy.status().message()), true);
  }
  TANDEM_ASSIGN_OR_RETURN(go, FinalCatchUp(record, s, *fence, *copy));
  if (!go) return absl::OkStatus();
  TANDEM_ASSIGN_OR_RETURN(go, VerifyBeforeFlip(record, s, *fence, *copy));
  if (!go) return absl::OkStatus();
  TANDEM_ASSIGN_OR_RETURN(std::optional<rv1::Route> flipped,
                          Flip(record, s, *fence, *copy, held_since, lease));
  if (!flipped.has_value()) return absl::OkStatus();
  return AfterFlip(record, session, *flipped, held_since);
}

absl::StatusOr<bool> Mover::HoldRoute(ItemRecord& record,
                                      absl::Duration lease) {
  const int64_t customer = record.item.customer_id();
  const Direction d = record.direction;
  absl::StatusOr<rv1::Route> route = deps_.router->GetRoute(customer);
  if (!route.ok()) {
    return Stopped(Fail(record, v1::FAILURE_KIND_DEPENDENCY_UNAVAILABLE,
                        std::string(route.status().message()), true));
  }
  if (route->system() != OriginSystem(d) ||
      route->state() != rv1::ROUTE_STATE_STABLE) {
    return Stopped(Fail(record, v1::FAILURE_KIND_ROUTE_CONFLICT,
                        absl::StrCat("the route changed under the move "
                                     "(version ",
                                     route->version(), ")"),
                        true));
  }
  rv1::SetRouteRequest start;
  start.set_customer_id(customer);
  start.set_expected_version(route->version());
  start.set_system(OriginSystem(d));
  start.set_state(rv1::ROUTE_STATE_MIGRATING);
  start.set_lease_ms(absl::ToInt64Milliseconds(lease));
  start.set_request_id(absl::StrCat(RequestPrefix(record), "-start"));
  start.set_reason(MoveReason(record));
  const absl::Time held_since = deps_.clock->Now();
  absl::StatusOr<rv1::Route> migrating = deps_.router->SetRoute(start);
  if (!migrating.ok()) {
    return Stopped(Fail(record,
                        migrating.status().code() == absl::StatusCode::kAborted
                            ? v1::FAILURE_KIND_ROUTE_CONFLICT
                            : v1::FAILURE_KIND_DEPENDENCY_UNAVAILABLE,
                        std::string(migrating.status().message()), true));
  }
  record.migrating_version = migrating->version();
  record.cutover_started_ms = absl::ToUnixMillis(held_since);
  TANDEM_RETURN_IF_ERROR(Store(record, v1::ITEM_STATE_CUTOVER));
  if (absl::Status f = Fault("after_migrating", customer); !f.ok()) {
    return Stopped(Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                        std::string(f.message()), true));
  }
  return true;
}

absl::StatusOr<bool> Mover::FinalCatchUp(ItemRecord& record, Session& s,
                                         Txn& fence, Txn& copy) {
  const int64_t customer = record.item.customer_id();
  const Direction d = record.direction;
  absl::StatusOr<std::string> status =
      s.read_db->LockCustomer(fence.conn(), customer);
  if (!status.ok()) {
    return Stopped(Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                        std::string(status.status().message()), true));
  }
  if (*status == deps_.mapping->customer(Mapping::ReadSide(d)).exported) {
    return Stopped(Fail(
        record, v1::FAILURE_KIND_ROUTE_CONFLICT,
        "the customer is marked exported on the side it is routed to", true));
  }
  int64_t changed = 0;
  absl::Status caught = CatchUp(s, fence.conn(), &copy.conn(), &changed);
  if (!caught.ok()) {
    return Stopped(
        Fail(record, KindOfWrite(caught), std::string(caught.message()), true));
  }
  BillingDb::Marks moved;
  for (const auto& [mark, value] : Baseline(*deps_.mapping, d, s.read)) {
    auto saved = s.saved_marks.find(mark);
    if (saved == s.saved_marks.end() || saved->second != value) {
      moved[mark] = value;
    }
  }
  absl::Status marks = s.write_db->SaveMarks(copy.conn(), customer, moved,
                                             /*replace_all=*/false);
  if (!marks.ok()) {
    return Stopped(Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                        std::string(marks.message()), true));
  }
  TANDEM_RETURN_IF_ERROR(Store(record, v1::ITEM_STATE_VERIFYING));
  return true;
}

absl::StatusOr<bool> Mover::VerifyBeforeFlip(ItemRecord& record, Session& s,
                                             Txn& fence, Txn& copy) {
  const int64_t customer = record.item.customer_id();
  if (absl::Status f = Fault("before_verify", customer); !f.ok()) {
    copy.Rollback();
    return Stopped(Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                        std::string(f.message()), true));
  }
  Verifier verifier(*deps_.mapping, record.direction, *s.read_db, *s.write_db,
                    s.ids);
  absl::StatusOr<Verification> verification =
      verifier.Verify(fence.conn(), copy.conn(), customer, s.desired,
                      VerifyMode::kStrict, options_.max_differences);
  if (!verification.ok()) {
    copy.Rollback();
    return Stopped(Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                        std::string(verification.status().message()), true));
  }
  ToProtoVerification(*verification, record.item.mutable_verification(),
                      absl::ToUnixMillis(deps_.clock->Now()), false);
  if (!verification->equal) {
    copy.Rollback();
    fence.Rollback();
    deps_.metrics->VerificationFailed();
    return Stopped(Fail(record, v1::FAILURE_KIND_VERIFY_MISMATCH,
                        Summary(*verification), true));
  }
  if (absl::Status f = Fault("before_flip", customer); !f.ok()) {
    copy.Rollback();
    return Stopped(Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                        std::string(f.message()), true));
  }
  // The route never points at data that was not verified equal.
  TANDEM_CHECK(verification->equal)
      << "customer " << customer << ": flip without an equal verification";
  return true;
}

absl::StatusOr<std::optional<rv1::Route>> Mover::Flip(ItemRecord& record,
                                                      Session& s, Txn& fence,
                                                      Txn& copy,
                                                      absl::Time held_since,
                                                      absl::Duration lease) {
  const int64_t customer = record.item.customer_id();
  const Direction d = record.direction;
  auto stopped =
      [](absl::Status failed) -> absl::StatusOr<std::optional<rv1::Route>> {
    if (!failed.ok()) return failed;
    return std::nullopt;
  };
  // The copy is complete and verified: it commits before the route points
  // at it, so the route never names a side without the customer's data.
  record.new_status = s.desired.customer_status;
  record.item.set_rows_copied(s.rows_written);
  TANDEM_RETURN_IF_ERROR(Store(record, v1::ITEM_STATE_VERIFYING));
  if (absl::Status c = copy.Commit(); !c.ok()) {
    return stopped(Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                        std::string(c.message()), true));
  }
  // The new side's release, held across the flip: its writers wait on this
  // lock, then find the customer open.
  absl::StatusOr<Txn> release = Txn::Begin(s.write_db->pool(), false);
  absl::Status released = release.status();
  if (released.ok()) {
    released = s.write_db->LockCustomer(release->conn(), customer).status();
  }
  if (released.ok()) {
    released = s.write_db->SetCustomerStatus(release->conn(), customer,
                                             record.new_status);
  }
  if (!released.ok()) {
    return stopped(Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                        std::string(released.message()), true));
  }
  rv1::SetRouteRequest flip;
  flip.set_customer_id(customer);
  flip.set_expected_version(record.migrating_version);
  flip.set_system(DestinationSystem(d));
  flip.set_state(rv1::ROUTE_STATE_STABLE);
  flip.set_request_id(absl::StrCat(RequestPrefix(record), "-flip"));
  flip.set_reason(MoveReason(record));
  absl::StatusOr<rv1::Route> flipped = deps_.router->SetRoute(flip);
  if (!flipped.ok()) {
    release->Rollback();
    fence.Rollback();
    const bool lease_ran_out =
        flipped.status().code() == absl::StatusCode::kFailedPrecondition ||
        deps_.clock->Now() - held_since >= lease;
    return stopped(Fail(record,
                        lease_ran_out ? v1::FAILURE_KIND_CUTOVER_TIMEOUT
                                      : v1::FAILURE_KIND_ROUTE_CONFLICT,
                        std::string(flipped.status().message()), true));
  }
  record.flipped_at_ms = absl::ToUnixMillis(deps_.clock->Now());
  // The old side refuses the customer from now on; then the new side lets
  // the writers that waited through.
  absl::Status exported = s.read_db->SetCustomerStatus(
      fence.conn(), customer,
      deps_.mapping->customer(Mapping::ReadSide(d)).exported);
  if (exported.ok()) exported = fence.Commit();
  absl::Status opened = release->Commit();
  if (!exported.ok() || !opened.ok()) {
    // The flip stands; the tail's first pass sets the statuses again.
    TANDEM_LOG(Warning, "status_after_flip_failed")
        .With("customer_id", customer)
        .With("error", (!exported.ok() ? exported : opened).ToString());
  }
  return *std::move(flipped);
}

absl::Status Mover::AfterFlip(ItemRecord& record,
                              std::unique_ptr<Session>& session,
                              const rv1::Route& flipped,
                              absl::Time held_since) {
  const int64_t customer = record.item.customer_id();
  const Direction d = record.direction;
  const absl::Time flipped_at = absl::FromUnixMillis(record.flipped_at_ms);
  (void)Fault("after_flip", customer);
  const absl::Duration held = flipped_at - held_since;
  deps_.metrics->Cutover(d, held);
  deps_.metrics->Finished(d, "moved");
  record.item.set_cutover_ms(absl::ToInt64Milliseconds(held));
  record.item.set_route_version(flipped.version());
  const absl::Duration window =
      record.options.tail_window_seconds() > 0
          ? absl::Seconds(record.options.tail_window_seconds())
          : options_.tail_window;
  record.tail_until_ms = absl::ToUnixMillis(flipped_at + window);
  TANDEM_LOG(Info, "customer_flipped")
      .With("customer_id", customer)
      .With("direction", DirectionName(d))
      .With("held_ms", absl::ToInt64Milliseconds(held))
      .With("rows", session->rows_written)
      .With("route_version", flipped.version());
  if (d == Direction::kRollback) {
    absl::Status marked = deps_.store->MarkRolledBack(customer);
    if (!marked.ok()) {
      TANDEM_LOG(Warning, "mark_rolled_back_failed")
          .With("customer_id", customer)
          .With("error", marked.ToString());
    }
  }
  {
    absl::MutexLock lock(&mu_);
    tails_[customer] = std::move(session);
  }
  return Store(record, v1::ITEM_STATE_TAIL);
}

}  // namespace tandem::migrator
