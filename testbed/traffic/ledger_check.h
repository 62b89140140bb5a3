// The "nothing lost" checker: proves from a charging ledger (charging.h)
// that every recorded write is present and unchanged on the system that
// holds its customer at the end: the source (v1) unless the customer is
// marked 'exported' there, in which case the target (v2), after converting
// the ledger's v1 values to v2 units (MAPPING.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/mysql_pool.h"

namespace tandem::testbed {

struct LedgerCheckResult {
  int64_t entries = 0;
  int64_t rows_checked = 0;  // xDRs and transactions
  int64_t on_source = 0;     // entries whose customer is held by v1
  int64_t on_target = 0;     // ... by v2
  int64_t missing = 0;       // rows not found
  int64_t altered = 0;       // rows found with a different value
  // Up to 50 human-readable descriptions of missing or altered rows.
  std::vector<std::string> problems;

  bool ok() const { return missing == 0 && altered == 0; }
};

// Reads the ledger at `path` and checks every entry. `target` may be null
// when no customer has moved (FAILED_PRECONDITION otherwise).
// INVALID_ARGUMENT for a malformed ledger line (with its line number).
absl::StatusOr<LedgerCheckResult> CheckLedger(const std::string& path,
                                              MysqlPool& source,
                                              MysqlPool* target);

}  // namespace tandem::testbed
