#include "migrator/move/mover.h"

#include <cppconn/exception.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "migrator/move/item_states.h"
#include "migrator/move/mover_session.h"

namespace tandem::migrator {
namespace {

namespace v1 = ::tandem::migrator::v1;
namespace rv1 = ::tandem::router::v1;

::tandem::common::v1::Direction ProtoDirection(Direction d) {
  return d == Direction::kMove ? ::tandem::common::v1::DIRECTION_MOVE
                               : ::tandem::common::v1::DIRECTION_ROLLBACK;
}

std::string FailureKindName(v1::FailureKind k) {
  std::string name = v1::FailureKind_Name(k);
  const std::string prefix = "FAILURE_KIND_";
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  for (char& c : name) c = static_cast<char>(std::tolower(c));
  return name;
}

}  // namespace

v1::FailureKind KindOfWrite(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kAlreadyExists:
      return v1::FAILURE_KIND_KEY_CONFLICT;
    case absl::StatusCode::kFailedPrecondition:
      return v1::FAILURE_KIND_TRANSFORM_ERROR;
    default:
      return v1::FAILURE_KIND_DATABASE_ERROR;
  }
}

void ToProtoVerification(const Verification& v, v1::Verification* out,
                         int64_t now_ms, bool after_move) {
  out->Clear();
  out->set_equal(v.equal);
  out->set_truncated(v.truncated);
  out->set_verified_at_unix_ms(now_ms);
  out->set_business_checks(v.business_checks);
  out->set_after_move(after_move);
  for (const TableCompare& t : v.tables) {
    v1::TableComparison* c = out->add_tables();
    c->set_table(t.table);
    c->set_source_rows(t.expected_rows);
    c->set_target_rows(t.actual_rows);
    c->set_missing_on_target(t.missing);
    c->set_extra_on_target(t.extra);
    c->set_differing(t.differing);
    c->set_native_on_target(t.native);
  }
  for (const Difference& d : v.differences) {
    v1::Difference* p = out->add_differences();
    p->set_table(d.table);
    std::vector<std::string> parts = DecodeKey(d.key);
    p->set_key(parts.empty() ? d.key : absl::StrJoin(parts, ","));
    p->set_kind(
        d.kind == Difference::kMissing ? v1::DIFFERENCE_KIND_MISSING_ON_TARGET
        : d.kind == Difference::kExtra ? v1::DIFFERENCE_KIND_EXTRA_ON_TARGET
        : d.kind == Difference::kValue ? v1::DIFFERENCE_KIND_VALUE
                                       : v1::DIFFERENCE_KIND_BUSINESS);
    p->set_column(d.column);
    p->set_source_value(d.expected);
    p->set_target_value(d.actual);
  }
}

// --- Txn -------------------------------------------------------------------

absl::StatusOr<Txn> Txn::Begin(MysqlPool& pool, bool snapshot) {
  TANDEM_ASSIGN_OR_RETURN(MysqlPool::Lease lease, pool.Acquire());
  try {
    std::unique_ptr<sql::Statement> s(lease->createStatement());
    s->execute(snapshot ? "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"
                        : "SET TRANSACTION ISOLATION LEVEL READ COMMITTED");
    lease->setAutoCommit(false);
  } catch (const sql::SQLException& e) {
    lease.Discard();
    return MysqlErrorToStatus(e, "begin");
  }
  return Txn(std::move(lease));
}

Txn::~Txn() { Rollback(); }

absl::Status Txn::Commit() {
  if (!lease_.has_value() || !open_) return absl::OkStatus();
  try {
    (*lease_)->commit();
    (*lease_)->setAutoCommit(true);
    open_ = false;
  } catch (const sql::SQLException& e) {
    open_ = false;
    lease_->Discard();
    return MysqlErrorToStatus(e, "commit");
  }
  return absl::OkStatus();
}

void Txn::Rollback() {
  if (!lease_.has_value() || !open_) return;
  open_ = false;
  try {
    (*lease_)->rollback();
    (*lease_)->setAutoCommit(true);
  } catch (const sql::SQLException&) {
    lease_->Discard();
  }
}

CustomerRows MirrorOf(const DesiredState& desired) {
  CustomerRows rows;
  for (const auto& [name, table] : desired.tables) {
    if (table.info == nullptr) continue;
    TableRows& t = rows.Table(*table.info);
    for (const auto& [key, row] : table.rows) t.rows[key] = row.values;
  }
  return rows;
}

std::map<std::string, std::string> SubscriptionProducts(
    const Mapping& mapping, Direction direction, const LiveSchema& schema,
    const CustomerRows& rows) {
  std::map<std::string, std::string> out;
  for (const TableMapping& entry : mapping.tables(direction)) {
    for (const ColumnSpec& c : entry.columns) {
      if (c.catalog != "product" || c.subscription_column.empty()) continue;
      const TableInfo* info = schema.Find(entry.from);
      const TableRows* t = rows.Find(entry.from);
      if (info == nullptr || t == nullptr) continue;
      const int s = info->IndexOf(c.subscription_column);
      const int p = info->IndexOf(c.from);
      for (const auto& [key, row] : t->rows) {
        if (s >= 0 && p >= 0 && row[s] && row[p]) out[*row[s]] = *row[p];
      }
    }
  }
  return out;
}

// --- Metrics ---------------------------------------------------------------

MoverMetrics::MoverMetrics(prometheus::Registry* registry) {
  if (registry == nullptr) return;
  customers_ = &prometheus::BuildCounter()
                    .Name("tandem_migrator_customers_total")
                    .Help(
                        "Customers whose move or rollback ended, by "
                        "direction and outcome (moved, failed, skipped).")
                    .Register(*registry);
  failures_ = &prometheus::BuildCounter()
                   .Name("tandem_migrator_failures_total")
                   .Help(
                       "Customers that failed to move, by direction and "
                       "failure kind.")
                   .Register(*registry);
  rows_ = &prometheus::BuildCounter()
               .Name("tandem_migrator_rows_written_total")
               .Help(
                   "Rows written to or deleted from the other system, by "
                   "table.")
               .Register(*registry);
  cutover_ = &prometheus::BuildHistogram()
                  .Name("tandem_migrator_cutover_seconds")
                  .Help(
                      "How long customers stayed MIGRATING (held by the "
                      "dispatchers), by direction.")
                  .Register(*registry);
  phase_ = &prometheus::BuildHistogram()
                .Name("tandem_migrator_phase_seconds")
                .Help("Duration of each phase of a customer's move.")
                .Register(*registry);
  verify_failures_ = &prometheus::BuildCounter()
                          .Name("tandem_migrator_verification_failures_total")
                          .Help(
                              "Verifications before a flip that found "
                              "differences (the flip was not made).")
                          .Register(*registry)
                          .Add({});
  catch_up_ = &prometheus::BuildHistogram()
                   .Name("tandem_migrator_catch_up_changed_rows")
                   .Help(
                       "Rows found changed per catch-up round: the capture "
                       "lag in rows.")
                   .Register(*registry)
                   .Add({}, prometheus::Histogram::BucketBoundaries{
                                0, 1, 10, 100, 1000, 10000, 100000});
  late_carried_ = &prometheus::BuildCounter()
                       .Name("tandem_migrator_late_writes_carried_total")
                       .Help(
                           "Rows and balance changes written on the old "
                           "system after a flip and carried during the tail "
                           "window.")
                       .Register(*registry)
                       .Add({});
  late_after_ = &prometheus::BuildCounter()
                     .Name("tandem_migrator_late_writes_after_window_total")
                     .Help(
                         "Writes found on the old system after the tail "
                         "window ended (an alarm: not carried).")
                     .Register(*registry)
                     .Add({});
  tailing_ = &prometheus::BuildGauge()
                  .Name("tandem_migrator_tail_customers")
                  .Help("Customers in their tail window (the tail backlog).")
                  .Register(*registry)
                  .Add({});
}

void MoverMetrics::Finished(Direction d, const std::string& outcome) {
  if (customers_) {
    customers_->Add({{"direction", DirectionName(d)}, {"outcome", outcome}})
        .Increment();
  }
}
void MoverMetrics::Failed(Direction d, const std::string& kind) {
  if (failures_) {
    failures_->Add({{"direction", DirectionName(d)}, {"kind", kind}})
        .Increment();
  }
}
void MoverMetrics::RowsWritten(const std::string& table, int64_t n) {
  if (rows_ && n > 0) rows_->Add({{"table", table}}).Increment(n);
}
void MoverMetrics::Cutover(Direction d, absl::Duration held) {
  if (cutover_) {
    cutover_
        ->Add({{"direction", DirectionName(d)}},
              prometheus::Histogram::BucketBoundaries{0.01, 0.025, 0.05, 0.1,
                                                      0.25, 0.5, 1, 2.5, 5, 10})
        .Observe(absl::ToDoubleSeconds(held));
  }
}
void MoverMetrics::Phase(const std::string& phase, absl::Duration d) {
  if (phase_) {
    phase_
        ->Add({{"phase", phase}},
              prometheus::Histogram::BucketBoundaries{0.01, 0.05, 0.1, 0.5, 1,
                                                      5, 10, 60, 300})
        .Observe(absl::ToDoubleSeconds(d));
  }
}
void MoverMetrics::VerificationFailed() {
  if (verify_failures_) verify_failures_->Increment();
}
void MoverMetrics::CatchUpRound(int64_t changed) {
  if (catch_up_) catch_up_->Observe(static_cast<double>(changed));
}
void MoverMetrics::LateWrites(int64_t carried, int64_t after_window) {
  if (late_carried_ && carried > 0) late_carried_->Increment(carried);
  if (late_after_ && after_window > 0) late_after_->Increment(after_window);
}
void MoverMetrics::Tailing(int64_t customers) {
  if (tailing_) tailing_->Set(static_cast<double>(customers));
}

// --- Mover -----------------------------------------------------------------

Mover::Mover(MoverDeps deps, MoverOptions options)
    : deps_(deps), options_(std::move(options)) {
  static MoverMetrics none(nullptr);
  if (deps_.metrics == nullptr) deps_.metrics = &none;
  if (deps_.clock == nullptr) deps_.clock = &Clock::Real();
}

Mover::~Mover() = default;

absl::Status Mover::Fault(const std::string& point, int64_t customer) {
  if (!options_.fault) return absl::OkStatus();
  return options_.fault(point, customer);
}

absl::Status Mover::Store(ItemRecord& record, ItemState state) {
  record.item.set_state(state);
  return deps_.store->UpdateItem(record);
}

absl::StatusOr<std::unique_ptr<Mover::Session>> Mover::NewSession(
    const ItemRecord& record) {
  auto s = std::make_unique<Session>();
  s->customer_id = record.item.customer_id();
  s->direction = record.direction;
  const SchemaSide read = Mapping::ReadSide(s->direction);
  const SchemaSide write = Mapping::WriteSide(s->direction);
  s->read_db = deps_.dbs[read];
  s->write_db = deps_.dbs[write];
  s->plan = record.item.plan();
  s->ids = IdMap(deps_.mapping->native_id_start());
  for (SchemaSide side : {kSourceSide, kTargetSide}) {
    TANDEM_RETURN_IF_ERROR(CatalogCodes::Load(deps_.dbs[side]->pool(),
                                              deps_.dbs[side]->database(),
                                              *deps_.mapping, side, &s->codes));
  }
  TANDEM_RETURN_IF_ERROR(deps_.dbs[kSourceSide]->pool().Run(
      "load id map", [&](sql::Connection& conn) {
        return deps_.dbs[kSourceSide]->LoadIdMap(conn, s->customer_id, &s->ids);
      }));
  for (const TableMapping& t : deps_.mapping->tables(s->direction)) {
    if (std::find(s->write_order.begin(), s->write_order.end(), t.to) ==
        s->write_order.end()) {
      s->write_order.push_back(t.to);
    }
  }
  return s;
}

void BuildConverterFor(const Mapping& mapping,
                       const LiveSchema* const schemas[2], Mover::Session& s,
                       const CustomerRows& written, bool allow_rounding,
                       bool hold_status) {
  const SchemaSide read = Mapping::ReadSide(s.direction);
  const SchemaSide write = Mapping::WriteSide(s.direction);
  const Direction other =
      s.direction == Direction::kMove ? Direction::kRollback : Direction::kMove;
  s.lookups = std::make_unique<PlanLookups>(
      s.plan, s.direction, s.codes,
      SubscriptionProducts(mapping, s.direction, *schemas[read], s.read),
      false);
  s.inverse = std::make_unique<PlanLookups>(
      s.plan, s.direction, s.codes,
      SubscriptionProducts(mapping, other, *schemas[write], written), true);
  ConvertOptions options;
  options.allow_rounding = allow_rounding;
  options.hold_status = hold_status;
  s.converter = std::make_unique<Converter>(
      mapping, s.direction, schemas, *s.lookups, *s.inverse, s.ids, options);
}

absl::Status Mover::Fail(ItemRecord& record, v1::FailureKind kind,
                         const std::string& message, bool remove_copy) {
  const Direction d = record.direction;
  // Put the route back if this attempt made it MIGRATING.
  if (record.migrating_version != 0) {
    absl::StatusOr<rv1::Route> route =
        deps_.router->GetRoute(record.item.customer_id());
    if (route.ok() && route->state() == rv1::ROUTE_STATE_MIGRATING &&
        route->version() == record.migrating_version) {
      rv1::SetRouteRequest back;
      back.set_customer_id(record.item.customer_id());
      back.set_expected_version(record.migrating_version);
      back.set_system(OriginSystem(d));
      back.set_state(rv1::ROUTE_STATE_STABLE);
      back.set_request_id(absl::StrCat("m", record.item.batch_id(), "-",
                                       record.item.customer_id(), "-",
                                       record.item.attempts(), "-abort"));
      back.set_reason(absl::StrCat("move failed: ", FailureKindName(kind)));
      absl::StatusOr<rv1::Route> r = deps_.router->SetRoute(back);
      if (!r.ok()) {
        // The lease ends the move anyway; the router puts it back itself.
        TANDEM_LOG(Warning, "route_abort_failed")
            .With("customer_id", record.item.customer_id())
            .With("error", r.status().ToString());
      }
    }
    record.migrating_version = 0;
  }
  if (remove_copy && d == Direction::kMove) {
    BillingDb* target = deps_.dbs[Mapping::WriteSide(d)];
    absl::Status removed =
        target->pool().Transaction("remove copy", [&](sql::Connection& conn) {
          return target->DeleteCustomer(conn, record.item.customer_id())
              .status();
        });
    if (!removed.ok()) {
      TANDEM_LOG(Warning, "copy_not_removed")
          .With("customer_id", record.item.customer_id())
          .With("error", removed.ToString());
    }
  }
  v1::ItemFailure* f = record.item.mutable_failure();
  f->set_kind(kind);
  f->set_message(message);
  f->set_failed_in(record.item.state());
  f->set_at_unix_ms(absl::ToUnixMillis(deps_.clock->Now()));
  deps_.metrics->Failed(d, FailureKindName(kind));
  deps_.metrics->Finished(d, "failed");
  TANDEM_LOG(Warning, "customer_failed")
      .With("customer_id", record.item.customer_id())
      .With("direction", DirectionName(d))
      .With("kind", FailureKindName(kind))
      .With("reason", message);
  return Store(record, v1::ITEM_STATE_FAILED);
}

absl::Status Mover::Advance(ItemRecord& record) {
  if (record.mode == v1::BATCH_MODE_DRY_RUN) return Rehearse(record);
  record.item.set_attempts(record.item.attempts() + 1);
  if (record.item.started_at_unix_ms() == 0) {
    record.item.set_started_at_unix_ms(absl::ToUnixMillis(deps_.clock->Now()));
  }
  while (!IsTerminal(record.item.state()) &&
         record.item.state() != v1::ITEM_STATE_TAIL && !record.stopped) {
    switch (record.item.state()) {
      case v1::ITEM_STATE_PENDING:
      case v1::ITEM_STATE_PLANNING:
      case v1::ITEM_STATE_PRE_COPY: {
        TANDEM_ASSIGN_OR_RETURN(bool stop, Interrupted(record));
        if (stop) break;
        TANDEM_RETURN_IF_ERROR(Plan(record));
        if (record.item.state() != v1::ITEM_STATE_PRE_COPY) break;
        const absl::Time opened = deps_.clock->Now();
        absl::StatusOr<std::unique_ptr<Session>> session = NewSession(record);
        if (!session.ok()) {
          return Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                      std::string(session.status().message()), false);
        }
        deps_.metrics->Phase("session", deps_.clock->Now() - opened);
        TANDEM_RETURN_IF_ERROR(PreCopy(record, **session));
        if (record.item.state() != v1::ITEM_STATE_CUTOVER) break;
        const absl::Time cutover_start = deps_.clock->Now();
        TANDEM_RETURN_IF_ERROR(Cutover(record, *session));
        deps_.metrics->Phase("cutover", deps_.clock->Now() - cutover_start);
        break;
      }
      case v1::ITEM_STATE_CUTOVER:
      case v1::ITEM_STATE_VERIFYING:
        // A worker stopped mid-cutover: the flip either committed or not.
        TANDEM_RETURN_IF_ERROR(FinishFlip(record));
        break;
      default:
        return absl::InternalError("unexpected item state");
    }
  }
  return absl::OkStatus();
}

absl::Status Mover::Plan(ItemRecord& record) {
  const int64_t customer = record.item.customer_id();
  const Direction d = record.direction;
  absl::Time start = deps_.clock->Now();
  TANDEM_RETURN_IF_ERROR(Store(record, v1::ITEM_STATE_PLANNING));
  absl::StatusOr<rv1::Route> route = deps_.router->GetRoute(customer);
  if (!route.ok()) {
    if (route.status().code() == absl::StatusCode::kNotFound) {
      return Fail(record, v1::FAILURE_KIND_CUSTOMER_NOT_FOUND,
                  std::string(route.status().message()), false);
    }
    return Fail(record, v1::FAILURE_KIND_DEPENDENCY_UNAVAILABLE,
                std::string(route.status().message()), false);
  }
  if (route->state() == rv1::ROUTE_STATE_MIGRATING) {
    // Left MIGRATING by an earlier attempt that died: its lease ends it.
    // Wait (bounded by the lease) rather than fail.
    const absl::Time deadline =
        deps_.clock->Now() + options_.cutover_timeout + absl::Seconds(3);
    while (route.ok() && route->state() == rv1::ROUTE_STATE_MIGRATING &&
           deps_.clock->Now() < deadline) {
      if (route->version() == record.migrating_version) {
        rv1::SetRouteRequest back;
        back.set_customer_id(customer);
        back.set_expected_version(route->version());
        back.set_system(route->system());
        back.set_state(rv1::ROUTE_STATE_STABLE);
        back.set_reason("resuming an interrupted move");
        (void)deps_.router->SetRoute(back);
      }
      deps_.clock->SleepUntil(deps_.clock->Now() + absl::Milliseconds(100));
      route = deps_.router->GetRoute(customer);
    }
    record.migrating_version = 0;
    if (!route.ok() || route->state() == rv1::ROUTE_STATE_MIGRATING) {
      return Fail(record, v1::FAILURE_KIND_ROUTE_CONFLICT,
                  "the route stays MIGRATING under another mover", false);
    }
  }
  if (route->system() != OriginSystem(d)) {
    record.item.mutable_failure()->set_kind(v1::FAILURE_KIND_ALREADY_MOVED);
    record.item.mutable_failure()->set_message(
        absl::StrCat("customer ", customer, " is already on the ",
                     d == Direction::kMove ? "target" : "source"));
    record.item.mutable_failure()->set_failed_in(v1::ITEM_STATE_PLANNING);
    deps_.metrics->Finished(d, "skipped");
    record.item.set_state(v1::ITEM_STATE_SKIPPED);
    return deps_.store->UpdateItem(record);
  }
  absl::StatusOr<::tandem::catalog::v1::CustomerPlan> plan =
      deps_.catalog->PlanCustomer(customer, ProtoDirection(d));
  if (!plan.ok()) {
    return Fail(record,
                plan.status().code() == absl::StatusCode::kNotFound
                    ? v1::FAILURE_KIND_CUSTOMER_NOT_FOUND
                    : v1::FAILURE_KIND_DEPENDENCY_UNAVAILABLE,
                std::string(plan.status().message()), false);
  }
  *record.item.mutable_plan() = *plan;
  record.item.clear_warnings();
  for (const std::string& w : plan->warnings()) record.item.add_warnings(w);
  if (!plan->can_move()) {
    return Fail(record, v1::FAILURE_KIND_PLAN_REFUSED,
                absl::StrJoin(plan->reasons(), "; "), false);
  }
  if (absl::Status f = Fault("after_plan", customer); !f.ok()) {
    return Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                std::string(f.message()), false);
  }
  deps_.metrics->Phase("plan", deps_.clock->Now() - start);
  return Store(record, v1::ITEM_STATE_PRE_COPY);
}

absl::StatusOr<std::set<RowRef>> Mover::ReadChanges(
    Session& s, sql::Connection& read_conn) {
  // Each table's digest first: the rows' hashes are transferred only for
  // the tables whose digest moved (most rounds find few or none).
  const std::vector<std::string> all = s.read_db->CustomerTables(true);
  TANDEM_ASSIGN_OR_RETURN(auto totals,
                          s.read_db->HashTotals(read_conn, s.customer_id, all));
  std::vector<std::string> tables;
  for (const auto& [name, total] : totals) {
    if (total != TotalOf(s.read_hashes[name])) tables.push_back(name);
  }
  TANDEM_ASSIGN_OR_RETURN(
      Hashes hashes, s.read_db->HashCustomer(read_conn, s.customer_id, tables));
  std::set<RowRef> refs;
  for (const std::string& name : tables) {
    const TableInfo* info = s.read_db->schema().Find(name);
    if (info == nullptr) continue;
    TableRows& rows = s.read.Table(*info);
    std::map<std::string, std::string>& known = s.read_hashes[name];
    const std::map<std::string, std::string>& now = hashes[name];
    std::vector<std::string> fetch;
    for (const auto& [key, hash] : now) {
      auto it = known.find(key);
      if (it == known.end() || it->second != hash) fetch.push_back(key);
    }
    for (auto it = rows.rows.begin(); it != rows.rows.end();) {
      if (!now.count(it->first)) {
        refs.insert({name, it->first});
        known.erase(it->first);
        it = rows.rows.erase(it);
      } else {
        ++it;
      }
    }
    if (fetch.empty()) continue;
    TANDEM_ASSIGN_OR_RETURN(
        auto fetched, s.read_db->FetchRows(read_conn, name, fetch, &known));
    for (auto& [key, row] : fetched) {
      refs.insert({name, key});
      rows.rows[key] = std::move(row);
    }
  }
  return refs;
}

absl::Status Mover::CatchUp(Session& s, sql::Connection& read_conn,
                            sql::Connection* write_conn, int64_t* changed) {
  *changed = 0;
  TANDEM_ASSIGN_OR_RETURN(std::set<RowRef> refs, ReadChanges(s, read_conn));
  *changed = static_cast<int64_t>(refs.size());
  deps_.metrics->CatchUpRound(*changed);
  if (*changed == 0) return absl::OkStatus();
  // Only the changed rows are converted again, unless the conversion
  // rounds (then everything is, for the leftovers).
  std::set<RowRef> touched;
  absl::Status updated =
      s.converter->Update(s.read, refs, &s.desired, &touched);
  const bool incremental = updated.ok();
  if (!incremental) {
    if (updated.code() != absl::StatusCode::kUnimplemented) return updated;
    TANDEM_ASSIGN_OR_RETURN(s.desired, s.converter->Convert(s.read, s.mirror));
  }
  Changes changes = Diff(s.desired, s.mirror, s.write_order,
                         incremental ? &touched : nullptr);
  int64_t written = 0;
  if (write_conn != nullptr) {
    TANDEM_ASSIGN_OR_RETURN(
        written, s.write_db->Apply(*write_conn, s.customer_id, changes));
  } else {
    TANDEM_RETURN_IF_ERROR(s.write_db->pool().Transaction(
        "catch up", [&](sql::Connection& conn) -> absl::Status {
          TANDEM_ASSIGN_OR_RETURN(
              written, s.write_db->Apply(conn, s.customer_id, changes));
          return absl::OkStatus();
        }));
  }
  for (const TableChanges& t : changes.tables) {
    deps_.metrics->RowsWritten(
        t.info->name,
        static_cast<int64_t>(t.upserts.size() + t.deletes.size()));
  }
  s.rows_written += written;
  if (incremental) {
    UpdateMirror(s.desired, touched, &s.mirror);
  } else {
    s.mirror = MirrorOf(s.desired);
  }
  return absl::OkStatus();
}

}  // namespace tandem::migrator
