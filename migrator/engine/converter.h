// Turns a customer's rows on the side read into the rows it must have on the
// side written, by the mapping's entries for one direction: the "desired
// state" that the writer applies and the verifier compares against.
//
// Rows the side written already holds (a moved customer's rows kept on the
// source, or a rolled-back customer's rows kept on the target) are kept as
// they are when nothing changed since: when converting such a row back by
// the other direction gives exactly the rows the side read holds now. That
// is how a rollback carries back only what changed on the target, and why
// conversions that lose something (usage of a resource the target lacks, an
// add-on not carried, settings that are not strings) never lose it on a
// round trip.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "migrator/engine/lookups.h"
#include "migrator/engine/rows.h"
#include "migrator/mapping/live_schema.h"
#include "migrator/mapping/mapping.h"

namespace tandem::migrator {

// A value the side written cannot hold exactly, rounded because rounding
// was allowed.
struct Rounding {
  std::string table;
  std::string key;
  std::string column;
  std::string exact;
  std::string rounded;
};

// A row as the side written must hold it.
struct DesiredRow {
  Row values;
  // The columns some entry filled; the others take the database default.
  std::vector<bool> set;
  // The rows of the side read it comes from, as (table, key).
  std::set<std::pair<std::string, std::string>> sources;
  // Kept as the side written holds it (see the file comment).
  bool retained = false;
  // RowHash(values), once computed (the verifier's cache).
  mutable std::string hash;
};

struct DesiredTable {
  const TableInfo* info = nullptr;
  std::map<std::string, DesiredRow> rows;  // by key
};

struct DesiredState {
  std::map<std::string, DesiredTable> tables;
  // Values rounded under the rounding rule (only with allow_rounding).
  std::vector<Rounding> roundings;
  // Tables of the side written holding rounded values (their totals no
  // longer match the other side's exactly; balances still do, through the
  // adjustments).
  std::set<std::string> rounded_tables;
  // What the operator should know: rows not carried and why.
  std::vector<std::string> warnings;
  // The customer's status as the conversion gives it. The desired customer
  // row itself carries the `exported` value until the flip (see
  // ConvertOptions::hold_status).
  std::string customer_status;
  // Which rows of the side written each row of the side read fills:
  // (table, key) -> [(table, key)].
  std::map<std::pair<std::string, std::string>,
           std::vector<std::pair<std::string, std::string>>>
      lineage;
  size_t RowCount() const;
};

// Rows of a table, by (table, key).
using RowRef = std::pair<std::string, std::string>;

struct ConvertOptions {
  // Convert values the side written cannot hold exactly by rounding them
  // (and report each in `roundings`) instead of failing.
  bool allow_rounding = false;
  // Give the customer row the side's `exported` status, so the side
  // written refuses the customer until the flip says otherwise.
  bool hold_status = true;
};

class Converter {
 public:
  // All references must outlive the converter. `schemas` is indexed by
  // SchemaSide. `lookups` answers for `direction`; `inverse_lookups` for the
  // other direction (used to recognise rows kept unchanged).
  Converter(const Mapping& mapping, Direction direction,
            const LiveSchema* const schemas[2], const CatalogLookups& lookups,
            const CatalogLookups& inverse_lookups, const IdMap& ids,
            ConvertOptions options);

  // Called by Convert with a table of the side written as soon as its
  // rows in `state` are final (converted by every entry, unchanged rows
  // kept, the status held): the caller may write them while the rest
  // converts. The rows stay where they are in the state Convert returns.
  using TableReady =
      std::function<void(const std::string& table, const DesiredState& state)>;

  // The desired state of the side written for `read` (the customer's rows
  // on the side read), keeping unchanged rows of `written` (the customer's
  // rows on the side written now; may be empty). Fails with
  // FAILED_PRECONDITION naming the table, key and column for a value that
  // cannot be converted (an unknown enum value, a product the plan does
  // not map, a value that would need rounding when it is not allowed).
  // Tables are converted in the order of their first entry; with
  // `on_table`, each is announced once final (with allow_rounding, all of
  // them only at the end, as rounding leftovers come last), then any table
  // only `written` has.
  absl::StatusOr<DesiredState> Convert(
      const CustomerRows& read, const CustomerRows& written,
      const TableReady& on_table = nullptr) const;

  // Brings `state` (Convert's result for `read` as it was) up to date after
  // the rows `changed` of the side read were added, changed or removed in
  // `read`, converting only those rows and the rows that share a written
  // row with them: the cutover's cost follows the changes, not the
  // customer's size. Adds the written rows whose desired content may have
  // changed to `touched`. Rows recomputed are no longer `retained`.
  // UNIMPLEMENTED when the state holds rounded values (the caller converts
  // everything again).
  absl::Status Update(const CustomerRows& read, const std::set<RowRef>& changed,
                      DesiredState* state, std::set<RowRef>* touched) const;

  Direction direction() const { return direction_; }

 private:
  struct Part;
  // Converts one row (`source_key` is its key) by one entry into `parts`.
  absl::Status ConvertRow(Direction direction, const TableMapping& entry,
                          const TableInfo& from, const std::string& source_key,
                          const Row& row, const CatalogLookups& lookups,
                          std::vector<Part>* parts,
                          std::vector<Rounding>* roundings,
                          std::vector<std::string>* warnings) const;
  // The parts of an entry that splits a JSON column of `row` into one row
  // per member, each a copy of `base` with the member's name and value.
  absl::Status SplitJsonParts(const TableMapping& entry, const TableInfo& from,
                              const TableInfo& to,
                              const std::string& source_key, const Row& row,
                              const Part& base, std::vector<Part>* parts) const;
  absl::StatusOr<std::string> ConvertValue(
      Direction direction, const TableMapping& entry, const ColumnSpec& spec,
      const TableInfo& from, const Row& row, const ColumnInfo& target,
      const std::string& source_key, const CatalogLookups& lookups,
      bool* dropped, std::string* drop_reason,
      std::vector<Rounding>* roundings) const;
  // Converts the rows of every entry writing table `name` into `state`.
  absl::Status ConvertTable(const CustomerRows& read, const std::string& name,
                            DesiredState* state) const;
  // Keeps the rows of `written` table `name` that nothing changed since
  // they were written, and holds the customer's status in its row.
  void KeepUnchanged(const CustomerRows& read, const CustomerRows& written,
                     const std::string& name, DesiredState* state) const;
  void KeepIfUnchanged(const CustomerRows& read, const TableInfo& info,
                       const std::string& key, const Row& row,
                       DesiredState* state) const;
  // The customer's status as the conversion gives it, when every row of
  // the customer was kept.
  void StatusOfKeptCustomer(const CustomerRows& read,
                            DesiredState* state) const;
  // Update's steps: converts the rows `changed` that `read` still holds
  // into `fresh` (UNIMPLEMENTED when one rounds); converts the rows
  // `sources` again, keeping the parts that fill a row of `affected`; runs
  // Finish on the rows `keys` by table and takes the customer's status
  // from its row (held, when the options say so).
  absl::Status ConvertChanged(const CustomerRows& read,
                              const std::set<RowRef>& changed,
                              DesiredState* state,
                              std::vector<Part>* fresh) const;
  absl::StatusOr<std::vector<Part>> ConvertAffected(
      const CustomerRows& read, const std::set<RowRef>& sources,
      const std::set<RowRef>& affected) const;
  void FinishAffected(const std::map<std::string, std::set<std::string>>& keys,
                      DesiredState* state) const;
  // Joins `parts` (consumed) into the rows of `state`.
  absl::Status Assemble(std::vector<Part> parts, DesiredState* state) const;
  // Defaults of the entries and the held status, for the rows of `table`
  // with keys in `keys` (all rows when null).
  void Finish(const std::string& table, const std::set<std::string>* keys,
              DesiredState* state) const;
  // Books, for every balance whose rounded value no longer equals its
  // opening value plus its rounded transactions, the leftover as an
  // adjustment row (the mapping's `adjustment:`), so that balance minus
  // transactions stays exactly what it was.
  absl::Status BookRoundingLeftovers(const CustomerRows& read,
                                     DesiredState* state) const;
  // BookRoundingLeftovers for one balance; `adj_info` is the adjustment
  // table and `now` the adjustments' time.
  absl::Status BookBalanceLeftovers(const CustomerRows& read,
                                    const BalanceSpec& balance,
                                    const TableInfo& adj_info,
                                    const std::string& now,
                                    DesiredState* state) const;
  // The adjustment row booking `leftover` (units of the side written) on
  // the holder `write_id` (its id on the side written) of `holder` (the
  // balance's side written).
  absl::StatusOr<DesiredRow> AdjustmentRow(const CustomerRows& read,
                                           const BalanceSide& holder,
                                           const std::string& write_id,
                                           const std::string& leftover,
                                           const std::string& now,
                                           const TableInfo& adj_info) const;
  bool ImageMatches(const TableInfo& table, const std::string& key,
                    const Row& row, const CustomerRows& read,
                    std::set<std::pair<std::string, std::string>>* image) const;

  const Mapping& mapping_;
  const Direction direction_;
  const LiveSchema* schemas_[2];
  const CatalogLookups& lookups_;
  const CatalogLookups& inverse_lookups_;
  const IdMap& ids_;
  const ConvertOptions options_;
};

}  // namespace tandem::migrator
