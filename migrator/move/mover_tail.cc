// The mover after the flip: finishing an interrupted flip, the tail window
// (late writes on the old side carried exactly once), and the read-only
// verification of a customer.
#include <mysql_connection.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "common/mysql_results.h"
#include "common/status_macros.h"
#include "migrator/engine/values.h"
#include "migrator/move/item_states.h"
#include "migrator/move/mover.h"
#include "migrator/move/mover_session.h"

namespace tandem::migrator {
namespace {

namespace v1 = ::tandem::migrator::v1;
namespace rv1 = ::tandem::router::v1;

// The target column, conversion and direction of `column` of `table` (side
// read) in `direction`, for carrying a delta; nullptr when not mapped.
const ColumnSpec* SpecFor(const Mapping& m, Direction direction,
                          const std::string& table, const std::string& column,
                          std::string* target_table) {
  for (const TableMapping& t : m.tables(direction)) {
    if (t.from != table) continue;
    for (const ColumnSpec& c : t.columns) {
      if (c.from == column) {
        *target_table = t.to;
        return &c;
      }
    }
  }
  return nullptr;
}

// What the tail probes on the side read: the append-only tables (their
// keys: new rows) and the holders of additive columns (balances and usage:
// those columns), as the cutover's baseline names them.
std::map<std::string, std::vector<std::string>> TailColumns(
    const Mapping& m, Direction direction) {
  std::map<std::string, std::set<std::string>> columns;
  for (const TableMapping& t : m.tables(direction)) {
    if (t.append_only) columns[t.from];
    for (const ColumnSpec& c : t.columns) {
      if (c.additive) columns[t.from].insert(c.from);
    }
  }
  const SchemaSide side = Mapping::ReadSide(direction);
  for (const BalanceSpec& b : m.balances()) {
    columns[b.v[side].holder_table].insert(b.v[side].balance);
  }
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [table, set] : columns) {
    out[table] = std::vector<std::string>(set.begin(), set.end());
  }
  return out;
}

}  // namespace

absl::Status Mover::FinishFlip(ItemRecord& record) {
  const int64_t customer = record.item.customer_id();
  const Direction d = record.direction;
  absl::StatusOr<rv1::Route> route = deps_.router->GetRoute(customer);
  if (!route.ok()) return route.status();  // retried when resumed again
  const bool flipped = record.migrating_version != 0 &&
                       route->system() == DestinationSystem(d) &&
                       route->state() == rv1::ROUTE_STATE_STABLE &&
                       route->version() > record.migrating_version;
  if (!flipped) {
    // Nothing flipped: the copy is redone from the start (the route is put
    // back, or its lease does it).
    if (route->state() == rv1::ROUTE_STATE_MIGRATING &&
        route->version() == record.migrating_version) {
      rv1::SetRouteRequest back;
      back.set_customer_id(customer);
      back.set_expected_version(record.migrating_version);
      back.set_system(route->system());
      back.set_state(rv1::ROUTE_STATE_STABLE);
      back.set_reason("resuming an interrupted move");
      (void)deps_.router->SetRoute(back);
    }
    record.migrating_version = 0;
    return Store(record, v1::ITEM_STATE_PLANNING);
  }
  // The flip committed before the worker stopped: finish what follows it.
  BillingDb* old_side = deps_.dbs[Mapping::ReadSide(d)];
  BillingDb* new_side = deps_.dbs[Mapping::WriteSide(d)];
  const std::string exported =
      deps_.mapping->customer(Mapping::ReadSide(d)).exported;
  TANDEM_RETURN_IF_ERROR(old_side->pool().Transaction(
      "mark exported", [&](sql::Connection& conn) -> absl::Status {
        TANDEM_RETURN_IF_ERROR(old_side->LockCustomer(conn, customer).status());
        return old_side->SetCustomerStatus(conn, customer, exported);
      }));
  const std::string held =
      deps_.mapping->customer(Mapping::WriteSide(d)).exported;
  TANDEM_RETURN_IF_ERROR(new_side->pool().Transaction(
      "release customer", [&](sql::Connection& conn) -> absl::Status {
        TANDEM_ASSIGN_OR_RETURN(std::string status,
                                new_side->LockCustomer(conn, customer));
        if (status != held || record.new_status.empty()) {
          return absl::OkStatus();
        }
        return new_side->SetCustomerStatus(conn, customer, record.new_status);
      }));
  record.item.set_route_version(route->version());
  record.flipped_at_ms = route->updated_at_unix_ms();
  record.item.set_cutover_ms(record.flipped_at_ms - record.cutover_started_ms);
  const absl::Duration window =
      record.options.tail_window_seconds() > 0
          ? absl::Seconds(record.options.tail_window_seconds())
          : options_.tail_window;
  record.tail_until_ms =
      record.flipped_at_ms + absl::ToInt64Milliseconds(window);
  deps_.metrics->Finished(d, "moved");
  if (d == Direction::kRollback) {
    (void)deps_.store->MarkRolledBack(customer);
  }
  TANDEM_LOG(Info, "flip_found_committed")
      .With("customer_id", customer)
      .With("route_version", route->version());
  return Store(record, v1::ITEM_STATE_TAIL);
}

namespace {

// A change of an additive column (a balance, a usage) on the old side since
// its mark, as an amount to add on the new side.
struct LateDelta {
  std::string table, key, column, amount, mark, now;
};

// The rows of the old side's append-only tables the session has not seen
// yet; they are added to what it knows.
absl::StatusOr<CustomerRows> NewAppendOnlyRows(const Mapping& mapping,
                                               Mover::Session& s,
                                               sql::Connection& read_conn) {
  CustomerRows late;
  for (const TableMapping& t : mapping.tables(s.direction)) {
    if (!t.append_only) continue;
    const TableInfo* info = s.read_db->schema().Find(t.from);
    if (info == nullptr) continue;
    TANDEM_ASSIGN_OR_RETURN(
        std::vector<std::string> keys,
        s.read_db->KeysOf(read_conn, s.customer_id, t.from));
    TableRows& known = s.read.Table(*info);
    std::vector<std::string> fresh;
    for (const std::string& key : keys) {
      if (!known.rows.count(key)) fresh.push_back(key);
    }
    if (fresh.empty()) continue;
    TANDEM_ASSIGN_OR_RETURN(auto rows,
                            s.read_db->FetchRows(read_conn, t.from, fresh));
    TableRows& l = late.Table(*info);
    for (auto& [key, row] : rows) {
      known.rows[key] = row;
      l.rows[key] = std::move(row);
    }
  }
  return late;
}

// Removes from `inserts` the rows the new side holds already (carried by an
// earlier pass whose bookkeeping was lost), and returns them as found.
absl::StatusOr<CustomerRows> DropPresent(Mover::Session& s,
                                         sql::Connection& write_conn,
                                         DesiredState& inserts) {
  CustomerRows present;
  for (auto& [name, table] : inserts.tables) {
    std::vector<std::string> keys;
    for (const auto& [key, row] : table.rows) keys.push_back(key);
    TANDEM_ASSIGN_OR_RETURN(auto rows,
                            s.write_db->FetchRows(write_conn, name, keys));
    TableRows& p = present.Table(*table.info);
    for (auto& [key, row] : rows) {
      table.rows.erase(key);
      p.rows[key] = std::move(row);
    }
  }
  return present;
}

// The change of `column` of the old side's row `key` of `table` (`info`),
// now `row`, since `marked`, where and in which units the new side keeps
// it; none when the column does not carry over or did not change.
absl::StatusOr<std::optional<LateDelta>> DeltaOf(
    const Mapping& mapping, Mover::Session& s, const std::string& table,
    const TableInfo& info, const std::string& key, const Row& row,
    const std::string& column, const std::string& marked) {
  const int i = info.IndexOf(column);
  if (i < 0) return std::nullopt;
  const std::string now = row[i].value_or("0");
  TANDEM_ASSIGN_OR_RETURN(std::string change, DecimalDifference(now, marked));
  if (IsZeroDecimal(change)) return std::nullopt;
  std::string target_table;
  const ColumnSpec* spec =
      SpecFor(mapping, s.direction, table, column, &target_table);
  if (spec == nullptr) return std::nullopt;
  // Where the row lives on the new side: convert it.
  CustomerRows one;
  one.Table(info).rows[key] = row;
  TANDEM_ASSIGN_OR_RETURN(DesiredState converted,
                          s.converter->Convert(one, CustomerRows()));
  auto t = converted.tables.find(target_table);
  if (t == converted.tables.end() || t->second.rows.empty()) {
    return std::nullopt;
  }
  const ColumnInfo* target_column = t->second.info->Find(spec->target);
  if (target_column == nullptr) return std::nullopt;
  std::string amount = change;
  if (!spec->convert.empty()) {
    const int64_t scale = mapping.conversions().at(spec->convert).scale;
    TANDEM_ASSIGN_OR_RETURN(
        Rescaled r,
        Rescale(change, spec->inverse ? -Log10(scale) : Log10(scale),
                target_column->IsDecimal() ? target_column->scale : 0));
    if (!r.exact) {
      return absl::FailedPreconditionError(
          absl::StrCat("a late change of ", table, ".", column, " (", change,
                       ") does not convert exactly"));
    }
    amount = r.text;
  }
  return LateDelta{target_table,
                   t->second.rows.begin()->first,
                   spec->target,
                   amount,
                   absl::StrCat(table, "|", column, "|", key),
                   now};
}

// The changes of the additive columns named by `marks` (table|column|key ->
// the value last carried) on the old side.
absl::StatusOr<std::vector<LateDelta>> AdditiveDeltas(
    const Mapping& mapping, Mover::Session& s, sql::Connection& read_conn,
    const BillingDb::Marks& marks) {
  std::map<std::string, std::vector<std::pair<std::string, std::string>>>
      by_table;  // table -> (key, column)
  for (const auto& [mark, value] : marks) {
    std::vector<std::string> parts =
        absl::StrSplit(mark, absl::MaxSplits('|', 2));
    if (parts.size() == 3) by_table[parts[0]].emplace_back(parts[2], parts[1]);
  }
  std::vector<LateDelta> deltas;
  for (const auto& [table, items] : by_table) {
    const TableInfo* info = s.read_db->schema().Find(table);
    if (info == nullptr) continue;
    std::vector<std::string> keys;
    for (const auto& [key, column] : items) keys.push_back(key);
    TANDEM_ASSIGN_OR_RETURN(auto rows,
                            s.read_db->FetchRows(read_conn, table, keys));
    for (const auto& [key, column] : items) {
      auto row = rows.find(key);
      if (row == rows.end()) continue;
      TANDEM_ASSIGN_OR_RETURN(
          std::optional<LateDelta> delta,
          DeltaOf(mapping, s, table, *info, key, row->second, column,
                  marks.at(absl::StrCat(table, "|", column, "|", key))));
      if (delta.has_value()) deltas.push_back(*std::move(delta));
    }
  }
  return deltas;
}

}  // namespace

absl::StatusOr<int64_t> Mover::CarryLateWrites(ItemRecord& record, Session& s,
                                               bool count_only) {
  const int64_t customer = record.item.customer_id();
  absl::StatusOr<MysqlPool::Lease> read_conn = s.read_db->pool().Acquire();
  if (!read_conn.ok()) return read_conn.status();
  TANDEM_ASSIGN_OR_RETURN(CustomerRows late,
                          NewAppendOnlyRows(*deps_.mapping, s, **read_conn));
  // Converted, and only those the new side does not hold yet.
  DesiredState inserts;
  if (!late.tables.empty()) {
    TANDEM_ASSIGN_OR_RETURN(inserts,
                            s.converter->Convert(late, CustomerRows()));
  }
  absl::StatusOr<MysqlPool::Lease> write_conn = s.write_db->pool().Acquire();
  if (!write_conn.ok()) return write_conn.status();
  TANDEM_ASSIGN_OR_RETURN(CustomerRows present,
                          DropPresent(s, **write_conn, inserts));
  // Balances and usage: the change since the last carried value, added.
  TANDEM_ASSIGN_OR_RETURN(BillingDb::Marks marks,
                          s.write_db->LoadMarks(**write_conn, customer));
  TANDEM_ASSIGN_OR_RETURN(
      std::vector<LateDelta> deltas,
      AdditiveDeltas(*deps_.mapping, s, **read_conn, marks));
  const int64_t carried =
      static_cast<int64_t>(inserts.RowCount() + deltas.size());
  if (count_only || carried == 0) return carried;
  Changes changes = Diff(inserts, present, s.write_order);
  TANDEM_RETURN_IF_ERROR(s.write_db->pool().Transaction(
      "carry late writes", [&](sql::Connection& conn) -> absl::Status {
        TANDEM_RETURN_IF_ERROR(
            s.write_db->Apply(conn, customer, changes).status());
        BillingDb::Marks updated;
        for (const LateDelta& delta : deltas) {
          TANDEM_RETURN_IF_ERROR(s.write_db->AddToColumn(
              conn, delta.table, delta.key, delta.column, delta.amount));
          updated[delta.mark] = delta.now;
        }
        return s.write_db->SaveMarks(conn, customer, updated, false);
      }));
  return carried;
}

absl::StatusOr<std::unique_ptr<Mover::Session>> Mover::NewTailSession(
    const ItemRecord& record) {
  TANDEM_ASSIGN_OR_RETURN(std::unique_ptr<Session> s, NewSession(record));
  {
    absl::StatusOr<MysqlPool::Lease> conn = s->read_db->pool().Acquire();
    if (!conn.ok()) return conn.status();
    // Only what converting late rows needs: the rows naming products.
    std::vector<std::string> tables;
    for (const TableMapping& t : deps_.mapping->tables(record.direction)) {
      for (const ColumnSpec& c : t.columns) {
        if (c.catalog == "product") tables.push_back(t.from);
      }
    }
    TANDEM_ASSIGN_OR_RETURN(
        s->read,
        s->read_db->ReadCustomer(**conn, record.item.customer_id(), tables));
  }
  BuildConverterFor(*deps_.mapping, deps_.schemas, *s, CustomerRows(),
                    record.options.allow_rounding(), false);
  return s;
}

std::vector<std::optional<Mover::TailProbe>> Mover::ProbeTails(
    const std::vector<ItemRecord>& records) {
  constexpr size_t kChunk = 200;
  std::vector<std::optional<TailProbe>> out(records.size());
  for (Direction d : {Direction::kMove, Direction::kRollback}) {
    std::vector<size_t> of;
    for (size_t i = 0; i < records.size(); ++i) {
      if (records[i].direction == d) of.push_back(i);
    }
    BillingDb* old_side = deps_.dbs[Mapping::ReadSide(d)];
    const auto columns = TailColumns(*deps_.mapping, d);
    for (size_t begin = 0; begin < of.size(); begin += kChunk) {
      const size_t end = std::min(of.size(), begin + kChunk);
      std::vector<int64_t> customers;
      for (size_t j = begin; j < end; ++j) {
        customers.push_back(records[of[j]].item.customer_id());
      }
      auto digests = RunReturning(
          old_side->pool(), "tail probes", [&](sql::Connection& conn) {
            return old_side->ColumnDigests(conn, customers, columns);
          });
      if (!digests.ok()) {
        TANDEM_LOG(Warning, "tail_probe_failed")
            .With("customers", customers.size())
            .With("error", digests.status().ToString());
        continue;
      }
      for (size_t j = begin; j < end; ++j) {
        auto it = digests->find(records[of[j]].item.customer_id());
        if (it != digests->end()) out[of[j]] = std::move(it->second);
      }
    }
  }
  return out;
}

absl::Status Mover::TailPass(ItemRecord& record, const TailProbe* probe) {
  const int64_t customer = record.item.customer_id();
  const absl::Time start = deps_.clock->Now();
  Session* s = nullptr;
  {
    absl::MutexLock lock(&mu_);
    auto it = tails_.find(customer);
    if (it != tails_.end()) s = it->second.get();
  }
  if (s == nullptr) {
    // A restarted worker: the session is rebuilt, and the first pass also
    // makes sure the statuses are as the flip left them.
    TANDEM_ASSIGN_OR_RETURN(std::unique_ptr<Session> fresh,
                            NewTailSession(record));
    TANDEM_RETURN_IF_ERROR(FinishFlip(record));
    absl::MutexLock lock(&mu_);
    s = (tails_[customer] = std::move(fresh)).get();
  }
  if (absl::Status f = Fault("tail_pass", customer); !f.ok()) return f;
  // The probe is read before anything is carried: a write that lands after
  // it is either carried now or moves the next probe.
  std::optional<TailProbe> read;
  if (probe == nullptr) {
    std::vector<std::optional<TailProbe>> one = ProbeTails({record});
    if (!one[0].has_value()) {
      return absl::UnavailableError("the tail probe could not be read");
    }
    read = std::move(one[0]);
    probe = &*read;
  }
  const bool moved = !(s->tail_totals == *probe);
  absl::StatusOr<int64_t> carried =
      moved ? CarryLateWrites(record, *s, /*count_only=*/false) : 0;
  if (!carried.ok()) {
    TANDEM_LOG(Warning, "tail_pass_failed")
        .With("customer_id", customer)
        .With("error", carried.status().ToString());
    return carried.status();
  }
  s->tail_totals = *probe;
  if (moved) deps_.metrics->Phase("tail_carry", deps_.clock->Now() - start);
  if (*carried > 0) {
    record.item.set_late_writes_carried(record.item.late_writes_carried() +
                                        *carried);
    deps_.metrics->LateWrites(*carried, 0);
    TANDEM_LOG(Info, "late_writes_carried")
        .With("customer_id", customer)
        .With("writes", *carried);
  }
  if (absl::ToUnixMillis(deps_.clock->Now()) >= record.tail_until_ms) {
    absl::MutexLock lock(&mu_);
    tails_.erase(customer);
    return Store(record, v1::ITEM_STATE_DONE);
  }
  if (*carried > 0) return Store(record, v1::ITEM_STATE_TAIL);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Mover::LateWritesAfterWindow(const ItemRecord& record) {
  TANDEM_ASSIGN_OR_RETURN(std::unique_ptr<Session> s, NewTailSession(record));
  s->read.tables.clear();
  ItemRecord copy = record;
  return CarryLateWrites(copy, *s, /*count_only=*/true);
}

absl::StatusOr<v1::VerifyCustomerResponse> Mover::Verify(int64_t customer,
                                                         int max_differences) {
  TANDEM_ASSIGN_OR_RETURN(rv1::Route route, deps_.router->GetRoute(customer));
  v1::VerifyCustomerResponse response;
  response.set_system(route.system());
  response.set_migrating(route.state() == rv1::ROUTE_STATE_MIGRATING);
  ItemRecord record;
  record.item.set_customer_id(customer);
  VerifyMode mode = VerifyMode::kAfterMove;
  if (route.state() == rv1::ROUTE_STATE_MIGRATING) {
    mode = VerifyMode::kStrict;
    record.direction = route.system() == ::tandem::common::v1::SYSTEM_SOURCE
                           ? Direction::kMove
                           : Direction::kRollback;
  } else {
    record.direction = route.system() == ::tandem::common::v1::SYSTEM_TARGET
                           ? Direction::kMove
                           : Direction::kRollback;
  }
  TANDEM_ASSIGN_OR_RETURN(std::optional<ItemRecord> latest,
                          deps_.store->LatestItem(customer));
  if (latest.has_value() && latest->direction == record.direction &&
      latest->item.has_plan()) {
    *record.item.mutable_plan() = latest->item.plan();
    record.tail_until_ms = latest->tail_until_ms;
    record.options = latest->options;
  } else if (mode == VerifyMode::kStrict) {
    TANDEM_ASSIGN_OR_RETURN(
        *record.item.mutable_plan(),
        deps_.catalog->PlanCustomer(
            customer, record.direction == Direction::kMove
                          ? ::tandem::common::v1::DIRECTION_MOVE
                          : ::tandem::common::v1::DIRECTION_ROLLBACK));
  } else {
    return absl::NotFoundError(absl::StrCat(
        "customer ", customer,
        " has not been moved by the migrator: there is nothing to compare"));
  }
  TANDEM_ASSIGN_OR_RETURN(std::unique_ptr<Session> s, NewSession(record));
  TANDEM_ASSIGN_OR_RETURN(Txn read, Txn::Begin(s->read_db->pool()));
  TANDEM_ASSIGN_OR_RETURN(Txn write, Txn::Begin(s->write_db->pool()));
  TANDEM_ASSIGN_OR_RETURN(
      s->read, s->read_db->ReadCustomer(read.conn(), customer,
                                        s->read_db->CustomerTables(true)));
  TANDEM_ASSIGN_OR_RETURN(
      CustomerRows written,
      s->write_db->ReadCustomer(write.conn(), customer,
                                s->write_db->CustomerTables(false)));
  BuildConverterFor(*deps_.mapping, deps_.schemas, *s, written, true,
                    mode == VerifyMode::kStrict);
  TANDEM_ASSIGN_OR_RETURN(DesiredState desired,
                          s->converter->Convert(s->read, written));
  Verifier verifier(*deps_.mapping, record.direction, *s->read_db, *s->write_db,
                    s->ids);
  TANDEM_ASSIGN_OR_RETURN(Verification v,
                          verifier.Verify(read.conn(), write.conn(), customer,
                                          desired, mode, max_differences));
  if (mode == VerifyMode::kAfterMove && latest.has_value() &&
      latest->item.state() == v1::ITEM_STATE_DONE) {
    // Past the tail window, anything still to carry is an alarm.
    s->read.tables.clear();
    absl::StatusOr<int64_t> late = CarryLateWrites(record, *s, true);
    if (late.ok() && *late > 0) {
      deps_.metrics->LateWrites(0, *late);
      AddDifference(
          &v,
          {Difference::kBusiness, "", "", "late writes after the tail window",
           "0", absl::StrCat(*late)},
          max_differences);
    }
  }
  ToProtoVerification(v, response.mutable_verification(),
                      absl::ToUnixMillis(deps_.clock->Now()),
                      mode == VerifyMode::kAfterMove);
  return response;
}

}  // namespace tandem::migrator
