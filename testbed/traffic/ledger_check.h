// The "nothing lost" checker: proves from a charging ledger (ledger.h) that
// the system holding each customer has every write exactly once, correctly
// converted, nothing else, and balances that add up.
//
// Who holds a customer comes from the router (HolderSource; not from v1's
// status). On that system, for every customer in the ledger:
//   1. every ledger row (xDR/CDR and balance transaction) is there, by id,
//      with the ledger's values converted to the system's units: exactly,
//      except a row written on v2 and held by v1 (after a rollback), whose
//      money and duration may differ by less than v1's precision (10
//      micro-units, 1 s) - counted as "rounded";
//   2. nothing extra: every xDR and transaction of the customer created
//      after the ledger's start (ids beyond the start line's maxima) is
//      explained by a ledger line; an unexplained one equal to a ledger row
//      is a duplicate, any other an extra row (transactions of the types in
//      LedgerCheckOptions::unledgered_tx_types excepted);
//   3. the balance rule: each account's balance equals the sum of its
//      transactions (its opening transaction included), and each customer's
//      balance the sum of its customer-level transactions;
//   4. top-ups (rule 1), settings (each setting the ledger touched has the
//      value of its last edit; deleted = absent, or JSON null on v1) and
//      usage (each usage row the ledger touched equals its value before the
//      first edit plus every delta) are present.
// A customer whose route is MIGRATING is reported, not checked.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/mysql_pool.h"

namespace tandem::testbed {

// Where a customer is held.
struct Holder {
  bool on_target = false;
  bool migrating = false;
};

class HolderSource {
 public:
  virtual ~HolderSource() = default;
  // The holder of each of `customers` (ascending ids). UNAVAILABLE when
  // the source of truth cannot be asked.
  virtual absl::StatusOr<std::map<int64_t, Holder>> Holders(
      const std::vector<int64_t>& customers) = 0;
};

// Everybody on the source: for a deployment without a router.
class SourceOnlyHolders final : public HolderSource {
 public:
  absl::StatusOr<std::map<int64_t, Holder>> Holders(
      const std::vector<int64_t>& customers) override;
};

// Asks a router (ListRoutes, paged; GetDefaultSystem for customers it does
// not know) with a bearer token of at least the viewer role.
std::unique_ptr<HolderSource> RouterHolders(const std::string& address,
                                            const std::string& token);

// One balance the checker verified (or found wrong).
struct BalanceLine {
  int64_t customer_id = 0;
  std::optional<int64_t> account_id;  // nullopt: the customer's own balance
  bool on_target = false;
  int64_t balance_micros = 0;
  int64_t opening_micros = 0;       // its opening transactions
  int64_t transactions_micros = 0;  // its other transactions
  int64_t transactions = 0;         // how many other transactions
  bool ok() const {
    return balance_micros == opening_micros + transactions_micros;
  }
};

struct LedgerCheckResult {
  int64_t entries = 0;
  int64_t customers = 0;
  int64_t rows_checked = 0;       // ledger rows, settings and usage checked
  int64_t on_source = 0;          // entries whose customer v1 holds
  int64_t on_target = 0;          // ... v2 holds
  int64_t written_on_target = 0;  // entries a v2 write made
  int64_t blind = 0;              // route-blind entries
  int64_t rounded = 0;  // v2-written rows held by v1, within v1's precision
  // Discrepancies, by kind.
  int64_t missing = 0;
  int64_t duplicates = 0;
  int64_t wrong_values = 0;  // a row, setting or usage with another value
  int64_t wrong_balances = 0;
  int64_t extra = 0;
  int64_t unsettled = 0;  // customers MIGRATING (not checked)
  // One sentence per discrepancy (at most LedgerCheckOptions::max_problems).
  std::vector<std::string> problems;
  // Every balance checked: each ledger customer's and its accounts'.
  std::vector<BalanceLine> balances;

  bool ok() const {
    return missing + duplicates + wrong_values + wrong_balances + extra +
               unsettled ==
           0;
  }
};

struct LedgerCheckOptions {
  // Transactions the ledger need not explain: the rollback's rounding
  // leftovers (MAPPING.md, reverse direction), booked by the migrator.
  std::set<std::string> unledgered_tx_types = {"rounding"};
  size_t max_problems = 1000;
};

// Reads the ledger at `path` and checks it. `target` may be null when no
// customer is held by the target (FAILED_PRECONDITION otherwise).
// INVALID_ARGUMENT for a malformed ledger line (with its number) or a ledger
// without a start line; NOT_FOUND when the file cannot be read; database
// and router errors as they come.
absl::StatusOr<LedgerCheckResult> CheckLedger(
    const std::string& path, MysqlPool& source, MysqlPool* target,
    HolderSource& holders, const LedgerCheckOptions& options = {});

}  // namespace tandem::testbed
