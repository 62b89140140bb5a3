// The checks of ledger_check.h, per system: the customers it holds, their
// new rows, balances, settings and usage, fetched in chunks and compared
// with what the ledger says.
#include "testbed/traffic/ledger_check.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <mysql_connection.h>

#include <cstdlib>
#include <fstream>
#include <functional>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "testbed/base/json.h"
#include "testbed/base/model.h"
#include "testbed/traffic/ledger.h"

namespace tandem::testbed {
namespace {

using Stmt = std::unique_ptr<sql::PreparedStatement>;
using Rows = std::unique_ptr<sql::ResultSet>;

constexpr size_t kChunk = 500;
constexpr int64_t kTargetIdBase = 1000000000;

struct XdrRow {
  int64_t id = 0, account_id = 0, customer_id = 0, duration_ms = 0,
          charged_micros = 0;
  std::string connect_time, cli, cld;
};

struct TxRow {
  int64_t id = 0, customer_id = 0, amount_micros = 0;
  std::optional<int64_t> account_id;
  std::string type, time;
};

std::string Text(const Rows& rs, int column) {
  return rs->isNull(column) ? "" : std::string(rs->getString(column));
}

int64_t Money(const Rows& rs, int column, bool v1) {
  if (!v1) return rs->isNull(column) ? 0 : rs->getInt64(column);
  absl::StatusOr<int64_t> m = DecimalToMicros(Text(rs, column));
  return m.ok() ? *m : 0;
}

std::string Placeholders(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out.append(i == 0 ? "?" : ",?");
  return out;
}

// Runs `sql` (with "(IN)" replaced by a placeholder list) for each chunk of
// `ids`, binding the ids first and then `extra`; `row` sees each result row.
absl::Status ForChunks(MysqlPool& pool, const std::string& sql,
                       const std::vector<int64_t>& ids,
                       const std::vector<int64_t>& extra,
                       const std::function<void(const Rows&)>& row) {
  for (size_t start = 0; start < ids.size(); start += kChunk) {
    const size_t n = std::min(kChunk, ids.size() - start);
    std::string query = sql;
    query.replace(query.find("(IN)"), 4,
                  absl::StrCat("(", Placeholders(n), ")"));
    TANDEM_RETURN_IF_ERROR(pool.Run("ledger check", [&](sql::Connection& c) {
      Stmt ps(c.prepareStatement(query));
      int i = 1;
      for (size_t k = 0; k < n; ++k) ps->setInt64(i++, ids[start + k]);
      for (int64_t v : extra) ps->setInt64(i++, v);
      Rows rs(ps->executeQuery());
      while (rs->next()) row(rs);
      return absl::OkStatus();
    }));
  }
  return absl::OkStatus();
}

struct Ledger {
  LedgerStart start;  // the earliest maxima of all start lines
  std::vector<std::pair<int, LedgerEntry>> entries;  // (line, entry)
};

absl::StatusOr<Ledger> ReadLedger(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  Ledger ledger;
  bool started = false;
  std::string text;
  int line = 0;
  while (std::getline(in, text)) {
    ++line;
    if (text.empty()) continue;
    TANDEM_ASSIGN_OR_RETURN(LedgerLineValue v, ParseLedgerLine(text, line));
    if (v.start) {
      LedgerStart& s = ledger.start;
      if (!started) {
        s = *v.start;
      } else {
        s.source_max_xdr_id =
            std::min(s.source_max_xdr_id, v.start->source_max_xdr_id);
        s.source_max_transaction_id = std::min(
            s.source_max_transaction_id, v.start->source_max_transaction_id);
        s.target_max_xdr_id =
            std::min(s.target_max_xdr_id, v.start->target_max_xdr_id);
        s.target_max_transaction_id = std::min(
            s.target_max_transaction_id, v.start->target_max_transaction_id);
      }
      started = true;
    } else if (!started) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ledger line ", line, ": a write before any start line"));
    } else {
      ledger.entries.emplace_back(line, *v.entry);
    }
  }
  if (!started) {
    return absl::InvalidArgumentError(
        absl::StrCat(path,
                     " has no start line (an empty ledger, or one "
                     "from an older tandem-traffic)"));
  }
  return ledger;
}

// Compares values in neutral units; `lossy` when a v2 value went to v1,
// which holds money to 10 micro-units and durations to whole seconds.
class Comparer {
 public:
  explicit Comparer(int64_t* rounded) : rounded_(rounded) {}
  bool Money(int64_t ledger, int64_t row, bool lossy) {
    return Near(ledger, row, lossy ? 10 : 1);
  }
  bool Millis(int64_t ledger, int64_t row, bool lossy) {
    return Near(ledger, row, lossy ? 1000 : 1);
  }
  // Call after a whole row matched: counts it if it matched only roughly.
  void Matched() {
    if (inexact_) ++*rounded_;
    inexact_ = false;
  }
  void Reset() { inexact_ = false; }

 private:
  bool Near(int64_t a, int64_t b, int64_t unit) {
    if (a == b) return true;
    if (std::llabs(a - b) < unit) {
      inexact_ = true;
      return true;
    }
    return false;
  }
  int64_t* rounded_;
  bool inexact_ = false;
};

bool SameXdr(const LedgerEntry& e, const XdrRow& r, bool lossy, Comparer& c) {
  c.Reset();
  return e.account_id == r.account_id && e.customer_id == r.customer_id &&
         e.connect_time == r.connect_time && e.cli == r.cli && e.cld == r.cld &&
         c.Millis(e.duration_ms, r.duration_ms, lossy) &&
         c.Money(e.charged_micros, r.charged_micros, lossy);
}

bool SameTx(const LedgerEntry& e, const TxRow& r, bool lossy, Comparer& c) {
  c.Reset();
  return e.customer_id == r.customer_id && e.account_id == r.account_id &&
         e.tx_type == r.type && e.tx_time == r.time &&
         c.Money(e.amount_micros, r.amount_micros, lossy);
}

// Checks the customers one system holds.
class SystemCheck {
 public:
  SystemCheck(MysqlPool& pool, bool target, const LedgerStart& start,
              const LedgerCheckOptions& options, LedgerCheckResult& result)
      : pool_(pool),
        target_(target),
        v1_(!target),
        start_(start),
        options_(options),
        result_(result),
        compare_(&result.rounded) {}

  absl::Status Run(const std::vector<int64_t>& customers,
                   const std::vector<const std::pair<int, LedgerEntry>*>& es);

 private:
  const char* where() const { return target_ ? "target" : "source"; }
  void Problem(int64_t* counter, std::string text) {
    ++*counter;
    if (result_.problems.size() < options_.max_problems) {
      result_.problems.push_back(std::move(text));
    }
  }
  absl::Status FetchNewRows(const std::vector<int64_t>& customers);
  void CheckRows(const std::vector<const std::pair<int, LedgerEntry>*>& es);
  // CheckRows' two halves: every ledger line's rows found as written (the
  // rows found go into the `explained` sets), then every row found that no
  // line explains, reported as a duplicate of a line or as an extra.
  void CheckLedgerRows(
      const std::vector<const std::pair<int, LedgerEntry>*>& es,
      std::set<int64_t>* explained_xdrs, std::set<int64_t>* explained_txs);
  void CheckUnexplainedRows(
      const std::vector<const std::pair<int, LedgerEntry>*>& es,
      const std::set<int64_t>& explained_xdrs,
      const std::set<int64_t>& explained_txs);
  absl::Status CheckBalances(const std::vector<int64_t>& customers);
  // The columns CheckBalances sums the transactions of a balance with.
  const char* BalanceSums() const;
  // Checks each customer's own balance; `seen` gets every customer found.
  absl::Status CheckCustomerBalances(const std::vector<int64_t>& customers,
                                     std::set<int64_t>& seen);
  // Checks each account balance of the customers.
  absl::Status CheckAccountBalances(const std::vector<int64_t>& customers);
  // Keeps `b`, and counts it as a problem when it does not add up.
  void RecordBalance(const BalanceLine& b);
  absl::Status CheckSettings(
      const std::vector<const std::pair<int, LedgerEntry>*>& es);
  absl::Status CheckUsage(
      const std::vector<const std::pair<int, LedgerEntry>*>& es);

  MysqlPool& pool_;
  const bool target_;
  const bool v1_;
  const LedgerStart& start_;
  const LedgerCheckOptions& options_;
  LedgerCheckResult& result_;
  Comparer compare_;
  std::map<int64_t, XdrRow> xdrs_;  // new rows, by id
  std::map<int64_t, TxRow> txs_;
};

absl::Status SystemCheck::FetchNewRows(const std::vector<int64_t>& customers) {
  // New: beyond the source's maxima and outside the target's own ids that
  // existed at the start.
  const std::vector<int64_t> xdr_range = {
      start_.source_max_xdr_id, kTargetIdBase, start_.target_max_xdr_id};
  TANDEM_RETURN_IF_ERROR(ForChunks(
      pool_,
      v1_ ? "SELECT i_xdr, i_account, i_customer, connect_time, duration, "
            "charged_amount, CLI, CLD FROM xdrs WHERE i_customer IN (IN) "
            "AND i_xdr > ? AND NOT (i_xdr BETWEEN ? AND ?)"
          : "SELECT cdr_id, account_id, customer_id, started_at, duration_ms, "
            "charged_micros, calling_number, called_number FROM cdrs "
            "WHERE customer_id IN (IN) AND cdr_id > ? "
            "AND NOT (cdr_id BETWEEN ? AND ?)",
      customers, xdr_range, [&](const Rows& rs) {
        XdrRow r;
        r.id = rs->getInt64(1);
        r.account_id = rs->getInt64(2);
        r.customer_id = rs->getInt64(3);
        r.connect_time = Text(rs, 4);
        r.duration_ms = v1_ ? rs->getInt64(5) * 1000 : rs->getInt64(5);
        r.charged_micros = Money(rs, 6, v1_);
        r.cli = Text(rs, 7);
        r.cld = Text(rs, 8);
        xdrs_[r.id] = std::move(r);
      }));
  const std::vector<int64_t> tx_range = {start_.source_max_transaction_id,
                                         kTargetIdBase,
                                         start_.target_max_transaction_id};
  return ForChunks(
      pool_,
      v1_ ? "SELECT i_transaction, i_customer, i_account, amount, tx_type, "
            "tx_time FROM balance_transactions WHERE i_customer IN (IN) "
            "AND i_transaction > ? AND NOT (i_transaction BETWEEN ? AND ?)"
          : "SELECT transaction_id, customer_id, account_id, amount_micros, "
            "kind, created_at FROM balance_transactions WHERE customer_id "
            "IN (IN) AND transaction_id > ? "
            "AND NOT (transaction_id BETWEEN ? AND ?)",
      customers, tx_range, [&](const Rows& rs) {
        TxRow r;
        r.id = rs->getInt64(1);
        r.customer_id = rs->getInt64(2);
        if (!rs->isNull(3)) r.account_id = rs->getInt64(3);
        r.amount_micros = Money(rs, 4, v1_);
        r.type = Text(rs, 5);
        r.time = Text(rs, 6);
        txs_[r.id] = std::move(r);
      });
}

void SystemCheck::CheckRows(
    const std::vector<const std::pair<int, LedgerEntry>*>& es) {
  std::set<int64_t> explained_xdrs, explained_txs;
  CheckLedgerRows(es, &explained_xdrs, &explained_txs);
  CheckUnexplainedRows(es, explained_xdrs, explained_txs);
}

void SystemCheck::CheckLedgerRows(
    const std::vector<const std::pair<int, LedgerEntry>*>& es,
    std::set<int64_t>* explained_xdrs, std::set<int64_t>* explained_txs) {
  for (const auto* p : es) {
    const auto& [line, e] = *p;
    const bool lossy = e.on_target && !target_;
    const std::string who = absl::StrCat(
        "line ", line, " (", WriteKindName(e.kind), " of customer ",
        e.customer_id, ", written on ", e.on_target ? "target" : "source",
        e.blind ? ", blind" : "", ")");
    if (e.kind == WriteKind::kXdr) {
      ++result_.rows_checked;
      explained_xdrs->insert(e.xdr_id);
      auto it = xdrs_.find(e.xdr_id);
      if (it == xdrs_.end()) {
        Problem(&result_.missing,
                absl::StrCat(who, ": xDR ", e.xdr_id, " missing on ", where()));
      } else if (!SameXdr(e, it->second, lossy, compare_)) {
        Problem(&result_.wrong_values,
                absl::StrCat(who, ": xDR ", e.xdr_id, " differs on ", where(),
                             " (duration_ms ", it->second.duration_ms, " vs ",
                             e.duration_ms, ", charged_micros ",
                             it->second.charged_micros, " vs ",
                             e.charged_micros, ")"));
      } else {
        compare_.Matched();
      }
    }
    if (!e.has_transaction()) continue;
    ++result_.rows_checked;
    explained_txs->insert(e.transaction_id);
    auto it = txs_.find(e.transaction_id);
    if (it == txs_.end()) {
      Problem(&result_.missing,
              absl::StrCat(who, ": transaction ", e.transaction_id,
                           " missing on ", where()));
    } else if (!SameTx(e, it->second, lossy, compare_)) {
      Problem(&result_.wrong_values,
              absl::StrCat(who, ": transaction ", e.transaction_id,
                           " differs on ", where(), " (amount_micros ",
                           it->second.amount_micros, " vs ", e.amount_micros,
                           ", type ", it->second.type, " vs ", e.tx_type, ")"));
    } else {
      compare_.Matched();
    }
  }
}

void SystemCheck::CheckUnexplainedRows(
    const std::vector<const std::pair<int, LedgerEntry>*>& es,
    const std::set<int64_t>& explained_xdrs,
    const std::set<int64_t>& explained_txs) {
  // Rows nobody wrote: copies of a ledger row (duplicates) or extras.
  auto copy_of = [&](auto same) -> const std::pair<int, LedgerEntry>* {
    for (const auto* p : es) {
      if (same(p->second)) return p;
    }
    return nullptr;
  };
  for (const auto& [id, r] : xdrs_) {
    if (explained_xdrs.count(id)) continue;
    const auto* original = copy_of([&](const LedgerEntry& e) {
      Comparer loose(&result_.rounded);
      return e.kind == WriteKind::kXdr &&
             SameXdr(e, r, e.on_target && !target_, loose);
    });
    if (original != nullptr) {
      Problem(&result_.duplicates,
              absl::StrCat("customer ", r.customer_id, ": xDR ", id, " on ",
                           where(), " duplicates xDR ", original->second.xdr_id,
                           " of line ", original->first));
    } else {
      Problem(&result_.extra,
              absl::StrCat("customer ", r.customer_id, ": xDR ", id, " on ",
                           where(), " is in no ledger line"));
    }
  }
  for (const auto& [id, r] : txs_) {
    if (explained_txs.count(id) || options_.unledgered_tx_types.count(r.type))
      continue;
    const auto* original = copy_of([&](const LedgerEntry& e) {
      Comparer loose(&result_.rounded);
      return e.has_transaction() &&
             SameTx(e, r, e.on_target && !target_, loose);
    });
    if (original != nullptr) {
      Problem(&result_.duplicates,
              absl::StrCat("customer ", r.customer_id, ": transaction ", id,
                           " on ", where(), " duplicates transaction ",
                           original->second.transaction_id, " of line ",
                           original->first));
    } else {
      Problem(
          &result_.extra,
          absl::StrCat("customer ", r.customer_id, ": transaction ", id, " (",
                       r.type, ") on ", where(), " is in no ledger line"));
    }
  }
}

// v1 keeps the type of a transaction in tx_type and the amount in decimal
// `amount`; v2 in kind and amount_micros.
const char* SystemCheck::BalanceSums() const {
  return v1_ ? "COALESCE(SUM(CASE WHEN t.tx_type = 'opening' THEN t.amount "
               "END), 0), COALESCE(SUM(CASE WHEN t.tx_type <> 'opening' "
               "THEN t.amount END), 0), COUNT(CASE WHEN t.tx_type <> "
               "'opening' THEN 1 END) "
             : "COALESCE(SUM(CASE WHEN t.kind = 'opening' THEN t.amount_micros "
               "END), 0), COALESCE(SUM(CASE WHEN t.kind <> 'opening' THEN "
               "t.amount_micros END), 0), COUNT(CASE WHEN t.kind <> 'opening' "
               "THEN 1 END) ";
}

void SystemCheck::RecordBalance(const BalanceLine& b) {
  if (!b.ok()) {
    Problem(&result_.wrong_balances,
            absl::StrCat(
                "customer ", b.customer_id,
                b.account_id ? absl::StrCat(" account ", *b.account_id)
                             : std::string(),
                " on ", where(), ": balance ",
                MicrosToDecimal(b.balance_micros), " but opening ",
                MicrosToDecimal(b.opening_micros), " + ", b.transactions,
                " transactions ", MicrosToDecimal(b.transactions_micros), " = ",
                MicrosToDecimal(b.opening_micros + b.transactions_micros)));
  }
  result_.balances.push_back(b);
}

absl::Status SystemCheck::CheckCustomerBalances(
    const std::vector<int64_t>& customers, std::set<int64_t>& seen) {
  const char* sums = BalanceSums();
  return ForChunks(
      pool_,
      absl::StrCat(
          v1_ ? "SELECT c.i_customer, c.balance, "
              : "SELECT c.customer_id, "
                "c.balance_micros, ",
          sums,
          v1_ ? "FROM customers c LEFT JOIN balance_transactions t ON "
                "t.i_customer = c.i_customer AND t.i_account IS NULL WHERE "
                "c.i_customer IN (IN) GROUP BY c.i_customer, c.balance"
              : "FROM customers c LEFT JOIN balance_transactions t ON "
                "t.customer_id = c.customer_id AND t.account_id IS NULL "
                "WHERE c.customer_id IN (IN) GROUP BY c.customer_id, "
                "c.balance_micros"),
      customers, {}, [&](const Rows& rs) {
        BalanceLine b;
        b.customer_id = rs->getInt64(1);
        b.on_target = target_;
        b.balance_micros = Money(rs, 2, v1_);
        b.opening_micros = Money(rs, 3, v1_);
        b.transactions_micros = Money(rs, 4, v1_);
        b.transactions = rs->getInt64(5);
        seen.insert(b.customer_id);
        RecordBalance(b);
      });
}

absl::Status SystemCheck::CheckAccountBalances(
    const std::vector<int64_t>& customers) {
  const char* sums = BalanceSums();
  return ForChunks(
      pool_,
      absl::StrCat(
          v1_ ? "SELECT a.i_customer, a.i_account, a.balance, "
              : "SELECT a.customer_id, a.account_id, a.balance_micros, ",
          sums,
          v1_ ? "FROM accounts a LEFT JOIN balance_transactions t ON "
                "t.i_customer = a.i_customer AND t.i_account = a.i_account "
                "WHERE a.i_customer IN (IN) GROUP BY a.i_account, "
                "a.i_customer, a.balance ORDER BY a.i_account"
              : "FROM accounts a LEFT JOIN balance_transactions t ON "
                "t.customer_id = a.customer_id AND t.account_id = "
                "a.account_id WHERE a.customer_id IN (IN) GROUP BY "
                "a.account_id, a.customer_id, a.balance_micros "
                "ORDER BY a.account_id"),
      customers, {}, [&](const Rows& rs) {
        BalanceLine b;
        b.customer_id = rs->getInt64(1);
        b.account_id = rs->getInt64(2);
        b.on_target = target_;
        b.balance_micros = Money(rs, 3, v1_);
        b.opening_micros = Money(rs, 4, v1_);
        b.transactions_micros = Money(rs, 5, v1_);
        b.transactions = rs->getInt64(6);
        RecordBalance(b);
      });
}

absl::Status SystemCheck::CheckBalances(const std::vector<int64_t>& customers) {
  std::set<int64_t> seen;
  TANDEM_RETURN_IF_ERROR(CheckCustomerBalances(customers, seen));
  for (int64_t c : customers) {
    if (!seen.count(c)) {
      Problem(&result_.missing,
              absl::StrCat("customer ", c, " is not on the ", where(),
                           ", which the router says holds it"));
    }
  }
  return CheckAccountBalances(customers);
}

absl::Status SystemCheck::CheckSettings(
    const std::vector<const std::pair<int, LedgerEntry>*>& es) {
  // The last edit of each (account, setting), in ledger (= commit) order.
  std::map<std::pair<int64_t, std::string>, const std::pair<int, LedgerEntry>*>
      last;
  for (const auto* p : es) {
    if (p->second.kind == WriteKind::kSettings) {
      last[{*p->second.account_id, p->second.setting}] = p;
    }
  }
  if (last.empty()) return absl::OkStatus();
  std::vector<int64_t> accounts;
  for (const auto& [key, p] : last) accounts.push_back(key.first);
  accounts.erase(std::unique(accounts.begin(), accounts.end()), accounts.end());
  std::map<std::pair<int64_t, std::string>, std::string> found;
  if (v1_) {
    TANDEM_RETURN_IF_ERROR(ForChunks(
        pool_,
        "SELECT i_account, service_settings FROM accounts "
        "WHERE i_account IN (IN)",
        accounts, {}, [&](const Rows& rs) {
          absl::StatusOr<JsonValue> json = JsonValue::Parse(Text(rs, 2));
          if (!json.ok() || !json->is_object()) return;
          for (const auto& [name, v] : json->members()) {
            if (v.is_string() || v.is_number()) {
              found[{rs->getInt64(1), name}] = v.text();
            } else if (v.is_bool()) {
              found[{rs->getInt64(1), name}] =
                  v.bool_value() ? "true" : "false";
            }  // null (a deleted setting), arrays, objects: no setting
          }
        }));
  } else {
    TANDEM_RETURN_IF_ERROR(
        ForChunks(pool_,
                  "SELECT account_id, setting_name, setting_value FROM "
                  "account_service_settings WHERE account_id IN (IN)",
                  accounts, {}, [&](const Rows& rs) {
                    found[{rs->getInt64(1), Text(rs, 2)}] = Text(rs, 3);
                  }));
  }
  for (const auto& [key, p] : last) {
    ++result_.rows_checked;
    auto it = found.find(key);
    std::optional<std::string> now;
    if (it != found.end()) now = it->second;
    if (now != p->second.value) {
      Problem(&result_.wrong_values,
              absl::StrCat("line ", p->first, ": setting '", key.second,
                           "' of account ", key.first, " is ",
                           now ? absl::StrCat("'", *now, "'") : "deleted",
                           " on ", where(), ", the last edit made it ",
                           p->second.value
                               ? absl::StrCat("'", *p->second.value, "'")
                               : "deleted"));
    }
  }
  return absl::OkStatus();
}

absl::Status SystemCheck::CheckUsage(
    const std::vector<const std::pair<int, LedgerEntry>*>& es) {
  struct Expect {
    int first_line = 0;
    int64_t value = 0;  // before the first edit, then plus every delta
  };
  std::map<std::pair<int64_t, std::string>, Expect> expect;
  for (const auto* p : es) {
    const LedgerEntry& e = p->second;
    if (e.kind != WriteKind::kUsage) continue;
    auto [it, first] = expect.try_emplace({e.subscription_id, e.resource_type});
    if (first) {
      it->second.first_line = p->first;
      it->second.value = e.used_after - e.delta;
    }
    it->second.value += e.delta;
  }
  if (expect.empty()) return absl::OkStatus();
  std::vector<int64_t> subscriptions;
  for (const auto& [key, x] : expect) subscriptions.push_back(key.first);
  subscriptions.erase(std::unique(subscriptions.begin(), subscriptions.end()),
                      subscriptions.end());
  std::map<std::pair<int64_t, std::string>, int64_t> found;
  TANDEM_RETURN_IF_ERROR(ForChunks(
      pool_,
      v1_ ? "SELECT u.i_subscription, t.code, u.used_amount FROM "
            "subscription_usage u JOIN resource_types t ON "
            "t.i_resource_type = u.i_resource_type "
            "WHERE u.i_subscription IN (IN)"
          : "SELECT u.subscription_id, t.type_code, u.used_quantity FROM "
            "subscription_usage u JOIN resource_types t ON "
            "t.resource_type_id = u.resource_type_id "
            "WHERE u.subscription_id IN (IN)",
      subscriptions, {}, [&](const Rows& rs) {
        found[{rs->getInt64(1), Text(rs, 2)}] = rs->getInt64(3);
      }));
  for (const auto& [key, x] : expect) {
    ++result_.rows_checked;
    auto it = found.find(key);
    if (it == found.end()) {
      Problem(&result_.missing,
              absl::StrCat("line ", x.first_line, ": ", key.second,
                           " usage of subscription ", key.first, " missing on ",
                           where()));
    } else if (it->second != x.value) {
      Problem(&result_.wrong_values,
              absl::StrCat("line ", x.first_line, ": ", key.second,
                           " usage of subscription ", key.first, " is ",
                           it->second, " on ", where(), ", the ledger's ",
                           "edits make it ", x.value));
    }
  }
  return absl::OkStatus();
}

absl::Status SystemCheck::Run(
    const std::vector<int64_t>& customers,
    const std::vector<const std::pair<int, LedgerEntry>*>& es) {
  if (customers.empty()) return absl::OkStatus();
  TANDEM_RETURN_IF_ERROR(FetchNewRows(customers));
  CheckRows(es);
  TANDEM_RETURN_IF_ERROR(CheckBalances(customers));
  TANDEM_RETURN_IF_ERROR(CheckSettings(es));
  return CheckUsage(es);
}

}  // namespace

absl::StatusOr<LedgerCheckResult> CheckLedger(
    const std::string& path, MysqlPool& source, MysqlPool* target,
    HolderSource& holders, const LedgerCheckOptions& options) {
  TANDEM_ASSIGN_OR_RETURN(Ledger ledger, ReadLedger(path));
  std::set<int64_t> customer_set;
  for (const auto& [line, e] : ledger.entries)
    customer_set.insert(e.customer_id);
  const std::vector<int64_t> customers(customer_set.begin(),
                                       customer_set.end());
  TANDEM_ASSIGN_OR_RETURN(auto held, holders.Holders(customers));

  LedgerCheckResult result;
  result.entries = static_cast<int64_t>(ledger.entries.size());
  result.customers = static_cast<int64_t>(customers.size());
  std::vector<int64_t> by_system[2];
  for (int64_t c : customers) {
    const Holder h = held[c];
    if (h.migrating) {
      ++result.unsettled;
      if (result.problems.size() < options.max_problems) {
        result.problems.push_back(
            absl::StrCat("customer ", c,
                         " is MIGRATING: not checked (check again once "
                         "its route settles)"));
      }
      continue;
    }
    by_system[h.on_target ? 1 : 0].push_back(c);
  }
  if (!by_system[1].empty() && target == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(by_system[1].size(),
                     " customers in the ledger are held by the "
                     "target, but no target database was given"));
  }
  for (int s = 0; s < 2; ++s) {
    const std::set<int64_t> mine(by_system[s].begin(), by_system[s].end());
    std::vector<const std::pair<int, LedgerEntry>*> entries;
    for (const auto& p : ledger.entries) {
      if (!mine.count(p.second.customer_id)) continue;
      entries.push_back(&p);
      ++(s == 1 ? result.on_target : result.on_source);
      if (p.second.on_target) ++result.written_on_target;
      if (p.second.blind) ++result.blind;
    }
    SystemCheck check(s == 1 ? *target : source, s == 1, ledger.start, options,
                      result);
    TANDEM_RETURN_IF_ERROR(check.Run(by_system[s], entries));
  }
  return result;
}

}  // namespace tandem::testbed
