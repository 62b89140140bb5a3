// The rehearsal of one customer (a DRY_RUN item): everything a move does
// before its flip, against the real target, inside one target transaction
// that is rolled back — so the target's tables end byte-identical (the copy
// carries the source's explicit ids, below the target's AUTO_INCREMENT, so
// no counter moves) and neither the route nor the source changes.
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <mysql_connection.h>

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "migrator/move/item_states.h"
#include "migrator/move/mover.h"
#include "migrator/move/mover_session.h"

namespace tandem::migrator {
namespace {

namespace v1 = ::tandem::migrator::v1;
using Stmt = std::unique_ptr<sql::PreparedStatement>;
using Rows = std::unique_ptr<sql::ResultSet>;

// The unique keys (other than the primary key) of a database's tables:
// table -> key name -> columns. Read once per database.
using UniqueKeys =
    std::map<std::string, std::map<std::string, std::vector<std::string>>>;

absl::StatusOr<UniqueKeys> UniqueKeysOf(sql::Connection& conn,
                                        const std::string& database) {
  static absl::Mutex mu;
  static auto* cache = new std::map<std::string, UniqueKeys>();
  absl::MutexLock lock(&mu);
  auto it = cache->find(database);
  if (it != cache->end()) return it->second;
  UniqueKeys keys;
  try {
    Stmt ps(conn.prepareStatement(
        "SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME FROM "
        "information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND "
        "NON_UNIQUE = 0 AND INDEX_NAME <> 'PRIMARY' ORDER BY TABLE_NAME, "
        "INDEX_NAME, SEQ_IN_INDEX"));
    ps->setString(1, database);
    Rows rs(ps->executeQuery());
    while (rs->next()) {
      keys[rs->getString(1)][rs->getString(2)].push_back(rs->getString(3));
    }
  } catch (const sql::SQLException& e) {
    return MysqlErrorToStatus(e, "read unique keys");
  }
  (*cache)[database] = keys;
  return keys;
}

// Rows of the side written, other than the customer's own, that hold a
// unique value the customer's desired rows would take.
absl::StatusOr<std::vector<v1::KeyConflict>> FindKeyConflicts(
    sql::Connection& conn, const BillingDb& db, const Mapping& mapping,
    const DesiredState& desired) {
  TANDEM_ASSIGN_OR_RETURN(UniqueKeys unique, UniqueKeysOf(conn, db.database()));
  std::vector<v1::KeyConflict> out;
  for (const auto& [name, table] : desired.tables) {
    auto keys = unique.find(name);
    if (keys == unique.end() || table.info == nullptr) continue;
    const TableInfo& info = *table.info;
    const OwnerSpec* owner = mapping.OwnerOf(db.side(), name);
    const std::string owner_column =
        owner != nullptr && owner->direct() ? owner->column : "";
    for (const auto& [key_name, columns] : keys->second) {
      std::vector<int> index;
      for (const std::string& c : columns) index.push_back(info.IndexOf(c));
      // value tuple -> the desired row's primary key
      std::map<std::vector<std::string>, std::string> wanted;
      for (const auto& [pk, row] : table.rows) {
        std::vector<std::string> value;
        for (int i : index) {
          if (i < 0 || !row.set[i] || !row.values[i]) break;
          value.push_back(*row.values[i]);
        }
        if (value.size() == columns.size()) wanted[value] = pk;
      }
      if (wanted.empty()) continue;
      std::vector<std::string> select;
      for (const std::string& k : info.primary_key) {
        select.push_back(QuoteIdent(k));
      }
      for (const std::string& c : columns) select.push_back(QuoteIdent(c));
      select.push_back(owner_column.empty() ? "0" : QuoteIdent(owner_column));
      std::vector<std::string> quoted;
      for (const std::string& c : columns) quoted.push_back(QuoteIdent(c));
      std::vector<std::vector<std::string>> values;
      for (const auto& [value, pk] : wanted) values.push_back(value);
      for (size_t start = 0; start < values.size(); start += 500) {
        const size_t n = std::min<size_t>(500, values.size() - start);
        std::string marks;
        for (size_t i = 0; i < n; ++i) {
          std::string one = "(";
          for (size_t c = 0; c < columns.size(); ++c) one += c ? ",?" : "?";
          marks += (i ? "," : "") + one + ")";
        }
        try {
          Stmt ps(conn.prepareStatement(absl::StrCat(
              "SELECT ", absl::StrJoin(select, ","), " FROM ",
              QuoteIdent(db.database()), ".", QuoteIdent(name), " WHERE (",
              absl::StrJoin(quoted, ","), ") IN (", marks, ")")));
          int p = 1;
          for (size_t i = start; i < start + n; ++i) {
            for (const std::string& v : values[i]) ps->setString(p++, v);
          }
          Rows rs(ps->executeQuery());
          const int pk_n = static_cast<int>(info.primary_key.size());
          while (rs->next()) {
            std::vector<std::string> pk, value;
            for (int i = 1; i <= pk_n; ++i) pk.emplace_back(rs->getString(i));
            for (size_t c = 0; c < columns.size(); ++c) {
              value.emplace_back(rs->getString(pk_n + 1 + c));
            }
            auto mine = wanted.find(value);
            if (mine == wanted.end() || mine->second == EncodeKey(pk)) {
              continue;  // the customer's own row
            }
            v1::KeyConflict k;
            k.set_table(name);
            k.set_key(key_name);
            k.set_value(absl::StrJoin(value, ","));
            k.set_held_by_customer_id(
                rs->getInt64(pk_n + 1 + static_cast<int>(columns.size())));
            out.push_back(std::move(k));
          }
        } catch (const sql::SQLException& e) {
          return MysqlErrorToStatus(e, "find key conflicts");
        }
      }
    }
  }
  return out;
}

}  // namespace

absl::Status Mover::Rehearse(ItemRecord& record) {
  record.item.set_attempts(record.item.attempts() + 1);
  if (record.item.started_at_unix_ms() == 0) {
    record.item.set_started_at_unix_ms(absl::ToUnixMillis(deps_.clock->Now()));
  }
  while (!IsTerminal(record.item.state()) && !record.stopped) {
    TANDEM_ASSIGN_OR_RETURN(bool stop, Interrupted(record));
    if (stop) break;
    if (record.direction != Direction::kMove) {
      return Fail(record, v1::FAILURE_KIND_TRANSFORM_ERROR,
                  "a dry run rehearses moves, not rollbacks", false);
    }
    TANDEM_RETURN_IF_ERROR(Plan(record));
    if (record.item.state() != v1::ITEM_STATE_PRE_COPY) continue;
    absl::StatusOr<std::unique_ptr<Session>> session = NewSession(record);
    if (!session.ok()) {
      return Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                  std::string(session.status().message()), false);
    }
    TANDEM_RETURN_IF_ERROR(RehearseCopy(record, **session));
  }
  return absl::OkStatus();
}

absl::Status Mover::RehearseCopy(ItemRecord& record, Session& s) {
  const int64_t customer = record.item.customer_id();
  v1::DryRunResult* dry = record.item.mutable_dry_run();
  dry->Clear();
  std::set<int> outcomes;
  for (const auto& sub : record.item.plan().subscriptions()) {
    for (int o : sub.outcomes()) outcomes.insert(o);
  }
  for (int o : outcomes) {
    dry->add_plan_outcomes(static_cast<::tandem::catalog::v1::PlanOutcome>(o));
  }
  auto fail = [&](v1::FailureKind kind, const absl::Status& why) {
    return Fail(record, kind, std::string(why.message()), false);
  };
  absl::StatusOr<Txn> snapshot = Txn::Begin(s.read_db->pool());
  if (!snapshot.ok())
    return fail(v1::FAILURE_KIND_DATABASE_ERROR, snapshot.status());
  absl::StatusOr<CustomerRows> read =
      s.read_db->ReadCustomer(snapshot->conn(), customer,
                              s.read_db->CustomerTables(true), &s.read_hashes);
  if (!read.ok()) return fail(v1::FAILURE_KIND_DATABASE_ERROR, read.status());
  s.read = *std::move(read);
  snapshot->Rollback();
  // Everything written to the target from here is in this transaction,
  // rolled back whatever happens.
  absl::StatusOr<Txn> target = Txn::Begin(s.write_db->pool(), false);
  if (!target.ok())
    return fail(v1::FAILURE_KIND_DATABASE_ERROR, target.status());
  absl::StatusOr<CustomerRows> written = s.write_db->ReadCustomer(
      target->conn(), customer, s.write_db->CustomerTables(false));
  if (!written.ok()) {
    return fail(v1::FAILURE_KIND_DATABASE_ERROR, written.status());
  }
  BuildConverterFor(*deps_.mapping, deps_.schemas, s, *written,
                    record.options.allow_rounding(), true);
  absl::StatusOr<DesiredState> desired = s.converter->Convert(s.read, *written);
  if (!desired.ok()) {
    return fail(v1::FAILURE_KIND_TRANSFORM_ERROR, desired.status());
  }
  s.desired = *std::move(desired);
  for (const std::string& w : s.desired.warnings) {
    if (record.item.warnings_size() < 100) record.item.add_warnings(w);
  }
  TANDEM_ASSIGN_OR_RETURN(bool go,
                          RehearseWrite(record, s, target->conn(), *written));
  if (!go) return absl::OkStatus();
  return RehearseCutover(record, s, *target);
}

absl::StatusOr<bool> Mover::RehearseWrite(ItemRecord& record, Session& s,
                                          sql::Connection& target,
                                          const CustomerRows& written) {
  v1::DryRunResult* dry = record.item.mutable_dry_run();
  absl::StatusOr<std::vector<v1::KeyConflict>> conflicts =
      FindKeyConflicts(target, *s.write_db, *deps_.mapping, s.desired);
  if (!conflicts.ok()) {
    return Stopped(Fail(record, v1::FAILURE_KIND_DATABASE_ERROR,
                        std::string(conflicts.status().message()), false));
  }
  Changes changes = Diff(s.desired, written, s.write_order);
  for (const TableChanges& t : changes.tables) {
    (*dry->mutable_projected_rows())[t.info->name] +=
        static_cast<int64_t>(t.upserts.size() + t.deletes.size());
  }
  dry->set_projected_rows_total(static_cast<int64_t>(changes.RowCount()));
  record.item.set_rows_copied(dry->projected_rows_total());
  if (!conflicts->empty()) {
    std::vector<std::string> what;
    for (const v1::KeyConflict& k : *conflicts) {
      *dry->add_key_conflicts() = k;
      if (what.size() < 5) {
        what.push_back(absl::StrCat(k.table(), ".", k.key(), " '", k.value(),
                                    "' held by customer ",
                                    k.held_by_customer_id()));
      }
    }
    return Stopped(Fail(
        record, v1::FAILURE_KIND_KEY_CONFLICT,
        absl::StrCat("the target already holds ", absl::StrJoin(what, "; ")),
        false));
  }
  absl::StatusOr<int64_t> applied =
      s.write_db->Apply(target, record.item.customer_id(), changes);
  if (!applied.ok()) {
    return Stopped(Fail(record, KindOfWrite(applied.status()),
                        std::string(applied.status().message()), false));
  }
  s.mirror = MirrorOf(s.desired);
  TANDEM_RETURN_IF_ERROR(Store(record, v1::ITEM_STATE_VERIFYING));
  return true;
}

absl::Status Mover::RehearseCutover(ItemRecord& record, Session& s,
                                    Txn& target) {
  v1::DryRunResult* dry = record.item.mutable_dry_run();
  auto fail = [&](v1::FailureKind kind, const absl::Status& why) {
    return Fail(record, kind, std::string(why.message()), false);
  };
  // The would-be cutover, measured: a catch-up round against a fresh
  // snapshot of the source written into the same transaction, then the
  // two-fold verification, as the cutover makes them (without the hold).
  const absl::Time cutover_start = deps_.clock->Now();
  absl::StatusOr<Txn> fresh = Txn::Begin(s.read_db->pool());
  if (!fresh.ok()) return fail(v1::FAILURE_KIND_DATABASE_ERROR, fresh.status());
  int64_t changed = 0;
  absl::Status caught = CatchUp(s, fresh->conn(), &target.conn(), &changed);
  if (!caught.ok()) return fail(KindOfWrite(caught), caught);
  Verifier verifier(*deps_.mapping, record.direction, *s.read_db, *s.write_db,
                    s.ids);
  absl::StatusOr<Verification> verification =
      verifier.Verify(fresh->conn(), target.conn(), record.item.customer_id(),
                      s.desired, VerifyMode::kStrict, options_.max_differences);
  const absl::Duration would_hold = deps_.clock->Now() - cutover_start;
  target.Rollback();
  fresh->Rollback();
  if (!verification.ok()) {
    return fail(v1::FAILURE_KIND_DATABASE_ERROR, verification.status());
  }
  dry->set_projected_cutover_ms(absl::ToInt64Milliseconds(would_hold));
  record.item.set_cutover_ms(dry->projected_cutover_ms());
  ToProtoVerification(*verification, record.item.mutable_verification(),
                      absl::ToUnixMillis(deps_.clock->Now()), false);
  if (!verification->equal) {
    return Fail(record, v1::FAILURE_KIND_VERIFY_MISMATCH,
                "the rehearsed copy differs from the source (see the "
                "verification)",
                false);
  }
  TANDEM_LOG(Info, "customer_rehearsed")
      .With("customer_id", record.item.customer_id())
      .With("rows", dry->projected_rows_total())
      .With("would_hold_ms", dry->projected_cutover_ms());
  deps_.metrics->Finished(record.direction, "rehearsed");
  return Store(record, v1::ITEM_STATE_DONE);
}

}  // namespace tandem::migrator
