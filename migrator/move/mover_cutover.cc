// The mover's copy and cutover: PRE_COPY, CUTOVER, VERIFYING and the flip.
#include <cppconn/exception.h>
#include <mysql_connection.h>

#include <atomic>
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

::tandem::common::v1::System Origin(Direction d) {
  return d == Direction::kMove ? ::tandem::common::v1::SYSTEM_SOURCE
                               : ::tandem::common::v1::SYSTEM_TARGET;
}
::tandem::common::v1::System Destination(Direction d) {
  return d == Direction::kMove ? ::tandem::common::v1::SYSTEM_TARGET
                               : ::tandem::common::v1::SYSTEM_SOURCE;
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

// Applies `changes` in chunks over up to `connections` connections at
// once, each chunk its own transaction (the writes are idempotent by key, so
// a chunk that fails leaves nothing the retry would not redo). Rows waiting
// for an id of the side written (and what refers to them) are applied in
// one transaction, as the id map must commit with them.
absl::Status ApplyInParallel(BillingDb& db, int64_t customer,
                             const Changes& changes, int connections,
                             int64_t* applied) {
  bool placeholders = false;
  for (const TableChanges& t : changes.tables) {
    for (const auto& [key, row] : t.upserts) {
      for (const Value& v : row->values) {
        placeholders |= v.has_value() && v->rfind("@new:", 0) == 0;
      }
    }
  }
  constexpr size_t kChunk = 4000;
  std::vector<Changes> chunks;
  if (placeholders || connections <= 1 || changes.RowCount() <= kChunk) {
    chunks.push_back(changes);
  } else {
    for (const TableChanges& t : changes.tables) {
      size_t replaced = 0;
      for (size_t start = 0; start < t.upserts.size(); start += kChunk) {
        TableChanges part;
        part.info = t.info;
        const size_t end = std::min(t.upserts.size(), start + kChunk);
        part.upserts.assign(t.upserts.begin() + start, t.upserts.begin() + end);
        // `replaces` follows the order of `upserts` (Diff): the chunk's
        // are the next ones.
        for (const auto& [key, row] : part.upserts) {
          if (replaced < t.replaces.size() && t.replaces[replaced] == key) {
            part.replaces.push_back(t.replaces[replaced++]);
          }
        }
        if (start == 0) part.deletes = t.deletes;
        Changes c;
        c.tables.push_back(std::move(part));
        chunks.push_back(std::move(c));
      }
      if (t.upserts.empty() && !t.deletes.empty()) {
        TableChanges part;
        part.info = t.info;
        part.deletes = t.deletes;
        Changes c;
        c.tables.push_back(std::move(part));
        chunks.push_back(std::move(c));
      }
    }
  }
  std::atomic<size_t> next{0};
  std::atomic<int64_t> total{0};
  absl::Mutex mu;
  absl::Status first_error;
  auto work = [&] {
    while (true) {
      const size_t i = next.fetch_add(1);
      if (i >= chunks.size()) return;
      int64_t n = 0;
      absl::Status s = db.pool().Transaction(
          "pre-copy", [&](sql::Connection& conn) -> absl::Status {
            TANDEM_ASSIGN_OR_RETURN(n, db.Apply(conn, customer, chunks[i]));
            return absl::OkStatus();
          });
      if (!s.ok()) {
        absl::MutexLock lock(&mu);
        if (first_error.ok()) first_error = s;
        next.store(chunks.size());
        return;
      }
      total += n;
    }
  };
  std::vector<std::thread> threads;
  const int n =
      std::max(1, std::min<int>(connections, static_cast<int>(chunks.size())));
  // The helpers write for the same claim (fenced and paced alike).
  WorkerContext* context = CurrentWorkerContext();
  for (int t = 1; t < n; ++t) {
    threads.emplace_back([&work, context] {
      ScopedWorkerContext scope(context);
      work();
    });
  }
  work();
  for (std::thread& t : threads) t.join();
  *applied = total.load();
  return first_error;
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
  TANDEM_ASSIGN_OR_RETURN(go, ConvertForCopy(record, s, written));
  if (!go) return absl::OkStatus();
  const absl::Time converted = deps_.clock->Now();
  TANDEM_ASSIGN_OR_RETURN(go, WriteCopy(record, s, written));
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

absl::StatusOr<bool> Mover::ConvertForCopy(ItemRecord& record, Session& s,
                                           const CustomerRows& written) {
  BuildConverterFor(*deps_.mapping, deps_.schemas, s, written,
                    record.options.allow_rounding(), true);
  absl::StatusOr<DesiredState> desired = s.converter->Convert(s.read, written);
  if (!desired.ok()) {
    return Stopped(Fail(record, v1::FAILURE_KIND_TRANSFORM_ERROR,
                        std::string(desired.status().message()), false));
  }
  s.desired = *std::move(desired);
  for (const std::string& w : s.desired.warnings) {
    if (record.item.warnings_size() < 100) record.item.add_warnings(w);
  }
  for (const Rounding& r : s.desired.roundings) {
    if (record.item.warnings_size() < 100) {
      record.item.add_warnings(absl::StrCat("rounded ", r.table, ".", r.column,
                                            " ", r.exact, " to ", r.rounded));
    }
  }
  return true;
}

absl::StatusOr<bool> Mover::WriteCopy(ItemRecord& record, Session& s,
                                      const CustomerRows& written) {
  const int64_t customer = record.item.customer_id();
  Changes changes = Diff(s.desired, written, s.write_order);
  int64_t applied = 0;
  absl::Status wrote;
  absl::Status marked;
  {
    // The write waits on the side written; meanwhile this thread computes
    // the rows' hashes (the verifier's), the mirror (the catch-up's) and
    // the tail's baseline, and saves the baseline: the writers read only
    // the rows' values, which none of that changes. The writers write
    // under this worker's claim and batch: its fence and its pace (the
    // context is per thread).
    WorkerContext* context = CurrentWorkerContext();
    std::thread writer([&] {
      ScopedWorkerContext scope(context);
      wrote = ApplyInParallel(*s.write_db, customer, changes,
                              options_.copy_connections, &applied);
    });
    HashRows(s.desired);
    s.mirror = MirrorOf(s.desired);
    s.saved_marks = Baseline(*deps_.mapping, s.direction, s.read);
    marked = s.write_db->pool().Transaction(
        "save baseline", [&](sql::Connection& conn) {
          return s.write_db->SaveMarks(conn, customer, s.saved_marks, true);
        });
    writer.join();
  }
  if (!wrote.ok()) {
    return Stopped(
        Fail(record, KindOfWrite(wrote), std::string(wrote.message()), true));
  }
  if (!marked.ok()) {
    return Stopped(Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                        std::string(marked.message()), true));
  }
  for (const TableChanges& t : changes.tables) {
    deps_.metrics->RowsWritten(
        t.info->name,
        static_cast<int64_t>(t.upserts.size() + t.deletes.size()));
  }
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
  const int64_t customer = record.item.customer_id();
  const Direction d = record.direction;
  const absl::Duration lease =
      record.options.cutover_timeout_ms() > 0
          ? absl::Milliseconds(record.options.cutover_timeout_ms())
          : options_.cutover_timeout;
  absl::StatusOr<rv1::Route> route = deps_.router->GetRoute(customer);
  if (!route.ok()) {
    return Fail(record, v1::FAILURE_KIND_DEPENDENCY_UNAVAILABLE,
                std::string(route.status().message()), true);
  }
  if (route->system() != Origin(d) ||
      route->state() != rv1::ROUTE_STATE_STABLE) {
    return Fail(record, v1::FAILURE_KIND_ROUTE_CONFLICT,
                absl::StrCat("the route changed under the move (version ",
                             route->version(), ")"),
                true);
  }
  const std::string request = absl::StrCat(
      "m", record.item.batch_id(), "-", customer, "-", record.item.attempts());
  rv1::SetRouteRequest start;
  start.set_customer_id(customer);
  start.set_expected_version(route->version());
  start.set_system(Origin(d));
  start.set_state(rv1::ROUTE_STATE_MIGRATING);
  start.set_lease_ms(absl::ToInt64Milliseconds(lease));
  start.set_request_id(absl::StrCat(request, "-start"));
  start.set_reason(absl::StrCat(DirectionName(d), " of customer ", customer,
                                " (batch ", record.item.batch_id(), ")"));
  const absl::Time held_since = deps_.clock->Now();
  absl::StatusOr<rv1::Route> migrating = deps_.router->SetRoute(start);
  if (!migrating.ok()) {
    return Fail(record,
                migrating.status().code() == absl::StatusCode::kAborted
                    ? v1::FAILURE_KIND_ROUTE_CONFLICT
                    : v1::FAILURE_KIND_DEPENDENCY_UNAVAILABLE,
                std::string(migrating.status().message()), true);
  }
  record.migrating_version = migrating->version();
  record.cutover_started_ms = absl::ToUnixMillis(held_since);
  TANDEM_RETURN_IF_ERROR(Store(record, v1::ITEM_STATE_CUTOVER));
  if (absl::Status f = Fault("after_migrating", customer); !f.ok()) {
    return Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                std::string(f.message()), true);
  }
  // The fence: the customer's row locked on the side it is on. Every writer
  // that follows the route locks it too, so from here nothing but
  // route-blind jobs changes the customer there (their writes are the
  // tail's).
  absl::StatusOr<Txn> fence = Txn::Begin(s.read_db->pool());
  if (!fence.ok()) {
    return Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                std::string(fence.status().message()), true);
  }
  absl::StatusOr<std::string> status =
      s.read_db->LockCustomer(fence->conn(), customer);
  if (!status.ok()) {
    return Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                std::string(status.status().message()), true);
  }
  const SchemaSide read_side = Mapping::ReadSide(d);
  if (*status == deps_.mapping->customer(read_side).exported) {
    return Fail(record, v1::FAILURE_KIND_ROUTE_CONFLICT,
                "the customer is marked exported on the side it is routed to",
                true);
  }
  absl::StatusOr<Txn> copy = Txn::Begin(s.write_db->pool(), false);
  if (!copy.ok()) {
    return Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                std::string(copy.status().message()), true);
  }
  int64_t changed = 0;
  absl::Status caught = CatchUp(s, fence->conn(), &copy->conn(), &changed);
  if (!caught.ok()) {
    return Fail(record, KindOfWrite(caught), std::string(caught.message()),
                true);
  }
  BillingDb::Marks moved;
  for (const auto& [mark, value] : Baseline(*deps_.mapping, d, s.read)) {
    auto saved = s.saved_marks.find(mark);
    if (saved == s.saved_marks.end() || saved->second != value) {
      moved[mark] = value;
    }
  }
  absl::Status marks = s.write_db->SaveMarks(copy->conn(), customer, moved,
                                             /*replace_all=*/false);
  if (!marks.ok()) {
    return Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                std::string(marks.message()), true);
  }
  TANDEM_RETURN_IF_ERROR(Store(record, v1::ITEM_STATE_VERIFYING));
  if (absl::Status f = Fault("before_verify", customer); !f.ok()) {
    copy->Rollback();
    return Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                std::string(f.message()), true);
  }
  Verifier verifier(*deps_.mapping, d, *s.read_db, *s.write_db, s.ids);
  absl::StatusOr<Verification> verification =
      verifier.Verify(fence->conn(), copy->conn(), customer, s.desired,
                      VerifyMode::kStrict, options_.max_differences);
  if (!verification.ok()) {
    copy->Rollback();
    return Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                std::string(verification.status().message()), true);
  }
  ToProtoVerification(*verification, record.item.mutable_verification(),
                      absl::ToUnixMillis(deps_.clock->Now()), false);
  if (!verification->equal) {
    copy->Rollback();
    fence->Rollback();
    deps_.metrics->VerificationFailed();
    return Fail(record, v1::FAILURE_KIND_VERIFY_MISMATCH,
                Summary(*verification), true);
  }
  if (absl::Status f = Fault("before_flip", customer); !f.ok()) {
    copy->Rollback();
    return Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                std::string(f.message()), true);
  }
  // The route never points at data that was not verified equal.
  TANDEM_CHECK(verification->equal)
      << "customer " << customer << ": flip without an equal verification";
  // The copy is complete and verified: it commits before the route points
  // at it, so the route never names a side without the customer's data.
  record.new_status = s.desired.customer_status;
  record.item.set_rows_copied(s.rows_written);
  TANDEM_RETURN_IF_ERROR(Store(record, v1::ITEM_STATE_VERIFYING));
  if (absl::Status c = copy->Commit(); !c.ok()) {
    return Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                std::string(c.message()), true);
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
    return Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                std::string(released.message()), true);
  }
  rv1::SetRouteRequest flip;
  flip.set_customer_id(customer);
  flip.set_expected_version(record.migrating_version);
  flip.set_system(Destination(d));
  flip.set_state(rv1::ROUTE_STATE_STABLE);
  flip.set_request_id(absl::StrCat(request, "-flip"));
  flip.set_reason(start.reason());
  absl::StatusOr<rv1::Route> flipped = deps_.router->SetRoute(flip);
  if (!flipped.ok()) {
    release->Rollback();
    fence->Rollback();
    const bool lease_ran_out =
        flipped.status().code() == absl::StatusCode::kFailedPrecondition ||
        deps_.clock->Now() - held_since >= lease;
    return Fail(record,
                lease_ran_out ? v1::FAILURE_KIND_CUTOVER_TIMEOUT
                              : v1::FAILURE_KIND_ROUTE_CONFLICT,
                std::string(flipped.status().message()), true);
  }
  const absl::Time flipped_at = deps_.clock->Now();
  // The old side refuses the customer from now on; then the new side lets
  // the writers that waited through.
  absl::Status exported = s.read_db->SetCustomerStatus(
      fence->conn(), customer, deps_.mapping->customer(read_side).exported);
  if (exported.ok()) exported = fence->Commit();
  absl::Status opened = release->Commit();
  if (!exported.ok() || !opened.ok()) {
    // The flip stands; the tail's first pass sets the statuses again.
    TANDEM_LOG(Warning, "status_after_flip_failed")
        .With("customer_id", customer)
        .With("error", (!exported.ok() ? exported : opened).ToString());
  }
  (void)Fault("after_flip", customer);
  const absl::Duration held = flipped_at - held_since;
  deps_.metrics->Cutover(d, held);
  deps_.metrics->Finished(d, "moved");
  record.item.set_cutover_ms(absl::ToInt64Milliseconds(held));
  record.item.set_route_version(flipped->version());
  record.flipped_at_ms = absl::ToUnixMillis(flipped_at);
  const absl::Duration window =
      record.options.tail_window_seconds() > 0
          ? absl::Seconds(record.options.tail_window_seconds())
          : options_.tail_window;
  record.tail_until_ms = absl::ToUnixMillis(flipped_at + window);
  TANDEM_LOG(Info, "customer_flipped")
      .With("customer_id", customer)
      .With("direction", DirectionName(d))
      .With("held_ms", absl::ToInt64Milliseconds(held))
      .With("rows", s.rows_written)
      .With("route_version", flipped->version());
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
