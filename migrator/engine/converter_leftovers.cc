// The converter's rounding leftovers: when money converts with rounding,
// what the rounding took from each balance is booked as an adjustment row,
// so balances and their transactions still agree on the side written.
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "migrator/engine/converter.h"
#include "migrator/engine/values.h"

namespace tandem::migrator {

absl::Status Converter::BookRoundingLeftovers(const CustomerRows& read,
                                              DesiredState* state) const {
  const SchemaSide write_side = Mapping::WriteSide(direction_);
  const TableInfo* adj_info =
      schemas_[write_side]->Find(mapping_.adjustment(write_side).table);
  if (adj_info == nullptr) {
    return absl::FailedPreconditionError("the adjustment table does not exist");
  }
  const std::string now =
      absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::Now(), absl::UTCTimeZone());
  for (const BalanceSpec& b : mapping_.balances()) {
    TANDEM_RETURN_IF_ERROR(
        BookBalanceLeftovers(read, b, *adj_info, now, state));
  }
  return absl::OkStatus();
}

namespace {

// The sum of a side's transactions (`rows` of `tx`) per holder, in that
// side's units.
absl::StatusOr<std::map<std::string, std::string>> TransactionSums(
    const TableInfo* tx, const BalanceSide& v,
    const std::vector<const Row*>& rows) {
  std::map<std::string, std::string> out;
  if (tx == nullptr) return out;
  const int amount = tx->IndexOf(v.tx_amount);
  const int holder = tx->IndexOf(v.tx_holder);
  const int only_null =
      v.tx_only_null.empty() ? -1 : tx->IndexOf(v.tx_only_null);
  for (const Row* row : rows) {
    if (only_null >= 0 && (*row)[only_null].has_value()) continue;
    if (!(*row)[holder].has_value()) continue;
    auto [it, inserted] = out.try_emplace(*(*row)[holder], 1, '0');
    TANDEM_ASSIGN_OR_RETURN(
        it->second, DecimalSum(it->second, (*row)[amount].value_or("0")));
  }
  return out;
}

// The rows of `table` in `read`, or in `state`.
std::vector<const Row*> RowsOf(const CustomerRows& read,
                               const std::string& table) {
  std::vector<const Row*> out;
  if (const TableRows* t = read.Find(table)) {
    for (const auto& [key, row] : t->rows) out.push_back(&row);
  }
  return out;
}
std::vector<const Row*> RowsOf(const DesiredState& state,
                               const std::string& table) {
  std::vector<const Row*> out;
  if (auto t = state.tables.find(table); t != state.tables.end()) {
    for (const auto& [key, row] : t->second.rows) out.push_back(&row.values);
  }
  return out;
}

// What rounding left over of one holder's balance, in units of the side
// written: the opening value (balance minus transactions) its desired row
// implies there, minus its opening value on the side read converted.
absl::StatusOr<std::string> Leftover(const std::string& read_balance,
                                     const std::string& read_sum, int shift,
                                     int balance_scale,
                                     const std::string& write_balance,
                                     const std::string& write_sum) {
  TANDEM_ASSIGN_OR_RETURN(std::string opening,
                          DecimalDifference(read_balance, read_sum));
  TANDEM_ASSIGN_OR_RETURN(Rescaled opening_w,
                          Rescale(opening, shift, balance_scale));
  TANDEM_ASSIGN_OR_RETURN(std::string implied,
                          DecimalDifference(write_balance, write_sum));
  return DecimalDifference(implied, opening_w.text);
}

}  // namespace

absl::Status Converter::BookBalanceLeftovers(const CustomerRows& read,
                                             const BalanceSpec& b,
                                             const TableInfo& adj_info,
                                             const std::string& now,
                                             DesiredState* state) const {
  const SchemaSide read_side = Mapping::ReadSide(direction_);
  const SchemaSide write_side = Mapping::WriteSide(direction_);
  const BalanceSide& w = b.v[write_side];
  const BalanceSide& r = b.v[read_side];
  const int64_t scale = mapping_.conversions().at(b.convert).scale;
  const int shift = write_side == kTargetSide ? Log10(scale) : -Log10(scale);
  const TableInfo* read_tx = schemas_[read_side]->Find(r.tx_table);
  const TableInfo* write_tx = schemas_[write_side]->Find(w.tx_table);
  const TableInfo* read_holder = schemas_[read_side]->Find(r.holder_table);
  const TableInfo* write_holder = schemas_[write_side]->Find(w.holder_table);
  if (read_tx == nullptr || write_tx == nullptr || read_holder == nullptr ||
      write_holder == nullptr) {
    return absl::OkStatus();
  }
  TANDEM_ASSIGN_OR_RETURN(
      auto read_sums, TransactionSums(read_tx, r, RowsOf(read, r.tx_table)));
  // Only converted rows are in `state` yet: earlier adjustments are booked
  // again below, not counted.
  TANDEM_ASSIGN_OR_RETURN(
      auto write_sums,
      TransactionSums(write_tx, w, RowsOf(*state, w.tx_table)));
  const TableRows* holders = read.Find(r.holder_table);
  auto desired_holders = state->tables.find(w.holder_table);
  if (holders == nullptr || desired_holders == state->tables.end()) {
    return absl::OkStatus();
  }
  const int read_balance = read_holder->IndexOf(r.balance);
  const int read_key = read_holder->IndexOf(r.holder_key);
  const int write_balance = write_holder->IndexOf(w.balance);
  const int balance_scale =
      write_balance >= 0 && write_holder->columns[write_balance].IsDecimal()
          ? write_holder->columns[write_balance].scale
          : 0;
  // The desired holders by their id on the side written (the last row
  // holding an id, should several).
  std::map<std::string, const DesiredRow*> by_id;
  const int write_key = write_holder->IndexOf(w.holder_key);
  for (const auto& [dk, drow] : desired_holders->second.rows) {
    if (drow.values[write_key].has_value()) {
      by_id[*drow.values[write_key]] = &drow;
    }
  }
  for (const auto& [k, row] : holders->rows) {
    const std::string key = row[read_key].value_or("");
    // The holder's id on the side written.
    const std::string write_id =
        direction_ == Direction::kRollback
            ? ids_.ToSource(w.holder_table, key).value_or(key)
            : ids_.ToTarget(w.holder_table, key);
    auto desired = by_id.find(write_id);
    if (desired == by_id.end()) continue;
    auto read_sum = read_sums.find(key);
    auto write_sum = write_sums.find(write_id);
    TANDEM_ASSIGN_OR_RETURN(
        std::string leftover,
        Leftover(row[read_balance].value_or("0"),
                 read_sum == read_sums.end() ? "0" : read_sum->second, shift,
                 balance_scale,
                 desired->second->values[write_balance].value_or("0"),
                 write_sum == write_sums.end() ? "0" : write_sum->second));
    if (IsZeroDecimal(leftover)) continue;
    TANDEM_ASSIGN_OR_RETURN(
        DesiredRow adj,
        AdjustmentRow(read, w, write_id, leftover, now, adj_info));
    adj.sources.insert({r.holder_table, k});
    DesiredTable& table = state->tables[adj_info.name];
    table.info = &adj_info;
    table.rows[KeyOf(adj_info, adj.values)] = std::move(adj);
    state->warnings.push_back(
        absl::StrCat("rounding leftover of ", w.holder_table, " ", write_id,
                     " (", b.name, ") booked as an adjustment of ", leftover));
  }
  return absl::OkStatus();
}

absl::StatusOr<DesiredRow> Converter::AdjustmentRow(
    const CustomerRows& read, const BalanceSide& w, const std::string& write_id,
    const std::string& leftover, const std::string& now,
    const TableInfo& adj_info) const {
  const SchemaSide read_side = Mapping::ReadSide(direction_);
  const SchemaSide write_side = Mapping::WriteSide(direction_);
  // Keyed so that repeating the conversion finds the same row (its id,
  // once given, is in the id map).
  const std::string holder_ref = absl::StrCat(w.holder_table, "/", write_id);
  DesiredRow adj;
  adj.values.assign(adj_info.columns.size(), std::nullopt);
  adj.set.assign(adj_info.columns.size(), false);
  for (const auto& [column, value] : mapping_.adjustment(write_side).columns) {
    const int i = adj_info.IndexOf(column);
    if (i < 0) continue;
    Value v = value;
    if (value == "$customer") {
      v = std::nullopt;
      const CustomerSpec& customer = mapping_.customer(read_side);
      const TableRows* customers = read.Find(customer.table);
      const TableInfo* ci = schemas_[read_side]->Find(customer.table);
      if (customers != nullptr && ci != nullptr && !customers->rows.empty()) {
        v = customers->rows.begin()->second[ci->IndexOf(customer.key)];
      }
    } else if (value == "$account") {
      v = w.tx_only_null.empty() ? Value(write_id) : std::nullopt;
    } else if (value == "$amount") {
      TANDEM_ASSIGN_OR_RETURN(std::string canonical,
                              Canonical(adj_info.columns[i], leftover));
      v = canonical;
    } else if (value == "$now") {
      v = now;
    }
    adj.values[i] = v;
    adj.set[i] = true;
  }
  for (size_t i = 0; i < adj_info.columns.size(); ++i) {
    if (adj_info.columns[i].auto_increment) {
      std::optional<std::string> id = ids_.Find("adjustment", holder_ref);
      adj.values[i] =
          id.has_value() ? *id : NewIdPlaceholder("adjustment", holder_ref);
      adj.set[i] = true;
    }
  }
  return adj;
}

}  // namespace tandem::migrator
