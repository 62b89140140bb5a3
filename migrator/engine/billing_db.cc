#include "migrator/engine/billing_db.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/mysql_pool.h"
#include "common/status_macros.h"
#include "migrator/engine/values.h"
#include "migrator/engine/write_guard.h"

namespace tandem::migrator {
namespace {

using Stmt = std::unique_ptr<sql::PreparedStatement>;
using Rows = std::unique_ptr<sql::ResultSet>;

constexpr size_t kBatch = 1000;

Row ReadRow(sql::ResultSet& rs, size_t columns, int offset = 0) {
  Row row(columns);
  for (size_t i = 0; i < columns; ++i) {
    const int index = static_cast<int>(i) + 1 + offset;
    if (!rs.isNull(index)) row[i] = std::string(rs.getString(index));
  }
  return row;
}

void Bind(sql::PreparedStatement& ps, int index, const Value& value) {
  if (value.has_value()) {
    ps.setString(index, *value);
  } else {
    ps.setNull(index, 0);
  }
}

// "(`a`,`b`) IN ((?,?),(?,?))" or "`a` IN (?,?)" for `n` keys.
std::string KeyIn(const TableInfo& table, size_t n) {
  std::vector<std::string> cols;
  for (const std::string& k : table.primary_key) cols.push_back(QuoteIdent(k));
  if (cols.size() == 1)
    return absl::StrCat(cols[0], " IN (", Placeholders(n), ")");
  std::string tuple = absl::StrCat("(", Placeholders(cols.size()), ")");
  std::string tuples;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) tuples += ",";
    tuples += tuple;
  }
  return absl::StrCat("(", absl::StrJoin(cols, ","), ") IN (", tuples, ")");
}

void BindKeys(sql::PreparedStatement& ps, const std::vector<std::string>& keys,
              size_t start, size_t n, int first_index = 1) {
  int p = first_index;
  for (size_t i = start; i < start + n; ++i) {
    for (const std::string& part : DecodeKey(keys[i])) ps.setString(p++, part);
  }
}

}  // namespace

size_t Changes::RowCount() const {
  size_t n = 0;
  for (const TableChanges& t : tables) n += t.deletes.size() + t.upserts.size();
  return n;
}

Changes Diff(const DesiredState& desired, const CustomerRows& current,
             const std::vector<std::string>& order,
             const std::set<RowRef>* only) {
  Changes changes;
  for (const std::string& name : order) {
    TableChanges t;
    auto want = desired.tables.find(name);
    const TableRows* have = current.Find(name);
    if (want != desired.tables.end()) t.info = want->second.info;
    if (have != nullptr && t.info == nullptr) t.info = have->info;
    if (t.info == nullptr) continue;
    auto consider = [&](const std::string& key) {
      const DesiredRow* row = nullptr;
      if (want != desired.tables.end()) {
        auto it = want->second.rows.find(key);
        if (it != want->second.rows.end()) row = &it->second;
      }
      const Row* now = nullptr;
      if (have != nullptr) {
        auto it = have->rows.find(key);
        if (it != have->rows.end()) now = &it->second;
      }
      if (row == nullptr) {
        if (now != nullptr) t.deletes.push_back(key);
        return;
      }
      bool same = now != nullptr;
      for (size_t i = 0; same && i < row->values.size(); ++i) {
        if (row->set[i] && row->values[i] != (*now)[i]) same = false;
      }
      if (!same) {
        t.upserts.emplace_back(key, row);
        if (now != nullptr) t.replaces.push_back(key);
      }
    };
    if (only != nullptr) {
      for (auto it = only->lower_bound({name, ""});
           it != only->end() && it->first == name; ++it) {
        consider(it->second);
      }
    } else {
      if (have != nullptr) {
        for (const auto& [key, row] : have->rows) {
          if (want == desired.tables.end() || !want->second.rows.count(key)) {
            t.deletes.push_back(key);
          }
        }
      }
      if (want != desired.tables.end()) {
        for (const auto& [key, row] : want->second.rows) consider(key);
      }
    }
    if (!t.deletes.empty() || !t.upserts.empty()) {
      changes.tables.push_back(std::move(t));
    }
  }
  return changes;
}

void UpdateMirror(const DesiredState& desired, const std::set<RowRef>& touched,
                  CustomerRows* mirror) {
  for (const RowRef& ref : touched) {
    auto table = desired.tables.find(ref.first);
    const DesiredRow* row = nullptr;
    if (table != desired.tables.end()) {
      auto it = table->second.rows.find(ref.second);
      if (it != table->second.rows.end()) row = &it->second;
    }
    if (row == nullptr) {
      auto m = mirror->tables.find(ref.first);
      if (m != mirror->tables.end()) m->second.rows.erase(ref.second);
      continue;
    }
    mirror->Table(*table->second.info).rows[ref.second] = row->values;
  }
}

BillingDb::BillingDb(MysqlPool* pool, std::string database,
                     const LiveSchema* schema, const Mapping* mapping,
                     SchemaSide side, std::string bookkeeping_db)
    : pool_(pool),
      database_(std::move(database)),
      schema_(schema),
      mapping_(mapping),
      side_(side),
      bookkeeping_db_(std::move(bookkeeping_db)) {}

std::string BillingDb::Qualified(const std::string& table) const {
  return absl::StrCat(QuoteIdent(database_), ".", QuoteIdent(table));
}

std::string BillingDb::fence_table() const { return Book("fences"); }

std::string BillingDb::Book(const std::string& table) const {
  return absl::StrCat(QuoteIdent(bookkeeping_db_), ".", QuoteIdent(table));
}

absl::Status BillingDb::EnsureBookkeeping() {
  return pool_->Run("create bookkeeping", [&](sql::Connection& conn) {
    std::unique_ptr<sql::Statement> s(conn.createStatement());
    s->execute(absl::StrCat("CREATE DATABASE IF NOT EXISTS ",
                            QuoteIdent(bookkeeping_db_)));
    s->execute(absl::StrCat(
        "CREATE TABLE IF NOT EXISTS ", Book("id_map"),
        " (space VARCHAR(64) NOT NULL, target_id VARCHAR(64) NOT NULL,"
        " source_id VARCHAR(64) NOT NULL, customer_id BIGINT NOT NULL,"
        " PRIMARY KEY (space, target_id), KEY by_customer (customer_id))"
        " ENGINE=InnoDB"));
    s->execute(absl::StrCat(
        "CREATE TABLE IF NOT EXISTS ", Book("tail_marks"),
        " (customer_id BIGINT NOT NULL, mark VARCHAR(700) NOT NULL,"
        " value VARCHAR(64) NOT NULL, PRIMARY KEY (customer_id, mark))"
        " ENGINE=InnoDB"));
    s->execute(FenceTableDdl(Book("fences")));
    return absl::OkStatus();
  });
}

std::vector<std::string> BillingDb::CustomerTables(bool reading) const {
  std::set<std::string> names;
  for (Direction d : {Direction::kMove, Direction::kRollback}) {
    for (const TableMapping& t : mapping_->tables(d)) {
      if (reading && Mapping::ReadSide(d) == side_) names.insert(t.from);
      if (!reading && Mapping::WriteSide(d) == side_) names.insert(t.to);
    }
  }
  return {names.begin(), names.end()};
}

std::string BillingDb::OwnerFilter(const std::string& table, bool) const {
  const OwnerSpec* owner = mapping_->OwnerOf(side_, table);
  if (owner == nullptr) return "WHERE FALSE AND ? IS NULL";
  if (owner->direct()) {
    return absl::StrCat("WHERE ", QuoteIdent(owner->column), " = ?");
  }
  return absl::StrCat("WHERE ", QuoteIdent(owner->via_key), " IN (SELECT ",
                      QuoteIdent(owner->via_key), " FROM ",
                      Qualified(owner->via_table), " WHERE ",
                      QuoteIdent(owner->via_owner), " = ?)");
}

absl::StatusOr<CustomerRows> BillingDb::ReadCustomer(
    sql::Connection& conn, int64_t customer_id,
    const std::vector<std::string>& tables, Hashes* hashes) const {
  CustomerRows out;
  try {
    for (const std::string& name : tables) {
      const TableInfo* info = schema_->Find(name);
      if (info == nullptr) {
        return absl::FailedPreconditionError(
            absl::StrCat("table ", name, " does not exist"));
      }
      std::vector<std::string> cols;
      for (const ColumnInfo& c : info->columns) {
        cols.push_back(QuoteIdent(c.name));
      }
      if (hashes != nullptr) cols.push_back(HashExpression(*info));
      Stmt ps(conn.prepareStatement(
          absl::StrCat("SELECT ", absl::StrJoin(cols, ","), " FROM ",
                       Qualified(name), " ", OwnerFilter(name, true))));
      ps->setInt64(1, customer_id);
      Rows rs(ps->executeQuery());
      TableRows& t = out.Table(*info);
      const int hash_column = static_cast<int>(info->columns.size()) + 1;
      while (rs->next()) {
        Row row = ReadRow(*rs, info->columns.size());
        std::string key = KeyOf(*info, row);
        if (hashes != nullptr) {
          (*hashes)[name][key] = rs->getString(hash_column);
        }
        t.rows.emplace(std::move(key), std::move(row));
      }
    }
  } catch (const sql::SQLException& e) {
    return MysqlErrorToStatus(e, "read customer");
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> BillingDb::KeysOf(
    sql::Connection& conn, int64_t customer_id,
    const std::string& table) const {
  const TableInfo* info = schema_->Find(table);
  if (info == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("table ", table, " does not exist"));
  }
  std::vector<std::string> keys;
  std::vector<std::string> cols;
  for (const std::string& k : info->primary_key) cols.push_back(QuoteIdent(k));
  try {
    Stmt ps(conn.prepareStatement(
        absl::StrCat("SELECT ", absl::StrJoin(cols, ","), " FROM ",
                     Qualified(table), " ", OwnerFilter(table, true))));
    ps->setInt64(1, customer_id);
    Rows rs(ps->executeQuery());
    const int n = static_cast<int>(cols.size());
    while (rs->next()) {
      std::vector<std::string> parts;
      for (int i = 1; i <= n; ++i) parts.emplace_back(rs->getString(i));
      keys.push_back(EncodeKey(parts));
    }
  } catch (const sql::SQLException& e) {
    return MysqlErrorToStatus(e, "read keys");
  }
  return keys;
}

absl::StatusOr<std::map<std::string, Row>> BillingDb::FetchRows(
    sql::Connection& conn, const std::string& table,
    const std::vector<std::string>& keys,
    std::map<std::string, std::string>* hashes) const {
  std::map<std::string, Row> out;
  const TableInfo* info = schema_->Find(table);
  if (info == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("table ", table, " does not exist"));
  }
  std::vector<std::string> cols;
  for (const ColumnInfo& c : info->columns) cols.push_back(QuoteIdent(c.name));
  if (hashes != nullptr) cols.push_back(HashExpression(*info));
  const int hash_column = static_cast<int>(info->columns.size()) + 1;
  try {
    for (size_t start = 0; start < keys.size(); start += kBatch) {
      const size_t n = std::min(kBatch, keys.size() - start);
      Stmt ps(conn.prepareStatement(
          absl::StrCat("SELECT ", absl::StrJoin(cols, ","), " FROM ",
                       Qualified(table), " WHERE ", KeyIn(*info, n))));
      BindKeys(*ps, keys, start, n);
      Rows rs(ps->executeQuery());
      while (rs->next()) {
        Row row = ReadRow(*rs, info->columns.size());
        std::string key = KeyOf(*info, row);
        if (hashes != nullptr) (*hashes)[key] = rs->getString(hash_column);
        out.emplace(std::move(key), std::move(row));
      }
    }
  } catch (const sql::SQLException& e) {
    return MysqlErrorToStatus(e, "fetch rows");
  }
  return out;
}

namespace {

// `v` with a placeholder for an id created on the other side replaced by the
// id `allocated` gave it here.
absl::StatusOr<Value> Resolve(
    const Value& v, const std::map<std::string, std::string>& allocated) {
  if (!v.has_value() || !ParseNewIdPlaceholder(*v).has_value()) return v;
  auto it = allocated.find(*v);
  if (it == allocated.end()) {
    auto [space, id] = *ParseNewIdPlaceholder(*v);
    return absl::FailedPreconditionError(
        absl::StrCat("a row refers to ", space, " ", id,
                     ", created on the target, which has no id on this side"));
  }
  return Value(it->second);
}

// The auto-increment column of `info` that `row` fills with a placeholder
// (a row created on the other side, coming back); -1 when none.
int NewIdColumn(const TableInfo& info, const DesiredRow& row) {
  for (size_t i = 0; i < info.columns.size(); ++i) {
    if (info.columns[i].auto_increment && row.values[i].has_value() &&
        ParseNewIdPlaceholder(*row.values[i]).has_value()) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

}  // namespace

absl::StatusOr<int64_t> BillingDb::Apply(sql::Connection& conn,
                                         int64_t customer_id,
                                         const Changes& changes) const {
  int64_t written = 0;
  // Placeholder -> the id it was given.
  std::map<std::string, std::string> allocated;
  TANDEM_RETURN_IF_ERROR(GuardWrite(conn, Book("fences"), customer_id));
  try {
    for (const TableChanges& t : changes.tables) {
      const TableInfo& info = *t.info;
      // Deletes, and the old versions of rows about to be rewritten.
      std::vector<std::string> remove = t.deletes;
      remove.insert(remove.end(), t.replaces.begin(), t.replaces.end());
      DeleteRows(conn, info, remove);
      written += static_cast<int64_t>(t.deletes.size());
      // Inserts, batched by the set of columns they fill.
      std::map<std::vector<bool>, std::vector<const DesiredRow*>> by_columns;
      for (const auto& [key, row] : t.upserts) {
        const int new_id = NewIdColumn(info, *row);
        if (new_id < 0) {
          by_columns[row->set].push_back(row);
          continue;
        }
        TANDEM_RETURN_IF_ERROR(
            InsertWithNewId(conn, info, *row, new_id, customer_id, allocated));
        ++written;
      }
      for (const auto& [mask, rows] : by_columns) {
        TANDEM_ASSIGN_OR_RETURN(int64_t n,
                                InsertRows(conn, info, mask, rows, allocated));
        written += n;
      }
    }
  } catch (const sql::SQLException& e) {
    return MysqlErrorToStatus(e, absl::StrCat("write ", database_));
  }
  return written;
}

void BillingDb::DeleteRows(sql::Connection& conn, const TableInfo& info,
                           const std::vector<std::string>& keys) const {
  for (size_t start = 0; start < keys.size(); start += kBatch) {
    const size_t n = std::min(kBatch, keys.size() - start);
    PaceWrite(static_cast<int64_t>(n));
    Stmt ps(conn.prepareStatement(absl::StrCat(
        "DELETE FROM ", Qualified(info.name), " WHERE ", KeyIn(info, n))));
    BindKeys(*ps, keys, start, n);
    ps->executeUpdate();
  }
}

absl::Status BillingDb::InsertWithNewId(
    sql::Connection& conn, const TableInfo& info, const DesiredRow& row,
    int new_id_column, int64_t customer_id,
    std::map<std::string, std::string>& allocated) const {
  // A target-native row coming back: it takes this side's next id.
  PaceWrite(1);
  std::vector<std::string> cols;
  std::vector<Value> values;
  for (size_t i = 0; i < info.columns.size(); ++i) {
    if (!row.set[i] || static_cast<int>(i) == new_id_column) continue;
    cols.push_back(QuoteIdent(info.columns[i].name));
    TANDEM_ASSIGN_OR_RETURN(Value v, Resolve(row.values[i], allocated));
    values.push_back(v);
  }
  Stmt ps(conn.prepareStatement(absl::StrCat(
      "INSERT INTO ", Qualified(info.name), " (", absl::StrJoin(cols, ","),
      ") VALUES (", Placeholders(cols.size()), ")")));
  for (size_t i = 0; i < values.size(); ++i) {
    Bind(*ps, static_cast<int>(i) + 1, values[i]);
  }
  ps->executeUpdate();
  std::unique_ptr<sql::Statement> s(conn.createStatement());
  Rows id(s->executeQuery("SELECT LAST_INSERT_ID()"));
  id->next();
  const std::string new_id = id->getString(1);
  const std::string& placeholder = *row.values[new_id_column];
  allocated[placeholder] = new_id;
  auto [space, target_id] = *ParseNewIdPlaceholder(placeholder);
  Stmt map(conn.prepareStatement(absl::StrCat(
      "INSERT INTO ", Book("id_map"),
      " (space, target_id, source_id, customer_id) VALUES (?,?,?,?)")));
  map->setString(1, space);
  map->setString(2, target_id);
  map->setString(3, new_id);
  map->setInt64(4, customer_id);
  map->executeUpdate();
  return absl::OkStatus();
}

absl::StatusOr<int64_t> BillingDb::InsertRows(
    sql::Connection& conn, const TableInfo& info, const std::vector<bool>& mask,
    const std::vector<const DesiredRow*>& rows,
    const std::map<std::string, std::string>& allocated) const {
  std::vector<std::string> cols;
  for (size_t i = 0; i < info.columns.size(); ++i) {
    if (mask[i]) cols.push_back(QuoteIdent(info.columns[i].name));
  }
  const std::string one = absl::StrCat("(", Placeholders(cols.size()), ")");
  auto prepare = [&](size_t n) {
    std::string tuples;
    for (size_t i = 0; i < n; ++i) tuples += (i == 0 ? "" : ",") + one;
    return Stmt(conn.prepareStatement(
        absl::StrCat("INSERT INTO ", Qualified(info.name), " (",
                     absl::StrJoin(cols, ","), ") VALUES ", tuples)));
  };
  // A full batch's statement is prepared once and executed again for every
  // full batch: the server parses its placeholders once.
  Stmt full;
  int64_t written = 0;
  for (size_t start = 0; start < rows.size(); start += kBatch) {
    const size_t n = std::min(kBatch, rows.size() - start);
    Stmt partial;
    if (n == kBatch && full == nullptr) full = prepare(n);
    if (n < kBatch) partial = prepare(n);
    PaceWrite(static_cast<int64_t>(n));
    sql::PreparedStatement* ps = n == kBatch ? full.get() : partial.get();
    int p = 1;
    for (size_t r = start; r < start + n; ++r) {
      for (size_t i = 0; i < info.columns.size(); ++i) {
        if (!mask[i]) continue;
        TANDEM_ASSIGN_OR_RETURN(Value v,
                                Resolve(rows[r]->values[i], allocated));
        Bind(*ps, p++, v);
      }
    }
    ps->executeUpdate();
    written += static_cast<int64_t>(n);
  }
  return written;
}

absl::StatusOr<int64_t> BillingDb::DeleteCustomer(sql::Connection& conn,
                                                  int64_t customer_id) const {
  int64_t deleted = 0;
  TANDEM_RETURN_IF_ERROR(GuardWrite(conn, Book("fences"), customer_id));
  try {
    // Children first: a table found through another (via) must be emptied
    // before the table it is found through.
    std::vector<std::string> tables = CustomerTables(false);
    std::stable_partition(tables.begin(), tables.end(), [&](const auto& t) {
      const OwnerSpec* owner = mapping_->OwnerOf(side_, t);
      return owner != nullptr && !owner->direct();
    });
    for (const std::string& name : tables) {
      Stmt ps(conn.prepareStatement(absl::StrCat(
          "DELETE FROM ", Qualified(name), " ", OwnerFilter(name, false))));
      ps->setInt64(1, customer_id);
      deleted += ps->executeUpdate();
    }
    Stmt marks(conn.prepareStatement(absl::StrCat(
        "DELETE FROM ", Book("tail_marks"), " WHERE customer_id = ?")));
    marks->setInt64(1, customer_id);
    marks->executeUpdate();
  } catch (const sql::SQLException& e) {
    return MysqlErrorToStatus(e, "delete customer copy");
  }
  return deleted;
}

absl::StatusOr<std::string> BillingDb::LockCustomer(sql::Connection& conn,
                                                    int64_t customer_id) const {
  const CustomerSpec& c = mapping_->customer(side_);
  try {
    Stmt ps(conn.prepareStatement(absl::StrCat(
        "SELECT ", QuoteIdent(c.status), " FROM ", Qualified(c.table),
        " WHERE ", QuoteIdent(c.key), " = ? FOR UPDATE")));
    ps->setInt64(1, customer_id);
    Rows rs(ps->executeQuery());
    if (!rs->next()) {
      return absl::NotFoundError(absl::StrCat("customer ", customer_id,
                                              " is not on ",
                                              mapping_->schema_name(side_)));
    }
    return std::string(rs->getString(1));
  } catch (const sql::SQLException& e) {
    return MysqlErrorToStatus(e, "lock customer");
  }
}

absl::Status BillingDb::SetCustomerStatus(sql::Connection& conn,
                                          int64_t customer_id,
                                          const std::string& status) const {
  const CustomerSpec& c = mapping_->customer(side_);
  TANDEM_RETURN_IF_ERROR(GuardWrite(conn, Book("fences"), customer_id));
  try {
    Stmt ps(conn.prepareStatement(absl::StrCat(
        "UPDATE ", Qualified(c.table), " SET ", QuoteIdent(c.status),
        " = ? WHERE ", QuoteIdent(c.key), " = ?")));
    ps->setString(1, status);
    ps->setInt64(2, customer_id);
    ps->executeUpdate();
  } catch (const sql::SQLException& e) {
    return MysqlErrorToStatus(e, "set customer status");
  }
  return absl::OkStatus();
}

absl::Status BillingDb::LoadIdMap(sql::Connection& conn, int64_t customer_id,
                                  IdMap* ids) const {
  try {
    Stmt ps(conn.prepareStatement(
        absl::StrCat("SELECT space, target_id, source_id FROM ", Book("id_map"),
                     " WHERE customer_id = ?")));
    ps->setInt64(1, customer_id);
    Rows rs(ps->executeQuery());
    while (rs->next()) {
      ids->Add(rs->getString(1), rs->getString(2), rs->getString(3));
    }
  } catch (const sql::SQLException& e) {
    return MysqlErrorToStatus(e, "load id map");
  }
  return absl::OkStatus();
}

absl::StatusOr<BillingDb::Marks> BillingDb::LoadMarks(
    sql::Connection& conn, int64_t customer_id) const {
  Marks marks;
  try {
    Stmt ps(conn.prepareStatement(absl::StrCat("SELECT mark, value FROM ",
                                               Book("tail_marks"),
                                               " WHERE customer_id = ?")));
    ps->setInt64(1, customer_id);
    Rows rs(ps->executeQuery());
    while (rs->next()) marks[rs->getString(1)] = rs->getString(2);
  } catch (const sql::SQLException& e) {
    return MysqlErrorToStatus(e, "load tail marks");
  }
  return marks;
}

absl::Status BillingDb::SaveMarks(sql::Connection& conn, int64_t customer_id,
                                  const Marks& marks, bool replace_all) const {
  TANDEM_RETURN_IF_ERROR(GuardWrite(conn, Book("fences"), customer_id));
  try {
    if (replace_all) {
      Stmt del(conn.prepareStatement(absl::StrCat(
          "DELETE FROM ", Book("tail_marks"), " WHERE customer_id = ?")));
      del->setInt64(1, customer_id);
      del->executeUpdate();
    }
    std::vector<std::pair<std::string, std::string>> items(marks.begin(),
                                                           marks.end());
    for (size_t start = 0; start < items.size(); start += kBatch) {
      const size_t n = std::min(kBatch, items.size() - start);
      std::string tuples;
      for (size_t i = 0; i < n; ++i) tuples += i == 0 ? "(?,?,?)" : ",(?,?,?)";
      Stmt ps(conn.prepareStatement(
          absl::StrCat("INSERT INTO ", Book("tail_marks"),
                       " (customer_id, mark, value) ", "VALUES ", tuples,
                       " ON DUPLICATE KEY UPDATE value = VALUES(value)")));
      int p = 1;
      for (size_t i = start; i < start + n; ++i) {
        ps->setInt64(p++, customer_id);
        ps->setString(p++, items[i].first);
        ps->setString(p++, items[i].second);
      }
      ps->executeUpdate();
    }
  } catch (const sql::SQLException& e) {
    return MysqlErrorToStatus(e, "save tail marks");
  }
  return absl::OkStatus();
}

absl::Status BillingDb::AddToColumn(sql::Connection& conn,
                                    const std::string& table,
                                    const std::string& key,
                                    const std::string& column,
                                    const std::string& delta) const {
  const TableInfo* info = schema_->Find(table);
  if (info == nullptr) return absl::FailedPreconditionError("no such table");
  try {
    Stmt ps(conn.prepareStatement(absl::StrCat(
        "UPDATE ", Qualified(table), " SET ", QuoteIdent(column), " = ",
        QuoteIdent(column), " + ? WHERE ", KeyIn(*info, 1))));
    ps->setString(1, delta);
    BindKeys(*ps, {key}, 0, 1, 2);
    ps->executeUpdate();
  } catch (const sql::SQLException& e) {
    return MysqlErrorToStatus(e, "add delta");
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> BillingDb::ThreadsRunning() {
  int64_t value = 0;
  TANDEM_RETURN_IF_ERROR(pool_->Run("threads running", [&](sql::Connection& c) {
    std::unique_ptr<sql::Statement> s(c.createStatement());
    Rows rs(s->executeQuery("SHOW GLOBAL STATUS LIKE 'Threads_running'"));
    if (rs->next()) value = rs->getInt64(2);
    return absl::OkStatus();
  }));
  return value;
}

}  // namespace tandem::migrator
