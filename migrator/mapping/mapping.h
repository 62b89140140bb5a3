// The declarative schema mapping (migrator/mapping/*.yaml): how a customer's
// rows on one schema version become rows of the other, in both directions.
// The file format is described in migrator/README.md; this header is its
// data model. Loading checks the file's own consistency; whether it fits
// the live schemas is checked by schema_check.h.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tandem::migrator {

// Which way rows flow.
enum class Direction { kMove, kRollback };

// "move" or "rollback".
const char* DirectionName(Direction direction);

// A place in the mapping file, for error messages: "file.yaml:12".
struct Location {
  std::string file;
  int line = 0;
  std::string ToString() const;
};

// How a column's value is computed from a source row.
struct ColumnSpec {
  // The target column.
  std::string target;
  // The source column it comes from; empty with `constant`.
  std::string from;
  // A fixed value instead of `from`.
  std::optional<std::string> constant;
  // A named unit conversion (`conversions:`), applied forwards or, with
  // `inverse`, backwards (where rounding may be needed).
  std::string convert;
  // A named enum conversion (`enums:`), forwards or backwards.
  std::string enum_name;
  bool inverse = false;
  // "product" or "resource_type": remapped through the catalog's plan.
  std::string catalog;
  // For resource types: the source column holding the subscription id whose
  // plan decides.
  std::string subscription_column;
  // When the catalog says the object is not carried (an add-on the target
  // product does not offer, an unprovisioned resource), the source row
  // produces no target row instead of failing.
  bool drop_row_if_not_carried = false;
  // The id space the value belongs to (for example "cdrs"); values of rows
  // created natively on the target (>= native_id_start) are remapped
  // through the id map.
  std::string id_space;
  // Summed when several source rows land on one target row (`merge: sum`).
  bool sum = false;
  // A quantity changed by late writes on the old side after the flip, which
  // the tail adds to the new side as a delta.
  bool additive = false;
  Location location;
};

// How a table hangs off the customer.
struct OwnerSpec {
  // The table's own column holding the customer id; set unless `via`.
  std::string column;
  // Or: rows whose `via_key` is the key of a `via_table` row owned by the
  // customer through `via_owner` (for example subscription_usage via
  // subscriptions.i_subscription, owned by subscriptions.i_customer).
  std::string via_table;
  std::string via_key;
  std::string via_owner;
  bool direct() const { return via_table.empty(); }
};

// One entry of a direction: rows of `from` produce (some columns of) rows of
// `to`.
struct TableMapping {
  std::string from;
  std::string to;
  OwnerSpec owner;
  std::vector<ColumnSpec> columns;
  // Rows are never changed once written (xDRs, transactions): the tail
  // carries rows added late on the old side.
  bool append_only = false;
  // "sum": source rows landing on the same target key add up their `sum`
  // columns.
  bool merge_sum = false;
  // Each member of a JSON object column becomes one target row.
  struct SplitJson {
    std::string from, name, value;
  };
  std::optional<SplitJson> split_json;
  // The reverse: source rows sharing a target key become one JSON object.
  struct CollectJson {
    std::string into, name, value;
  };
  std::optional<CollectJson> collect_json;
  // Values for target columns no entry provides (for example an empty JSON
  // object for an account without settings rows).
  std::map<std::string, std::string> defaults;
  Location location;
};

struct ScaleConversion {
  std::string name;
  // target = source * scale.
  int64_t scale = 1;
};

struct EnumConversion {
  std::string name;
  // Source value -> target value, and back.
  std::map<std::string, std::string> forward;
  std::map<std::string, std::string> backward;
};

// The customer row on one schema version.
struct CustomerSpec {
  std::string table, key, status, exported;
};

// Where a schema version keeps one kind of catalog object.
struct CatalogTable {
  std::string table, id, code;
};

struct CatalogSpec {
  CatalogTable products;
  CatalogTable resource_types;
};

// What batch selectors read on one schema version (optional; without it a
// batch can only name customers by id). A customer "uses a product" when a
// row of `products_table` names it; its payment system is a column of the
// customer table named through a table of names; its accounts are the rows
// of `accounts_table`.
struct SelectorSpec {
  bool present = false;
  std::string products_table, products_customer, products_product;
  std::string payment_column;  // on the customer table
  std::string payment_names_table, payment_names_id, payment_names_name;
  std::string accounts_table, accounts_customer;
};

// A balance and the transactions that explain it, on one schema version.
struct BalanceSide {
  std::string holder_table, holder_key, balance, holder_owner;
  std::string tx_table, tx_amount, tx_holder, tx_owner;
  // Only transactions where this column is NULL (customer-level ones).
  std::string tx_only_null;
};

struct BalanceSpec {
  std::string name;
  std::string convert;
  BalanceSide v[2];  // indexed by SchemaSide
};

struct AdjustmentSpec {
  std::string table;
  // Column -> value; "$customer", "$account", "$amount" and "$now" are
  // filled in.
  std::map<std::string, std::string> columns;
};

struct TotalsSide {
  std::string table, owner, group, month, sum;
};

struct TotalsCheck {
  std::string name;
  std::string convert;
  TotalsSide v[2];  // indexed by SchemaSide
};

// The two schema versions: 0 = source (old), 1 = target (new).
enum SchemaSide { kSourceSide = 0, kTargetSide = 1 };

class Mapping {
 public:
  // Parses and checks the mapping's own consistency (names it refers to
  // exist in the file, required fields present, no column mapped twice).
  // INVALID_ARGUMENT with "file:line: what" for the first problem.
  static absl::StatusOr<Mapping> Parse(const std::string& text,
                                       const std::string& file_name);
  // Reads and parses the file at `path`; NOT_FOUND when it cannot be read.
  static absl::StatusOr<Mapping> Load(const std::string& path);

  const std::string& version() const { return version_; }
  // The schema names of both sides, e.g. "v1" and "v2".
  const std::string& schema_name(SchemaSide side) const {
    return schema_names_[side];
  }
  // SHA-256 of the file's bytes, in lower-case hex.
  const std::string& digest() const { return digest_; }
  const std::string& path() const { return path_; }
  int64_t native_id_start() const { return native_id_start_; }

  // The entries of a direction, in file order.
  const std::vector<TableMapping>& tables(Direction direction) const {
    return direction == Direction::kMove ? move_ : rollback_;
  }
  const std::map<std::string, ScaleConversion>& conversions() const {
    return conversions_;
  }
  const std::map<std::string, EnumConversion>& enums() const { return enums_; }
  const CustomerSpec& customer(SchemaSide side) const {
    return customer_[side];
  }
  const CatalogSpec& catalog(SchemaSide side) const { return catalog_[side]; }
  const SelectorSpec& selectors(SchemaSide side) const {
    return selectors_[side];
  }
  const std::vector<BalanceSpec>& balances() const { return balances_; }
  const AdjustmentSpec& adjustment(SchemaSide side) const {
    return adjustment_[side];
  }
  const std::vector<TotalsCheck>& checks() const { return checks_; }

  // The side rows are read from in `direction`, and the side written.
  static SchemaSide ReadSide(Direction direction) {
    return direction == Direction::kMove ? kSourceSide : kTargetSide;
  }
  static SchemaSide WriteSide(Direction direction) {
    return direction == Direction::kMove ? kTargetSide : kSourceSide;
  }

  // How a table of `side` hangs off the customer, from the entries that read
  // it; nullptr when no entry reads it.
  const OwnerSpec* OwnerOf(SchemaSide side, const std::string& table) const;

  // Every table of `side` the mapping reads or writes, in name order.
  std::vector<std::string> TablesOf(SchemaSide side) const;

 private:
  // Parse's steps, one per section of the file (mapping.cc).
  friend class MappingParser;

  std::string version_;
  std::string schema_names_[2];
  std::string digest_;
  std::string path_;
  int64_t native_id_start_ = 0;
  std::vector<TableMapping> move_, rollback_;
  std::map<std::string, ScaleConversion> conversions_;
  std::map<std::string, EnumConversion> enums_;
  CustomerSpec customer_[2];
  CatalogSpec catalog_[2];
  SelectorSpec selectors_[2];
  std::vector<BalanceSpec> balances_;
  AdjustmentSpec adjustment_[2];
  std::vector<TotalsCheck> checks_;
};

}  // namespace tandem::migrator
