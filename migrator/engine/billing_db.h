// One billing database as the migrator sees it: reading a customer's rows
// (all of them, or only their hashes, or only some), writing the difference
// between what a side holds and what it must hold, and the migrator's own
// bookkeeping kept on the same server (so that it commits atomically with
// the data it describes).
//
// SQL is built from identifiers of the live schema and the mapping (quoted)
// and always binds values as parameters.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/mysql_pool.h"
#include "migrator/engine/converter.h"
#include "migrator/engine/lookups.h"
#include "migrator/engine/rows.h"
#include "migrator/mapping/live_schema.h"
#include "migrator/mapping/mapping.h"

namespace sql {
class Connection;
}

namespace tandem::migrator {

// What must change on the side written, table by table.
struct TableChanges {
  const TableInfo* info = nullptr;
  // Rows to remove (keys).
  std::vector<std::string> deletes;
  // Rows to write (replacing any row with the same key).
  std::vector<std::pair<std::string, const DesiredRow*>> upserts;
  // The keys among `upserts` the side holds now (the others are only
  // inserted: nothing to remove first), in the order of `upserts`.
  std::vector<std::string> replaces;
};

struct Changes {
  // In the order they are applied (the mapping's entry order, parents
  // first).
  std::vector<TableChanges> tables;
  size_t RowCount() const;
  bool empty() const { return RowCount() == 0; }
};

// The difference between `desired` and `current` (the side written now).
// Columns no entry fills are not compared. `order` lists table names in the
// order to apply them. With `only`, just those rows are compared. Pointers
// into `desired` stay valid while it lives.
Changes Diff(const DesiredState& desired, const CustomerRows& current,
             const std::vector<std::string>& order,
             const std::set<RowRef>* only = nullptr);

// Brings `mirror` (the side written as last written) in line with
// `desired` for the rows `touched` (after Diff(..., &touched) was applied).
void UpdateMirror(const DesiredState& desired, const std::set<RowRef>& touched,
                  CustomerRows* mirror);

// Row hashes of a customer's tables: table -> key -> RowHash.
using Hashes = std::map<std::string, std::map<std::string, std::string>>;

// A digest of a set of rows: how many, and the XOR of their RowHashes (as
// two 64-bit halves). Equal digests mean the same rows with the same
// contents, but for a chance of 2^-128.
struct HashTotal {
  int64_t rows = 0;
  uint64_t high = 0;
  uint64_t low = 0;
  bool operator==(const HashTotal&) const = default;
};

// The digest of the rows with `hashes` (key -> RowHash).
HashTotal TotalOf(const std::map<std::string, std::string>& hashes);

class BillingDb {
 public:
  // `pool` and `schema` must outlive this. `side` says which schema version
  // the database holds; `bookkeeping_db` is the migrator's own database on
  // the same server.
  BillingDb(MysqlPool* pool, std::string database, const LiveSchema* schema,
            const Mapping* mapping, SchemaSide side,
            std::string bookkeeping_db);

  MysqlPool& pool() { return *pool_; }
  SchemaSide side() const { return side_; }
  const LiveSchema& schema() const { return *schema_; }
  const std::string& database() const { return database_; }

  // Creates the bookkeeping database and tables if missing.
  absl::Status EnsureBookkeeping();

  // The bookkeeping table of write fences (write_guard.h): every write
  // method below checks it in the caller's transaction.
  std::string fence_table() const;

  // The tables of this side a customer's rows are read from when this side
  // is read (`reading`), or compared with when it is written.
  std::vector<std::string> CustomerTables(bool reading) const;

  // Reads the customer's rows of `tables` on `conn` (the caller decides the
  // transaction: a consistent snapshot, or a fence).
  // With `hashes`, also the server's RowHash of each row read.
  absl::StatusOr<CustomerRows> ReadCustomer(
      sql::Connection& conn, int64_t customer_id,
      const std::vector<std::string>& tables, Hashes* hashes = nullptr) const;

  // The hashes (RowHash) of the customer's rows of `tables`, computed by the
  // server: a change scan that transfers keys and digests, not rows.
  absl::StatusOr<Hashes> HashCustomer(
      sql::Connection& conn, int64_t customer_id,
      const std::vector<std::string>& tables) const;

  // The digest (HashTotal) of the customer's rows of each of `tables`,
  // computed by the server: a change check that transfers three numbers per
  // table. Tables this side does not have are left out.
  absl::StatusOr<std::map<std::string, HashTotal>> HashTotals(
      sql::Connection& conn, int64_t customer_id,
      const std::vector<std::string>& tables) const;

  // A cheap digest, per customer of `customers` and per table of `columns`
  // (table -> the columns whose changes matter; the key columns always
  // count): the number of the customer's rows and a 64-bit digest (CRC32
  // and CRC32C) of their keys and those columns. What the tail compares to
  // know whether a customer has anything to carry, for many customers in
  // one statement. A customer without rows in a table gets zeros; tables
  // this side does not have are left out.
  absl::StatusOr<std::map<int64_t, std::map<std::string, HashTotal>>>
  ColumnDigests(
      sql::Connection& conn, const std::vector<int64_t>& customers,
      const std::map<std::string, std::vector<std::string>>& columns) const;

  // The keys of the customer's rows of `table` (an index scan, no hashing):
  // what the tail needs to find rows added to an append-only table.
  absl::StatusOr<std::vector<std::string>> KeysOf(
      sql::Connection& conn, int64_t customer_id,
      const std::string& table) const;

  // Reads the rows of `table` with the given keys (missing ones are absent
  // from the result).
  absl::StatusOr<std::map<std::string, Row>> FetchRows(
      sql::Connection& conn, const std::string& table,
      const std::vector<std::string>& keys,
      std::map<std::string, std::string>* hashes = nullptr) const;

  // Applies `changes` on `conn` (inside the caller's transaction). Rows
  // whose key holds a new-id placeholder are inserted without it, take the
  // table's next AUTO_INCREMENT id, and are recorded in the id map (with
  // `customer_id`); later rows referring to them get the new id. Returns
  // the number of rows written or deleted. ALREADY_EXISTS when a row
  // collides with another customer's unique key (a login or a phone number
  // already taken on this side).
  absl::StatusOr<int64_t> Apply(sql::Connection& conn, int64_t customer_id,
                                const Changes& changes) const;

  // Deletes every row of the customer in the tables this side is written
  // to (a failed move's copy). Returns the rows deleted.
  absl::StatusOr<int64_t> DeleteCustomer(sql::Connection& conn,
                                         int64_t customer_id) const;

  // Locks the customer's row (SELECT ... FOR UPDATE) and returns its status
  // value; NOT_FOUND when the side has no such customer.
  absl::StatusOr<std::string> LockCustomer(sql::Connection& conn,
                                           int64_t customer_id) const;

  // Sets the customer's status column.
  absl::Status SetCustomerStatus(sql::Connection& conn, int64_t customer_id,
                                 const std::string& status) const;

  // The id map (only on the source side): rows created natively on the
  // target that a rollback gave source ids.
  absl::Status LoadIdMap(sql::Connection& conn, int64_t customer_id,
                         IdMap* ids) const;

  // Tail marks: the values of additive columns (balances, usage) of the old
  // side as last carried to this (new) side, for the customer.
  using Marks = std::map<std::string, std::string>;  // "table|key|column"
  absl::StatusOr<Marks> LoadMarks(sql::Connection& conn,
                                  int64_t customer_id) const;
  absl::Status SaveMarks(sql::Connection& conn, int64_t customer_id,
                         const Marks& marks, bool replace_all) const;

  // Adds `delta` (a decimal, in this side's units) to a numeric column of
  // one row.
  absl::Status AddToColumn(sql::Connection& conn, const std::string& table,
                           const std::string& key, const std::string& column,
                           const std::string& delta) const;

  // Server load figures, for throttling.
  absl::StatusOr<int64_t> ThreadsRunning();

 private:
  // "WHERE ..." selecting the customer's rows of `table` (one parameter:
  // the customer id).
  std::string OwnerFilter(const std::string& table, bool reading) const;
  std::string Qualified(const std::string& table) const;
  std::string Book(const std::string& table) const;
  // Apply's steps; they throw sql::SQLException, which Apply turns into a
  // status. Deletes the rows with `keys`, a batch a statement.
  void DeleteRows(sql::Connection& conn, const TableInfo& info,
                  const std::vector<std::string>& keys) const;
  // Inserts a row created on the other side, whose `new_id_column` takes
  // this side's next id; records the id in `allocated` and the id map.
  absl::Status InsertWithNewId(
      sql::Connection& conn, const TableInfo& info, const DesiredRow& row,
      int new_id_column, int64_t customer_id,
      std::map<std::string, std::string>& allocated) const;
  // Inserts `rows`, which fill the columns of `mask`, a batch a statement;
  // returns how many.
  absl::StatusOr<int64_t> InsertRows(
      sql::Connection& conn, const TableInfo& info,
      const std::vector<bool>& mask, const std::vector<const DesiredRow*>& rows,
      const std::map<std::string, std::string>& allocated) const;

  MysqlPool* pool_;
  std::string database_;
  const LiveSchema* schema_;
  const Mapping* mapping_;
  SchemaSide side_;
  std::string bookkeeping_db_;
};

}  // namespace tandem::migrator
