#include "migrator/mapping/schema_check.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"

namespace tandem::migrator {
namespace {

class Checker {
 public:
  Checker(const Mapping& m, const LiveSchema* const schemas[2]) : m_(m) {
    schemas_[0] = schemas[0];
    schemas_[1] = schemas[1];
  }

  std::vector<SchemaIssue> Run() {
    for (Direction d : {Direction::kMove, Direction::kRollback}) {
      CheckDirection(d);
    }
    CheckCustomerAndCatalog();
    CheckBalancesAndChecks();
    CheckIdRanges();
    std::stable_sort(issues_.begin(), issues_.end(),
                     [](const SchemaIssue& a, const SchemaIssue& b) {
                       return a.error && !b.error;
                     });
    return issues_;
  }

 private:
  void Error(const Location& at, const std::string& table,
             const std::string& column, std::string message) {
    issues_.push_back({true, at.ToString(), table, column, std::move(message)});
  }
  void Warn(const Location& at, const std::string& table,
            const std::string& column, std::string message) {
    issues_.push_back(
        {false, at.ToString(), table, column, std::move(message)});
  }
  Location File() const { return Location{m_.path(), 0}; }

  const TableInfo* Table(SchemaSide side, const std::string& name,
                         const Location& at) {
    const TableInfo* t = schemas_[side]->Find(name);
    if (t == nullptr) {
      Error(at, name, "",
            absl::StrCat("table ", name, " does not exist in ",
                         m_.schema_name(side), " (", schemas_[side]->database(),
                         ")"));
    }
    return t;
  }

  const ColumnInfo* Column(SchemaSide side, const TableInfo* t,
                           const std::string& column, const Location& at) {
    if (t == nullptr || column.empty()) return nullptr;
    const ColumnInfo* c = t->Find(column);
    if (c == nullptr) {
      Error(at, t->name, column,
            absl::StrCat("column ", t->name, ".", column, " does not exist in ",
                         m_.schema_name(side)));
    }
    return c;
  }

  void CheckOwner(SchemaSide side, const TableInfo* from,
                  const OwnerSpec& owner, const Location& at) {
    if (owner.direct()) {
      Column(side, from, owner.column, at);
      return;
    }
    const TableInfo* via = Table(side, owner.via_table, at);
    Column(side, from, owner.via_key, at);
    Column(side, via, owner.via_key, at);
    Column(side, via, owner.via_owner, at);
  }

  void CheckValueTypes(const ColumnSpec& c, const ColumnInfo* source,
                       const ColumnInfo* target, const std::string& table) {
    if (source == nullptr || target == nullptr) return;
    if (!c.convert.empty()) {
      if (!source->IsNumeric() || !target->IsNumeric()) {
        Error(c.location, table, c.target,
              absl::StrCat("conversion ", c.convert,
                           " needs numeric columns, not ", source->column_type,
                           " -> ", target->column_type));
      }
      if (!c.inverse && target->IsInteger() && source->scale > 0) {
        int64_t scale = m_.conversions().at(c.convert).scale;
        int64_t needed = 1;
        for (int i = 0; i < source->scale; ++i) needed *= 10;
        if (scale < needed) {
          Error(c.location, table, c.target,
                absl::StrCat("conversion ", c.convert, " (x", scale,
                             ") cannot hold ", source->scale, " decimals of ",
                             source->column_type, " in an integer column"));
        }
      }
    } else if (!c.enum_name.empty() || !c.catalog.empty() ||
               !c.id_space.empty()) {
      // Values are remapped; the target type must hold what they map to.
      if (!c.catalog.empty() || !c.id_space.empty()) {
        if (!target->IsInteger()) {
          Error(c.location, table, c.target,
                absl::StrCat("ids need an integer column, not ",
                             target->column_type));
        }
      }
    } else if (source->IsString() && target->IsString() &&
               target->max_length > 0 &&
               source->max_length > target->max_length) {
      Warn(c.location, table, c.target,
           absl::StrCat("source column ", source->column_type,
                        " is longer than target ", target->column_type,
                        ": long values would fail"));
    } else if (source->IsNumeric() != target->IsNumeric() &&
               !(target->IsString())) {
      Error(c.location, table, c.target,
            absl::StrCat("incompatible types ", source->column_type, " -> ",
                         target->column_type, " without a conversion"));
    }
  }

  void CheckDirection(Direction d) {
    const SchemaSide read = Mapping::ReadSide(d);
    const SchemaSide write = Mapping::WriteSide(d);
    // Target table -> columns filled by some entry.
    std::map<std::string, std::set<std::string>> filled;
    std::map<std::string, Location> first_entry;
    for (const TableMapping& t : m_.tables(d)) {
      first_entry.emplace(t.to, t.location);
      CheckEntry(t, read, write, filled[t.to]);
    }
    CheckEveryColumnFilled(d, write, filled, first_entry);
  }

  // One entry of a direction: its tables, owner, columns and keys; adds the
  // target columns it fills to `cols`.
  void CheckEntry(const TableMapping& t, SchemaSide read, SchemaSide write,
                  std::set<std::string>& cols) {
    const TableInfo* from = Table(read, t.from, t.location);
    const TableInfo* to = Table(write, t.to, t.location);
    CheckOwner(read, from, t.owner, t.location);
    for (const auto& [column, value] : t.defaults) {
      Column(write, to, column, t.location);
      cols.insert(column);
    }
    CheckJson(t, read, from, write, to, cols);
    for (const ColumnSpec& c : t.columns) {
      const ColumnInfo* target = Column(write, to, c.target, c.location);
      const ColumnInfo* source =
          c.from.empty() ? nullptr : Column(read, from, c.from, c.location);
      if (!c.subscription_column.empty()) {
        Column(read, from, c.subscription_column, c.location);
      }
      CheckValueTypes(c, source, target, t.to);
      cols.insert(c.target);
    }
    CheckKeys(t, from, to);
    if (m_.OwnerOf(write, t.to) == nullptr) {
      Error(t.location, t.to, "",
            absl::StrCat("no entry of the other direction reads ", t.to,
                         ", so a customer's rows there cannot be found"));
    }
  }

  // split_json (a JSON column into rows) and collect_json (rows into one).
  void CheckJson(const TableMapping& t, SchemaSide read, const TableInfo* from,
                 SchemaSide write, const TableInfo* to,
                 std::set<std::string>& cols) {
    if (t.split_json) {
      const ColumnInfo* json =
          Column(read, from, t.split_json->from, t.location);
      if (json != nullptr && !json->IsString()) {
        Error(t.location, t.from, t.split_json->from,
              "split_json needs a JSON (text) column");
      }
      Column(write, to, t.split_json->name, t.location);
      Column(write, to, t.split_json->value, t.location);
      cols.insert(t.split_json->name);
      cols.insert(t.split_json->value);
    }
    if (t.collect_json) {
      Column(read, from, t.collect_json->name, t.location);
      Column(read, from, t.collect_json->value, t.location);
      const ColumnInfo* into =
          Column(write, to, t.collect_json->into, t.location);
      if (into != nullptr && !into->IsString()) {
        Error(t.location, t.to, t.collect_json->into,
              "collect_json needs a JSON (text) column");
      }
      cols.insert(t.collect_json->into);
    }
  }

  // Both tables need primary keys, and the entry must fill the target's.
  void CheckKeys(const TableMapping& t, const TableInfo* from,
                 const TableInfo* to) {
    if (to != nullptr) {
      if (to->primary_key.empty()) {
        Error(t.location, t.to, "",
              absl::StrCat("table ", t.to,
                           " has no primary key: its rows cannot be matched"));
      }
      for (const std::string& key : to->primary_key) {
        bool provided = false;
        for (const ColumnSpec& c : t.columns) provided |= c.target == key;
        if (t.split_json) provided |= t.split_json->name == key;
        if (!provided) {
          Error(t.location, t.to, key,
                absl::StrCat("the entry from ", t.from,
                             " does not fill key column ", t.to, ".", key));
        }
      }
    }
    if (from != nullptr && from->primary_key.empty()) {
      Error(t.location, t.from, "",
            absl::StrCat("table ", t.from,
                         " has no primary key: changes cannot be tracked"));
    }
  }

  // Every column of a written table is accounted for: filled by an entry,
  // or nullable / defaulted / auto-increment (a warning when filled by none).
  void CheckEveryColumnFilled(
      Direction d, SchemaSide write,
      const std::map<std::string, std::set<std::string>>& filled,
      const std::map<std::string, Location>& first_entry) {
    for (const auto& [table, cols] : filled) {
      const TableInfo* to = schemas_[write]->Find(table);
      if (to == nullptr) continue;
      const Location& at = first_entry.at(table);
      for (const ColumnInfo& c : to->columns) {
        if (cols.count(c.name) || c.nullable || c.has_default ||
            c.auto_increment) {
          if (!cols.count(c.name) && !c.auto_increment) {
            Warn(at, table, c.name,
                 absl::StrCat(DirectionName(d), ": ", table, ".", c.name,
                              " is filled by no entry and takes its default"));
          }
          continue;
        }
        Error(at, table, c.name,
              absl::StrCat(DirectionName(d), ": ", table, ".", c.name,
                           " (NOT NULL, no default) is filled by no entry"));
      }
    }
  }

  void CheckCustomerAndCatalog() {
    for (SchemaSide s : {kSourceSide, kTargetSide}) {
      const CustomerSpec& c = m_.customer(s);
      const TableInfo* t = Table(s, c.table, File());
      Column(s, t, c.key, File());
      Column(s, t, c.status, File());
      for (const CatalogTable* ct :
           {&m_.catalog(s).products, &m_.catalog(s).resource_types}) {
        const TableInfo* table = Table(s, ct->table, File());
        Column(s, table, ct->id, File());
        Column(s, table, ct->code, File());
      }
      const SelectorSpec& sel = m_.selectors(s);
      if (!sel.present) continue;
      const TableInfo* products = Table(s, sel.products_table, File());
      Column(s, products, sel.products_customer, File());
      Column(s, products, sel.products_product, File());
      Column(s, t, sel.payment_column, File());
      const TableInfo* names = Table(s, sel.payment_names_table, File());
      Column(s, names, sel.payment_names_id, File());
      Column(s, names, sel.payment_names_name, File());
      const TableInfo* accounts = Table(s, sel.accounts_table, File());
      Column(s, accounts, sel.accounts_customer, File());
    }
  }

  void CheckBalancesAndChecks() {
    for (const BalanceSpec& b : m_.balances()) {
      for (SchemaSide s : {kSourceSide, kTargetSide}) {
        const BalanceSide& v = b.v[s];
        const TableInfo* holder = Table(s, v.holder_table, File());
        Column(s, holder, v.holder_key, File());
        Column(s, holder, v.holder_owner, File());
        const ColumnInfo* balance = Column(s, holder, v.balance, File());
        if (balance != nullptr && !balance->IsNumeric()) {
          Error(File(), v.holder_table, v.balance, "a balance must be numeric");
        }
        const TableInfo* tx = Table(s, v.tx_table, File());
        Column(s, tx, v.tx_amount, File());
        Column(s, tx, v.tx_holder, File());
        Column(s, tx, v.tx_owner, File());
        Column(s, tx, v.tx_only_null, File());
      }
    }
    for (SchemaSide s : {kSourceSide, kTargetSide}) {
      const AdjustmentSpec& a = m_.adjustment(s);
      const TableInfo* t = Table(s, a.table, File());
      for (const auto& [column, value] : a.columns)
        Column(s, t, column, File());
    }
    for (const TotalsCheck& c : m_.checks()) {
      for (SchemaSide s : {kSourceSide, kTargetSide}) {
        const TableInfo* t = Table(s, c.v[s].table, File());
        Column(s, t, c.v[s].owner, File());
        Column(s, t, c.v[s].group, File());
        Column(s, t, c.v[s].month, File());
        Column(s, t, c.v[s].sum, File());
      }
    }
  }

  // Rows a rollback brings back get ids from the source's own counters; if
  // one of them had reached the target-native range, those ids would
  // collide with target-native rows on the next move.
  void CheckIdRanges() {
    for (const TableMapping& t : m_.tables(Direction::kRollback)) {
      const TableInfo* to = schemas_[kSourceSide]->Find(t.to);
      if (to == nullptr) continue;
      if (to->auto_increment >= m_.native_id_start()) {
        Error(
            t.location, t.to, "",
            absl::StrCat("the AUTO_INCREMENT of ", m_.schema_name(kSourceSide),
                         ".", t.to, " is ", to->auto_increment,
                         ", in the target-native id range (from ",
                         m_.native_id_start(), ")"));
      }
    }
    for (const TableMapping& t : m_.tables(Direction::kMove)) {
      const TableInfo* to = schemas_[kTargetSide]->Find(t.to);
      if (to == nullptr) continue;
      if (to->auto_increment > 0 && to->auto_increment < m_.native_id_start()) {
        Warn(t.location, t.to, "",
             absl::StrCat("the AUTO_INCREMENT of ", m_.schema_name(kTargetSide),
                          ".", t.to, " is ", to->auto_increment,
                          ", below the native id range (from ",
                          m_.native_id_start(),
                          "): target-native rows may collide with moved ones"));
      }
    }
  }

  const Mapping& m_;
  const LiveSchema* schemas_[2];
  std::vector<SchemaIssue> issues_;
};

}  // namespace

std::vector<SchemaIssue> CheckMapping(const Mapping& mapping,
                                      const LiveSchema* const schemas[2]) {
  return Checker(mapping, schemas).Run();
}

bool HasErrors(const std::vector<SchemaIssue>& issues) {
  for (const SchemaIssue& i : issues) {
    if (i.error) return true;
  }
  return false;
}

}  // namespace tandem::migrator
