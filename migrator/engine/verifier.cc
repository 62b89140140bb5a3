#include "migrator/engine/verifier.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <mysql_connection.h>

#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "migrator/engine/values.h"

namespace tandem::migrator {
namespace {

using Stmt = std::unique_ptr<sql::PreparedStatement>;
using Rows = std::unique_ptr<sql::ResultSet>;

// A key holds an id of the native range when any numeric part is at least
// `native_start`.
bool IsNativeKey(const std::string& key, int64_t native_start) {
  for (const std::string& part : DecodeKey(key)) {
    int64_t id = 0;
    if (absl::SimpleAtoi(part, &id) && id >= native_start) return true;
  }
  return false;
}

// A money value of `side` in target units (the integer form), for
// comparing across the versions.
absl::StatusOr<std::string> InTargetUnits(const Mapping& m, SchemaSide side,
                                          const std::string& convert,
                                          const std::string& value) {
  if (side == kTargetSide || convert.empty()) {
    absl::StatusOr<Rescaled> r = Rescale(value, 0, 0);
    return r.ok() ? r->text : value;
  }
  const int shift = Log10(m.conversions().at(convert).scale);
  absl::StatusOr<Rescaled> r = Rescale(value, shift, 0);
  if (!r.ok()) return r.status();
  return r->exact ? r->text : r->exact_text;
}

}  // namespace

void AddDifference(Verification* v, Difference d, int max_differences) {
  v->equal = false;
  if (static_cast<int>(v->differences.size()) >= max_differences) {
    v->truncated = true;
    return;
  }
  v->differences.push_back(std::move(d));
}

Verifier::Verifier(const Mapping& mapping, Direction direction,
                   BillingDb& read_db, BillingDb& write_db, const IdMap& ids)
    : mapping_(mapping),
      direction_(direction),
      read_db_(read_db),
      write_db_(write_db),
      ids_(ids) {}

absl::StatusOr<Verification> Verifier::Verify(
    sql::Connection& read_conn, sql::Connection& write_conn,
    int64_t customer_id, const DesiredState& desired, VerifyMode mode,
    int max_differences, bool business) const {
  Verification out;
  TANDEM_RETURN_IF_ERROR(CompareRows(write_conn, customer_id, desired, mode,
                                     max_differences, &out));
  if (!business) return out;
  TANDEM_RETURN_IF_ERROR(
      CheckBalances(read_conn, write_conn, customer_id, max_differences, &out));
  TANDEM_RETURN_IF_ERROR(CheckTotals(read_conn, write_conn, customer_id, mode,
                                     max_differences, desired.rounded_tables,
                                     &out));
  return out;
}

absl::Status Verifier::CompareRows(sql::Connection& write_conn,
                                   int64_t customer_id,
                                   const DesiredState& desired, VerifyMode mode,
                                   int max_differences,
                                   Verification* out) const {
  const std::vector<std::string> tables = write_db_.CustomerTables(false);
  TANDEM_ASSIGN_OR_RETURN(
      Hashes actual, write_db_.HashCustomer(write_conn, customer_id, tables));
  const SchemaSide write_side = Mapping::WriteSide(direction_);
  const CustomerSpec& customer = mapping_.customer(write_side);
  // Which written tables are append-only (for the after-move mode).
  std::set<std::string> append_only;
  for (const TableMapping& t : mapping_.tables(direction_)) {
    if (t.append_only) append_only.insert(t.to);
  }
  for (const std::string& name : tables) {
    const TableInfo* info = write_db_.schema().Find(name);
    if (info == nullptr) continue;
    TableCompare cmp;
    cmp.table = name;
    const std::map<std::string, std::string>& have = actual[name];
    cmp.actual_rows = static_cast<int64_t>(have.size());
    static const DesiredTable kEmpty;
    auto it = desired.tables.find(name);
    const DesiredTable& want = it == desired.tables.end() ? kEmpty : it->second;
    cmp.expected_rows = static_cast<int64_t>(want.rows.size());
    const bool after = mode == VerifyMode::kAfterMove;
    if (after && !append_only.count(name)) {
      // Authoritative on the side written now: owned by its users.
      out->tables.push_back(cmp);
      continue;
    }
    std::vector<std::string> fetch;  // rows to compare column by column
    for (const auto& [key, row] : want.rows) {
      auto h = have.find(key);
      if (h == have.end()) {
        ++cmp.missing;
        AddDifference(out, {Difference::kMissing, name, key, "", "", ""},
                      max_differences);
        continue;
      }
      bool all_set = true;
      for (bool s : row.set) all_set = all_set && s;
      if (all_set && row.hash.empty()) row.hash = RowHash(row.values);
      if (!all_set || name == customer.table || row.hash != h->second) {
        fetch.push_back(key);
      }
    }
    for (const auto& [key, hash] : have) {
      if (want.rows.count(key)) continue;
      if (after && IsNativeKey(key, mapping_.native_id_start())) {
        ++cmp.native;
        continue;
      }
      ++cmp.extra;
      AddDifference(out, {Difference::kExtra, name, key, "", "", ""},
                    max_differences);
    }
    if (!fetch.empty()) {
      const int status =
          after && name == customer.table ? info->IndexOf(customer.status) : -1;
      TANDEM_RETURN_IF_ERROR(CompareValues(write_conn, *info, want, fetch,
                                           status, max_differences, &cmp, out));
    }
    out->tables.push_back(cmp);
  }
  return absl::OkStatus();
}

absl::Status Verifier::CompareValues(sql::Connection& write_conn,
                                     const TableInfo& info,
                                     const DesiredTable& want,
                                     const std::vector<std::string>& fetch,
                                     int skip_column, int max_differences,
                                     TableCompare* cmp,
                                     Verification* out) const {
  TANDEM_ASSIGN_OR_RETURN(auto rows,
                          write_db_.FetchRows(write_conn, info.name, fetch));
  for (const std::string& key : fetch) {
    const DesiredRow& row = want.rows.at(key);
    auto r = rows.find(key);
    if (r == rows.end()) continue;  // deleted meanwhile: counted missing
    bool differs = false;
    for (size_t i = 0; i < row.values.size(); ++i) {
      if (!row.set[i] || static_cast<int>(i) == skip_column) continue;
      if (row.values[i] != r->second[i]) {
        differs = true;
        AddDifference(
            out,
            {Difference::kValue, info.name, key, info.columns[i].name,
             row.values[i].value_or("NULL"), r->second[i].value_or("NULL")},
            max_differences);
      }
    }
    if (differs) ++cmp->differing;
  }
  return absl::OkStatus();
}

absl::Status Verifier::CheckBalances(sql::Connection& read_conn,
                                     sql::Connection& write_conn,
                                     int64_t customer_id, int max_differences,
                                     Verification* out) const {
  const SchemaSide read_side = Mapping::ReadSide(direction_);
  for (const BalanceSpec& b : mapping_.balances()) {
    // Opening value per holder, in target units, on each side.
    std::map<std::string, std::string> opening[2];
    for (SchemaSide side : {kSourceSide, kTargetSide}) {
      const BalanceSide& v = b.v[side];
      BillingDb& db = side == read_side ? read_db_ : write_db_;
      sql::Connection& conn = side == read_side ? read_conn : write_conn;
      // One pass over the customer's transactions, grouped by holder (a
      // correlated sum per holder would rescan them for every account).
      std::string filter = absl::StrCat(QuoteIdent(v.tx_owner), " = ?");
      if (!v.tx_only_null.empty()) {
        absl::StrAppend(&filter, " AND ", QuoteIdent(v.tx_only_null),
                        " IS NULL");
      }
      const std::string db_name = QuoteIdent(db.database());
      const std::string sql = absl::StrCat(
          "SELECT h.", QuoteIdent(v.holder_key), ", h.", QuoteIdent(v.balance),
          " - IFNULL(t.total, 0) FROM ", db_name, ".",
          QuoteIdent(v.holder_table), " h LEFT JOIN (SELECT ",
          QuoteIdent(v.tx_holder), " AS holder, SUM(", QuoteIdent(v.tx_amount),
          ") AS total FROM ", db_name, ".", QuoteIdent(v.tx_table), " WHERE ",
          filter, " GROUP BY ", QuoteIdent(v.tx_holder), ") t ON t.holder = h.",
          QuoteIdent(v.holder_key), " WHERE h.", QuoteIdent(v.holder_owner),
          " = ?");
      try {
        Stmt ps(conn.prepareStatement(sql));
        ps->setInt64(1, customer_id);
        ps->setInt64(2, customer_id);
        Rows rs(ps->executeQuery());
        while (rs->next()) {
          std::string key = rs->getString(1);
          if (side == kSourceSide) key = ids_.ToTarget(v.holder_table, key);
          TANDEM_ASSIGN_OR_RETURN(
              opening[side][key],
              InTargetUnits(mapping_, side, b.convert, rs->getString(2)));
        }
      } catch (const sql::SQLException& e) {
        return MysqlErrorToStatus(e, "balance check");
      }
    }
    for (const auto& [key, value] : opening[kSourceSide]) {
      ++out->business_checks;
      auto other = opening[kTargetSide].find(key);
      const std::string actual =
          other == opening[kTargetSide].end() ? "absent" : other->second;
      if (actual != value) {
        AddDifference(
            out,
            {Difference::kBusiness, b.v[kTargetSide].holder_table, key,
             absl::StrCat(b.name, ": balance minus transactions"), value,
             actual},
            max_differences);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Verifier::CheckTotals(sql::Connection& read_conn,
                                   sql::Connection& write_conn,
                                   int64_t customer_id, VerifyMode mode,
                                   int max_differences,
                                   const std::set<std::string>& rounded,
                                   Verification* out) const {
  const SchemaSide read_side = Mapping::ReadSide(direction_);
  for (const TotalsCheck& c : mapping_.checks()) {
    if (rounded.count(c.v[Mapping::WriteSide(direction_)].table)) continue;
    // group key -> (count, total in target units)
    std::map<std::string, std::pair<int64_t, std::string>> totals[2];
    for (SchemaSide side : {kSourceSide, kTargetSide}) {
      const TotalsSide& v = c.v[side];
      BillingDb& db = side == read_side ? read_db_ : write_db_;
      sql::Connection& conn = side == read_side ? read_conn : write_conn;
      const std::string month =
          v.month.empty()
              ? std::string("''")
              : absl::StrCat("DATE_FORMAT(", QuoteIdent(v.month), ", '%Y-%m')");
      std::string where = absl::StrCat(QuoteIdent(v.owner), " = ?");
      // After the move, rows created natively on the written side are its
      // own business, not a difference.
      const bool skip_native = mode == VerifyMode::kAfterMove &&
                               side == Mapping::WriteSide(direction_);
      const TableInfo* info = db.schema().Find(v.table);
      if (skip_native && info != nullptr && info->primary_key.size() == 1) {
        absl::StrAppend(&where, " AND ", QuoteIdent(info->primary_key[0]),
                        " < ", mapping_.native_id_start());
      }
      const std::string sql =
          absl::StrCat("SELECT IFNULL(", QuoteIdent(v.group), ", ''), ", month,
                       ", COUNT(*), IFNULL(SUM(", QuoteIdent(v.sum),
                       "), 0) FROM ", QuoteIdent(db.database()), ".",
                       QuoteIdent(v.table), " WHERE ", where, " GROUP BY 1, 2");
      try {
        Stmt ps(conn.prepareStatement(sql));
        ps->setInt64(1, customer_id);
        Rows rs(ps->executeQuery());
        while (rs->next()) {
          std::string group = rs->getString(1);
          const std::string key =
              absl::StrCat(group, " ", std::string(rs->getString(2)));
          TANDEM_ASSIGN_OR_RETURN(
              std::string total,
              InTargetUnits(mapping_, side, c.convert, rs->getString(4)));
          totals[side][key] = {rs->getInt64(3), total};
        }
      } catch (const sql::SQLException& e) {
        return MysqlErrorToStatus(e, "totals check");
      }
    }
    std::set<std::string> groups;
    for (int s = 0; s < 2; ++s) {
      for (const auto& [key, value] : totals[s]) groups.insert(key);
    }
    for (const std::string& group : groups) {
      ++out->business_checks;
      auto a = totals[kSourceSide].find(group);
      auto b = totals[kTargetSide].find(group);
      const std::string expected =
          a == totals[kSourceSide].end()
              ? "none"
              : absl::StrCat(a->second.first, " rows, total ",
                             a->second.second);
      const std::string actual =
          b == totals[kTargetSide].end()
              ? "none"
              : absl::StrCat(b->second.first, " rows, total ",
                             b->second.second);
      if (expected != actual) {
        AddDifference(out,
                      {Difference::kBusiness, c.v[kTargetSide].table, group,
                       c.name, expected, actual},
                      max_differences);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace tandem::migrator
