#include "migrator/engine/converter.h"

#include <algorithm>
#include <functional>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "migrator/engine/values.h"

namespace tandem::migrator {

struct Converter::Part {
  std::string table;
  std::string key;
  Row values;
  std::vector<bool> set;
  std::vector<bool> sum;
  const TableMapping* entry = nullptr;
  std::pair<std::string, std::string> source;
  // For collect_json: one member of the JSON column `json_column`.
  std::optional<std::pair<std::string, std::string>> json_member;
  int json_column = -1;
};

namespace {

Direction Other(Direction d) {
  return d == Direction::kMove ? Direction::kRollback : Direction::kMove;
}

// "customers i_customer=42", for messages.
std::string Describe(const TableInfo& table, const std::string& key) {
  std::vector<std::string> parts = DecodeKey(key);
  std::vector<std::string> named;
  for (size_t i = 0; i < table.primary_key.size() && i < parts.size(); ++i) {
    named.push_back(absl::StrCat(table.primary_key[i], "=", parts[i]));
  }
  return absl::StrCat(table.name, " ", absl::StrJoin(named, ","));
}

absl::StatusOr<int64_t> ToInt(const Value& v) {
  int64_t n = 0;
  if (!v.has_value() || !absl::SimpleAtoi(*v, &n)) {
    return absl::FailedPreconditionError(
        absl::StrCat("\"", v.value_or("NULL"), "\" is not an integer"));
  }
  return n;
}

}  // namespace

size_t DesiredState::RowCount() const {
  size_t n = 0;
  for (const auto& [name, t] : tables) n += t.rows.size();
  return n;
}

Converter::Converter(const Mapping& mapping, Direction direction,
                     const LiveSchema* const schemas[2],
                     const CatalogLookups& lookups,
                     const CatalogLookups& inverse_lookups, const IdMap& ids,
                     ConvertOptions options)
    : mapping_(mapping),
      direction_(direction),
      schemas_{schemas[0], schemas[1]},
      lookups_(lookups),
      inverse_lookups_(inverse_lookups),
      ids_(ids),
      options_(options) {}

absl::StatusOr<std::string> Converter::ConvertValue(
    Direction direction, const TableMapping& entry, const ColumnSpec& spec,
    const TableInfo& from, const Row& row, const ColumnInfo& target,
    const std::string& source_key, const CatalogLookups& lookups, bool* dropped,
    std::string* drop_reason, std::vector<Rounding>* roundings) const {
  // The row's description is made only for a message: most rows need none.
  auto fail = [&](absl::string_view what) {
    return absl::FailedPreconditionError(absl::StrCat(
        Describe(from, source_key), ": ", entry.to, ".", spec.target, ": ",
        what, " (", spec.location.ToString(), ")"));
  };
  if (spec.constant.has_value()) return *spec.constant;
  const int index = from.IndexOf(spec.from);
  if (index < 0) return fail(absl::StrCat("no column ", spec.from));
  const Value& source = row[index];
  if (!source.has_value()) return std::string();  // the caller keeps NULL
  const std::string& v = *source;
  if (!spec.convert.empty()) {
    const ScaleConversion& c = mapping_.conversions().at(spec.convert);
    const int shift = spec.inverse ? -Log10(c.scale) : Log10(c.scale);
    absl::StatusOr<Rescaled> r =
        Rescale(v, shift, target.IsDecimal() ? target.scale : 0);
    if (!r.ok()) return fail(r.status().message());
    if (!r->exact) {
      if (roundings == nullptr || !options_.allow_rounding) {
        return fail(absl::StrCat(v, " does not convert exactly (",
                                 r->exact_text, " needs rounding to ", r->text,
                                 "; rounding is not allowed)"));
      }
      roundings->push_back({entry.to, Describe(from, source_key), spec.target,
                            r->exact_text, r->text});
    }
    return r->text;
  }
  if (!spec.enum_name.empty()) {
    const EnumConversion& e = mapping_.enums().at(spec.enum_name);
    const auto& table = spec.inverse ? e.backward : e.forward;
    auto it = table.find(v);
    if (it == table.end()) {
      return fail(
          absl::StrCat("unknown value \"", v, "\" of enum ", spec.enum_name));
    }
    return it->second;
  }
  if (!spec.catalog.empty()) {
    std::string subscription;
    if (!spec.subscription_column.empty()) {
      const int s = from.IndexOf(spec.subscription_column);
      if (s >= 0 && row[s].has_value()) subscription = *row[s];
    }
    absl::StatusOr<CatalogTarget> t =
        spec.catalog == "product" ? lookups.Product(v, subscription)
                                  : lookups.ResourceType(subscription, v);
    if (!t.ok()) return fail(t.status().message());
    if (!t->carried()) {
      if (!spec.drop_row_if_not_carried) {
        return fail(absl::StrCat(spec.catalog, " ", v,
                                 " is not carried: ", t->not_carried_reason));
      }
      *dropped = true;
      *drop_reason = absl::StrCat(Describe(from, source_key),
                                  " not carried: ", t->not_carried_reason);
      return std::string();
    }
    return t->id;
  }
  if (!spec.id_space.empty()) {
    if (direction == Direction::kMove) return ids_.ToTarget(spec.id_space, v);
    std::optional<std::string> id = ids_.ToSource(spec.id_space, v);
    return id.has_value() ? *id : NewIdPlaceholder(spec.id_space, v);
  }
  return v;
}

absl::Status Converter::SplitJsonParts(const TableMapping& entry,
                                       const TableInfo& from,
                                       const TableInfo& to,
                                       const std::string& source_key,
                                       const Row& row, const Part& base,
                                       std::vector<Part>* parts) const {
  const int j = from.IndexOf(entry.split_json->from);
  const int name = to.IndexOf(entry.split_json->name);
  const int value = to.IndexOf(entry.split_json->value);
  if (j < 0 || name < 0 || value < 0) {
    return absl::FailedPreconditionError("split_json columns missing");
  }
  if (!row[j].has_value()) return absl::OkStatus();
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> members =
      SplitJson(*row[j]);
  if (!members.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(Describe(from, source_key), ": ", entry.split_json->from,
                     ": ", members.status().message()));
  }
  for (const auto& [n, v] : *members) {
    Part part = base;
    part.values[name] = n;
    part.values[value] = v;
    part.set[name] = part.set[value] = true;
    part.key = KeyOf(to, part.values);
    parts->push_back(std::move(part));
  }
  return absl::OkStatus();
}

absl::Status Converter::ConvertRow(
    Direction direction, const TableMapping& entry, const TableInfo& from,
    const std::string& source_key, const Row& row,
    const CatalogLookups& lookups, std::vector<Part>* parts,
    std::vector<Rounding>* roundings,
    std::vector<std::string>* warnings) const {
  const TableInfo* to = schemas_[Mapping::WriteSide(direction)]->Find(entry.to);
  if (to == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("table ", entry.to, " does not exist"));
  }
  Part base;
  base.table = entry.to;
  base.values.assign(to->columns.size(), std::nullopt);
  base.set.assign(to->columns.size(), false);
  base.sum.assign(to->columns.size(), false);
  base.entry = &entry;
  base.source = {from.name, source_key};
  for (const ColumnSpec& spec : entry.columns) {
    const int i = to->IndexOf(spec.target);
    if (i < 0) continue;  // reported by the schema check
    bool dropped = false;
    std::string reason;
    TANDEM_ASSIGN_OR_RETURN(
        std::string value,
        ConvertValue(direction, entry, spec, from, row, to->columns[i],
                     source_key, lookups, &dropped, &reason, roundings));
    if (dropped) {
      if (warnings != nullptr) warnings->push_back(reason);
      return absl::OkStatus();
    }
    const int s = spec.from.empty() ? -1 : from.IndexOf(spec.from);
    const bool is_null = s >= 0 && !row[s].has_value();
    if (is_null) {
      base.values[i] = std::nullopt;
    } else if (ParseNewIdPlaceholder(value).has_value()) {
      base.values[i] = value;
    } else {
      absl::StatusOr<std::string> canonical = Canonical(to->columns[i], value);
      if (!canonical.ok()) {
        return absl::FailedPreconditionError(
            absl::StrCat(Describe(from, source_key), ": ", entry.to, ".",
                         spec.target, ": ", canonical.status().message()));
      }
      base.values[i] = *canonical;
    }
    base.set[i] = true;
    base.sum[i] = spec.sum;
  }
  if (entry.split_json) {
    return SplitJsonParts(entry, from, *to, source_key, row, base, parts);
  }
  if (entry.collect_json) {
    const int n = from.IndexOf(entry.collect_json->name);
    const int v = from.IndexOf(entry.collect_json->value);
    base.json_column = to->IndexOf(entry.collect_json->into);
    if (n < 0 || v < 0 || base.json_column < 0) {
      return absl::FailedPreconditionError("collect_json columns missing");
    }
    base.json_member = {row[n].value_or(""), row[v].value_or("")};
  }
  base.key = KeyOf(*to, base.values);
  parts->push_back(std::move(base));
  return absl::OkStatus();
}

absl::Status Converter::Assemble(std::vector<Part> parts,
                                 DesiredState* state) const {
  std::map<std::pair<std::string, std::string>,
           std::map<int, std::vector<std::pair<std::string, std::string>>>>
      json;
  // Parts come table by table, mostly in key order: the last table and the
  // place after the last row and lineage inserted are where the next ones
  // usually go (a wrong hint only costs the ordinary lookup).
  DesiredTable* table = nullptr;
  const std::string* table_name = nullptr;
  auto row_hint = std::map<std::string, DesiredRow>::iterator();
  auto lineage_hint = state->lineage.end();
  for (Part& part : parts) {
    if (table_name == nullptr || *table_name != part.table) {
      table = &state->tables[part.table];
      table_name = &part.table;
      row_hint = table->rows.end();
    }
    auto placed = table->rows.try_emplace(row_hint, part.key);
    DesiredRow& row = placed->second;
    row_hint = std::next(placed);
    if (row.values.empty()) {
      // A new row: the part's values are the row's.
      row.values = std::move(part.values);
      row.set = std::move(part.set);
    } else {
      for (size_t i = 0; i < part.values.size(); ++i) {
        if (!part.set[i]) continue;
        if (!row.set[i]) {
          row.values[i] = std::move(part.values[i]);
          row.set[i] = true;
          continue;
        }
        if (part.sum[i]) {
          TANDEM_ASSIGN_OR_RETURN(int64_t a, ToInt(row.values[i]));
          TANDEM_ASSIGN_OR_RETURN(int64_t b, ToInt(part.values[i]));
          row.values[i] = absl::StrCat(a + b);
        } else if (row.values[i] != part.values[i]) {
          return absl::FailedPreconditionError(absl::StrCat(
              "entries disagree on ", part.table, " key ", part.key, " column ",
              i, ": \"", row.values[i].value_or("NULL"), "\" vs \"",
              part.values[i].value_or("NULL"), "\""));
        }
      }
    }
    if (part.json_member.has_value()) {
      json[{part.table, part.key}][part.json_column].push_back(
          *std::move(part.json_member));
    }
    auto lineage = state->lineage.try_emplace(lineage_hint, part.source);
    lineage_hint = std::next(lineage);
    lineage->second.emplace_back(part.table, part.key);
    row.sources.insert(std::move(part.source));
  }
  for (auto& [where, columns] : json) {
    DesiredRow& row = state->tables[where.first].rows[where.second];
    for (auto& [column, members] : columns) {
      std::sort(members.begin(), members.end());
      row.values[column] = CollectJson(members);
      row.set[column] = true;
    }
  }
  return absl::OkStatus();
}

void Converter::Finish(const std::string& name,
                       const std::set<std::string>* keys,
                       DesiredState* state) const {
  const SchemaSide write_side = Mapping::WriteSide(direction_);
  DesiredTable& table = state->tables[name];
  table.info = schemas_[write_side]->Find(name);
  if (table.info == nullptr) return;
  auto each = [&](const std::function<void(DesiredRow&)>& fn) {
    if (keys == nullptr) {
      for (auto& [key, row] : table.rows) fn(row);
      return;
    }
    for (const std::string& key : *keys) {
      auto it = table.rows.find(key);
      if (it != table.rows.end()) fn(it->second);
    }
  };
  for (const TableMapping& entry : mapping_.tables(direction_)) {
    if (entry.to != name) continue;
    for (const auto& [column, value] : entry.defaults) {
      const int i = table.info->IndexOf(column);
      if (i < 0) continue;
      each([&](DesiredRow& row) {
        if (!row.set[i]) {
          row.values[i] = value;
          row.set[i] = true;
        }
      });
    }
  }
}

absl::Status Converter::ConvertChanged(const CustomerRows& read,
                                       const std::set<RowRef>& changed,
                                       DesiredState* state,
                                       std::vector<Part>* fresh) const {
  for (const RowRef& source : changed) {
    const TableRows* rows = read.Find(source.first);
    if (rows == nullptr) continue;
    auto row = rows->rows.find(source.second);
    if (row == rows->rows.end()) continue;  // removed
    for (const TableMapping& entry : mapping_.tables(direction_)) {
      if (entry.from != source.first) continue;
      std::vector<Rounding> roundings;
      TANDEM_RETURN_IF_ERROR(ConvertRow(direction_, entry, *rows->info,
                                        row->first, row->second, lookups_,
                                        fresh, &roundings, &state->warnings));
      if (!roundings.empty()) {
        return absl::UnimplementedError("rounded values: convert again");
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Converter::Part>> Converter::ConvertAffected(
    const CustomerRows& read, const std::set<RowRef>& sources,
    const std::set<RowRef>& affected) const {
  std::vector<Part> parts;
  for (const RowRef& source : sources) {
    const TableRows* rows = read.Find(source.first);
    if (rows == nullptr) continue;
    auto row = rows->rows.find(source.second);
    if (row == rows->rows.end()) continue;
    std::vector<Part> all;
    for (const TableMapping& entry : mapping_.tables(direction_)) {
      if (entry.from != source.first) continue;
      TANDEM_RETURN_IF_ERROR(ConvertRow(direction_, entry, *rows->info,
                                        row->first, row->second, lookups_, &all,
                                        nullptr, nullptr));
    }
    for (Part& p : all) {
      if (affected.count({p.table, p.key})) parts.push_back(std::move(p));
    }
  }
  return parts;
}

void Converter::FinishAffected(
    const std::map<std::string, std::set<std::string>>& keys,
    DesiredState* state) const {
  const CustomerSpec& customer =
      mapping_.customer(Mapping::WriteSide(direction_));
  for (const auto& [name, k] : keys) {
    Finish(name, &k, state);
    if (name != customer.table) continue;
    DesiredTable& table = state->tables[name];
    const int status = table.info->IndexOf(customer.status);
    for (const std::string& key : k) {
      auto row = table.rows.find(key);
      if (row == table.rows.end() || status < 0) continue;
      state->customer_status = row->second.values[status].value_or("");
      if (options_.hold_status) {
        row->second.values[status] = customer.exported;
        row->second.set[status] = true;
      }
    }
  }
}

absl::Status Converter::Update(const CustomerRows& read,
                               const std::set<RowRef>& changed,
                               DesiredState* state,
                               std::set<RowRef>* touched) const {
  if (!state->roundings.empty()) {
    return absl::UnimplementedError("rounded values: convert again");
  }
  // The written rows the changed rows filled, and will fill.
  std::set<RowRef> affected;
  for (const RowRef& source : changed) {
    auto it = state->lineage.find(source);
    if (it == state->lineage.end()) continue;
    affected.insert(it->second.begin(), it->second.end());
  }
  std::vector<Part> fresh;
  TANDEM_RETURN_IF_ERROR(ConvertChanged(read, changed, state, &fresh));
  for (const Part& p : fresh) affected.insert({p.table, p.key});
  // Every row of the side read that fills an affected row, changed or not.
  std::set<RowRef> sources;
  for (const RowRef& target : affected) {
    auto table = state->tables.find(target.first);
    if (table == state->tables.end()) continue;
    auto row = table->second.rows.find(target.second);
    if (row == table->second.rows.end()) continue;
    sources.insert(row->second.sources.begin(), row->second.sources.end());
  }
  for (const Part& p : fresh) sources.insert(p.source);
  TANDEM_ASSIGN_OR_RETURN(std::vector<Part> parts,
                          ConvertAffected(read, sources, affected));
  // Out with the affected rows and every lineage pointing at them ...
  auto forget = [&](const RowRef& source, bool drop_empty) {
    auto it = state->lineage.find(source);
    if (it == state->lineage.end()) return;
    std::erase_if(it->second,
                  [&](const RowRef& t) { return affected.count(t) > 0; });
    if (drop_empty && it->second.empty()) state->lineage.erase(it);
  };
  for (const RowRef& source : sources) forget(source, false);
  for (const RowRef& source : changed) forget(source, true);
  std::map<std::string, std::set<std::string>> keys;
  for (const RowRef& target : affected) {
    state->tables[target.first].rows.erase(target.second);
    keys[target.first].insert(target.second);
  }
  // ... and in with them converted again.
  TANDEM_RETURN_IF_ERROR(Assemble(std::move(parts), state));
  FinishAffected(keys, state);
  touched->insert(affected.begin(), affected.end());
  return absl::OkStatus();
}

bool Converter::ImageMatches(
    const TableInfo& table, const std::string& key, const Row& row,
    const CustomerRows& read,
    std::set<std::pair<std::string, std::string>>* image) const {
  const Direction other = Other(direction_);
  std::vector<Part> parts;
  std::vector<Rounding> roundings;
  for (const TableMapping& entry : mapping_.tables(other)) {
    if (entry.from != table.name) continue;
    if (!ConvertRow(other, entry, table, key, row, inverse_lookups_, &parts,
                    &roundings, nullptr)
             .ok()) {
      return false;
    }
  }
  if (!roundings.empty()) return false;
  DesiredState assembled;
  if (!Assemble(std::move(parts), &assembled).ok()) return false;
  const SchemaSide read_side = Mapping::ReadSide(direction_);
  const CustomerSpec& customer = mapping_.customer(read_side);
  for (const auto& [name, desired] : assembled.tables) {
    const TableRows* rows = read.Find(name);
    const TableInfo* info = schemas_[read_side]->Find(name);
    if (info == nullptr) return false;
    const int status =
        name == customer.table ? info->IndexOf(customer.status) : -1;
    for (const auto& [key, want] : desired.rows) {
      if (rows == nullptr) return false;
      auto have = rows->rows.find(key);
      if (have == rows->rows.end()) return false;
      for (size_t i = 0; i < want.values.size(); ++i) {
        if (!want.set[i] || static_cast<int>(i) == status) continue;
        if (want.values[i] != have->second[i]) return false;
      }
      image->insert({name, key});
    }
  }
  return true;
}

absl::StatusOr<DesiredState> Converter::Convert(
    const CustomerRows& read, const CustomerRows& written,
    const TableReady& on_table) const {
  const SchemaSide read_side = Mapping::ReadSide(direction_);
  std::vector<std::string> order;  // tables written, by their first entry
  for (const TableMapping& entry : mapping_.tables(direction_)) {
    if (schemas_[read_side]->Find(entry.from) == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("table ", entry.from, " does not exist"));
    }
    if (std::find(order.begin(), order.end(), entry.to) == order.end()) {
      order.push_back(entry.to);
    }
  }
  DesiredState state;
  // A table is final once converted, unless rounding may still book
  // adjustments: then every table is, at the end.
  const bool early = !options_.allow_rounding;
  std::set<std::string> finished;
  for (const std::string& name : order) {
    TANDEM_RETURN_IF_ERROR(ConvertTable(read, name, &state));
    if (!early) continue;
    KeepUnchanged(read, written, name, &state);
    if (on_table) on_table(name, state);
    finished.insert(name);
  }
  if (!state.roundings.empty()) {
    for (const Rounding& r : state.roundings) {
      state.rounded_tables.insert(r.table);
    }
    TANDEM_RETURN_IF_ERROR(BookRoundingLeftovers(read, &state));
  }
  std::set<std::string> rest(order.begin(), order.end());
  for (const auto& [name, rows] : written.tables) rest.insert(name);
  for (const std::string& name : rest) {
    if (finished.count(name)) continue;
    KeepUnchanged(read, written, name, &state);
    if (on_table) on_table(name, state);
  }
  if (state.customer_status.empty()) StatusOfKeptCustomer(read, &state);
  return state;
}

absl::Status Converter::ConvertTable(const CustomerRows& read,
                                     const std::string& name,
                                     DesiredState* state) const {
  const SchemaSide read_side = Mapping::ReadSide(direction_);
  std::vector<Part> parts;
  // At least one part per row and entry: reserved, so that parts are not
  // moved again and again as the vector grows.
  size_t expected = 0;
  for (const TableMapping& entry : mapping_.tables(direction_)) {
    const TableRows* rows = read.Find(entry.from);
    if (entry.to == name && rows != nullptr) expected += rows->rows.size();
  }
  parts.reserve(expected);
  for (const TableMapping& entry : mapping_.tables(direction_)) {
    const TableRows* rows = read.Find(entry.from);
    if (entry.to != name || rows == nullptr) continue;
    const TableInfo* from = schemas_[read_side]->Find(entry.from);
    for (const auto& [key, row] : rows->rows) {
      TANDEM_RETURN_IF_ERROR(ConvertRow(direction_, entry, *from, key, row,
                                        lookups_, &parts, &state->roundings,
                                        &state->warnings));
    }
  }
  TANDEM_RETURN_IF_ERROR(Assemble(std::move(parts), state));
  // The table's info and the defaults of what no entry filled.
  if (state->tables.count(name)) Finish(name, nullptr, state);
  return absl::OkStatus();
}

void Converter::KeepUnchanged(const CustomerRows& read,
                              const CustomerRows& written,
                              const std::string& name,
                              DesiredState* state) const {
  const TableRows* rows = written.Find(name);
  if (rows != nullptr && rows->info != nullptr) {
    for (const auto& [key, row] : rows->rows) {
      KeepIfUnchanged(read, *rows->info, key, row, state);
    }
  }
  // The customer's status, held at `exported` until the flip.
  const CustomerSpec& customer =
      mapping_.customer(Mapping::WriteSide(direction_));
  auto table = state->tables.find(customer.table);
  if (name != customer.table || table == state->tables.end()) return;
  const int status = table->second.info->IndexOf(customer.status);
  for (auto& [key, row] : table->second.rows) {
    if (status < 0) break;
    if (!row.retained) {
      state->customer_status = row.values[status].value_or("");
    }
    if (options_.hold_status) {
      row.values[status] = customer.exported;
      row.set[status] = true;
    }
  }
}

void Converter::KeepIfUnchanged(const CustomerRows& read, const TableInfo& info,
                                const std::string& key, const Row& row,
                                DesiredState* state) const {
  const std::string& name = info.name;
  // Converting the side read gives this very row: keeping it or writing
  // the conversion is the same, and nothing needs deciding (the common
  // case in catch-up rounds).
  auto converted = state->tables.find(name);
  if (converted != state->tables.end()) {
    auto same = converted->second.rows.find(key);
    if (same != converted->second.rows.end()) {
      bool equal = true;
      for (size_t i = 0; equal && i < row.size(); ++i) {
        equal = !same->second.set[i] || same->second.values[i] == row[i];
      }
      if (equal) return;
    }
  }
  std::set<std::pair<std::string, std::string>> image;
  if (!ImageMatches(info, key, row, read, &image)) return;
  DesiredTable& table = state->tables[name];
  table.info = &info;
  auto existing = table.rows.find(key);
  if (existing != table.rows.end()) {
    bool covered = true;
    for (const auto& source : existing->second.sources) {
      covered = covered && image.count(source) > 0;
    }
    if (!covered || image.empty()) return;
  } else if (!image.empty()) {
    // Its image matches, yet the conversion put nothing here: the rows it
    // came from now convert elsewhere (merged usage). Let the conversion
    // decide.
    return;
  }
  DesiredRow kept;
  kept.values = row;
  kept.set.assign(row.size(), true);
  kept.sources = image;
  kept.retained = true;
  table.rows[key] = std::move(kept);
  for (const RowRef& source : image) {
    state->lineage[source].emplace_back(name, key);
  }
}

void Converter::StatusOfKeptCustomer(const CustomerRows& read,
                                     DesiredState* state) const {
  // Every row was kept: take the status the conversion gives.
  const SchemaSide read_side = Mapping::ReadSide(direction_);
  const SchemaSide write_side = Mapping::WriteSide(direction_);
  const CustomerSpec& customer = mapping_.customer(write_side);
  const CustomerSpec& read_customer = mapping_.customer(read_side);
  const TableRows* rows = read.Find(read_customer.table);
  const TableInfo* info = schemas_[read_side]->Find(read_customer.table);
  for (const TableMapping& entry : mapping_.tables(direction_)) {
    if (rows == nullptr || info == nullptr ||
        entry.from != read_customer.table || entry.to != customer.table) {
      continue;
    }
    for (const auto& [key, row] : rows->rows) {
      std::vector<Part> p;
      if (!ConvertRow(direction_, entry, *info, key, row, lookups_, &p, nullptr,
                      nullptr)
               .ok() ||
          p.empty()) {
        continue;
      }
      const TableInfo* to = schemas_[write_side]->Find(customer.table);
      const int s = to->IndexOf(customer.status);
      if (s >= 0 && p[0].set[s]) {
        state->customer_status = p[0].values[s].value_or("");
      }
    }
  }
}

}  // namespace tandem::migrator
