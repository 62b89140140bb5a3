// Verifies one customer across the two versions, two ways:
//  - rows: the converted rows of the side read against the rows of the side
//    written, per table (counts, MD5 digests computed by the server, and the
//    differing columns of rows that differ);
//  - business meaning, independent of how each row was converted: every
//    balance minus the transactions that explain it (its opening value) is
//    the same on both versions, and row counts and totals per group (xDRs
//    per account and month) agree.
// A mapping that copies faithfully but converts wrongly fails the second.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "migrator/engine/billing_db.h"
#include "migrator/engine/converter.h"

namespace tandem::migrator {

struct TableCompare {
  std::string table;  // on the side written
  int64_t expected_rows = 0;
  int64_t actual_rows = 0;
  int64_t missing = 0;
  int64_t extra = 0;
  int64_t differing = 0;
  // Rows created natively on the side written since the move (after-move
  // mode only; not differences).
  int64_t native = 0;
};

struct Difference {
  enum Kind { kMissing, kExtra, kValue, kBusiness };
  Kind kind = kValue;
  std::string table;
  std::string key;
  std::string column;
  std::string expected;
  std::string actual;
};

struct Verification {
  bool equal = true;
  std::vector<TableCompare> tables;
  std::vector<Difference> differences;  // at most the limit asked for
  bool truncated = false;
  int64_t business_checks = 0;
};

enum class VerifyMode {
  // Before the flip: the side written must equal the converted side read,
  // row for row (the customer's status held at `exported`).
  kStrict,
  // After the flip: the side written is authoritative and changes on its
  // own. Append-only rows of the side read must all be there; rows created
  // natively since are counted, not differences; other rows may have been
  // changed by their owner and are not compared; the business checks must
  // hold.
  kAfterMove,
};

class Verifier {
 public:
  // `read_db` and `write_db` are the two sides for `direction`.
  Verifier(const Mapping& mapping, Direction direction, BillingDb& read_db,
           BillingDb& write_db, const IdMap& ids);

  // Compares `desired` (the conversion of the side read) with the side
  // written, reading it on `write_conn`; the business checks read the side
  // read on `read_conn`. At most `max_differences` differences are listed.
  // Without `business`, only the rows are compared (for a check while the
  // side read still changes, whose business figures would not be those of
  // `desired`).
  absl::StatusOr<Verification> Verify(sql::Connection& read_conn,
                                      sql::Connection& write_conn,
                                      int64_t customer_id,
                                      const DesiredState& desired,
                                      VerifyMode mode, int max_differences,
                                      bool business = true) const;

 private:
  absl::Status CompareRows(sql::Connection& write_conn, int64_t customer_id,
                           const DesiredState& desired, VerifyMode mode,
                           int max_differences, Verification* out) const;
  // Compares the rows `fetch` of `want` with the written rows column by
  // column (but `skip_column`, -1 for none), counting each row that
  // differs in `cmp` and each differing value in `out`.
  absl::Status CompareValues(sql::Connection& write_conn, const TableInfo& info,
                             const DesiredTable& want,
                             const std::vector<std::string>& fetch,
                             int skip_column, int max_differences,
                             TableCompare* cmp, Verification* out) const;
  absl::Status CheckBalances(sql::Connection& read_conn,
                             sql::Connection& write_conn, int64_t customer_id,
                             int max_differences, Verification* out) const;
  // Totals of tables in `rounded` are not compared: their values were
  // rounded on purpose (the balance check still holds through the
  // adjustments).
  absl::Status CheckTotals(sql::Connection& read_conn,
                           sql::Connection& write_conn, int64_t customer_id,
                           VerifyMode mode, int max_differences,
                           const std::set<std::string>& rounded,
                           Verification* out) const;

  const Mapping& mapping_;
  const Direction direction_;
  BillingDb& read_db_;
  BillingDb& write_db_;
  const IdMap& ids_;
};

// Adds a difference unless the list is full (then marks it truncated).
void AddDifference(Verification* v, Difference d, int max_differences);

}  // namespace tandem::migrator
