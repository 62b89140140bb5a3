#include "testbed/traffic/ledger_check.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <mysql_connection.h>

#include <fstream>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "testbed/base/json.h"
#include "testbed/base/model.h"

namespace tandem::testbed {
namespace {

using Stmt = std::unique_ptr<sql::PreparedStatement>;
using Rows = std::unique_ptr<sql::ResultSet>;

constexpr size_t kChunk = 500;

// A row in neutral units, as the ledger recorded it or a database holds it.
struct XdrRow {
  int64_t account_id = 0, customer_id = 0, duration_ms = 0, charged_micros = 0;
  std::string connect_time, cli, cld;
  bool operator==(const XdrRow&) const = default;
};

struct TxRow {
  int64_t customer_id = 0;
  std::optional<int64_t> account_id;
  int64_t amount_micros = 0;
  std::string type, time;
  bool operator==(const TxRow&) const = default;
};

struct Entry {
  int line = 0;
  std::string kind;
  int64_t customer_id = 0;
  std::optional<int64_t> xdr_id;
  XdrRow xdr;
  int64_t transaction_id = 0;
  TxRow tx;
};

absl::StatusOr<Entry> ParseEntry(const std::string& text, int line) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("ledger line ", line, ": ", why));
  };
  absl::StatusOr<JsonValue> v = JsonValue::Parse(text);
  if (!v.ok() || !v->is_object()) return bad("not a JSON object");
  auto str = [&](const char* name) -> std::optional<std::string> {
    const JsonValue* f = v->Find(name);
    if (f == nullptr || !(f->is_string() || f->is_number())) {
      return std::nullopt;
    }
    return f->text();
  };
  auto num = [&](const char* name) -> std::optional<int64_t> {
    std::optional<std::string> s = str(name);
    int64_t n;
    if (!s || !absl::SimpleAtoi(*s, &n)) return std::nullopt;
    return n;
  };
  auto money = [&](const char* name) -> std::optional<int64_t> {
    std::optional<std::string> s = str(name);
    if (!s) return std::nullopt;
    absl::StatusOr<int64_t> m = DecimalToMicros(*s);
    if (!m.ok()) return std::nullopt;
    return *m;
  };
  Entry e;
  e.line = line;
  std::optional<std::string> kind = str("kind");
  std::optional<int64_t> customer = num("customer_id");
  std::optional<int64_t> tx = num("transaction_id");
  std::optional<int64_t> amount = money("amount");
  std::optional<std::string> type = str("tx_type");
  std::optional<std::string> time = str("tx_time");
  if (!kind || !customer || !tx || !amount || !type || !time) {
    return bad("missing transaction fields");
  }
  e.kind = *kind;
  e.customer_id = *customer;
  e.transaction_id = *tx;
  e.tx = {*customer, std::nullopt, *amount, *type, *time};
  if (e.kind == "xdr") {
    std::optional<int64_t> account = num("account_id");
    std::optional<int64_t> xdr = num("xdr_id");
    std::optional<int64_t> duration = num("duration_s");
    std::optional<int64_t> charged = money("charged");
    std::optional<std::string> connect = str("connect_time");
    std::optional<std::string> cli = str("cli");
    std::optional<std::string> cld = str("cld");
    if (!account || !xdr || !duration || !charged || !connect || !cli || !cld) {
      return bad("missing xDR fields");
    }
    e.xdr_id = *xdr;
    e.xdr = {*account, *customer, SecondsToMillis(*duration),
             *charged, *connect,  *cli,
             *cld};
    e.tx.account_id = *account;
  } else if (e.kind != "adjust") {
    return bad("unknown kind");
  }
  return e;
}

std::string Placeholders(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out.append(i == 0 ? "?" : ",?");
  return out;
}

std::string Text(const Rows& rs, int column) {
  return rs->isNull(column) ? "" : std::string(rs->getString(column));
}

int64_t MoneyOf(const Rows& rs, int column, bool v1) {
  if (!v1) return rs->getInt64(column);
  absl::StatusOr<int64_t> m = DecimalToMicros(Text(rs, column));
  return m.ok() ? *m : 0;
}

// Fetches xDRs (v1 xdrs or v2 cdrs) by id, in neutral units.
absl::Status FetchXdrs(MysqlPool& pool, bool v1,
                       const std::vector<int64_t>& ids,
                       std::map<int64_t, XdrRow>& out) {
  for (size_t start = 0; start < ids.size(); start += kChunk) {
    size_t n = std::min(kChunk, ids.size() - start);
    TANDEM_RETURN_IF_ERROR(pool.Run("fetch xdrs", [&](sql::Connection& conn) {
      Stmt ps(conn.prepareStatement(absl::StrCat(
          v1 ? "SELECT i_xdr, i_account, i_customer, connect_time, duration, "
               "charged_amount, CLI, CLD FROM xdrs WHERE i_xdr IN ("
             : "SELECT cdr_id, account_id, customer_id, started_at, "
               "duration_ms, charged_micros, calling_number, called_number "
               "FROM cdrs WHERE cdr_id IN (",
          Placeholders(n), ")")));
      for (size_t i = 0; i < n; ++i) {
        ps->setInt64(static_cast<int>(i + 1), ids[start + i]);
      }
      Rows rs(ps->executeQuery());
      while (rs->next()) {
        XdrRow r;
        r.account_id = rs->getInt64(2);
        r.customer_id = rs->getInt64(3);
        r.connect_time = Text(rs, 4);
        r.duration_ms = v1 ? SecondsToMillis(rs->getInt64(5)) : rs->getInt64(5);
        r.charged_micros = MoneyOf(rs, 6, v1);
        r.cli = Text(rs, 7);
        r.cld = Text(rs, 8);
        out[rs->getInt64(1)] = std::move(r);
      }
      return absl::OkStatus();
    }));
  }
  return absl::OkStatus();
}

absl::Status FetchTransactions(MysqlPool& pool, bool v1,
                               const std::vector<int64_t>& ids,
                               std::map<int64_t, TxRow>& out) {
  for (size_t start = 0; start < ids.size(); start += kChunk) {
    size_t n = std::min(kChunk, ids.size() - start);
    TANDEM_RETURN_IF_ERROR(pool.Run("fetch transactions", [&](sql::Connection&
                                                                  conn) {
      Stmt ps(conn.prepareStatement(absl::StrCat(
          v1 ? "SELECT i_transaction, i_customer, i_account, amount, tx_type, "
               "tx_time FROM balance_transactions WHERE i_transaction IN ("
             : "SELECT transaction_id, customer_id, account_id, amount_micros, "
               "kind, created_at FROM balance_transactions "
               "WHERE transaction_id IN (",
          Placeholders(n), ")")));
      for (size_t i = 0; i < n; ++i) {
        ps->setInt64(static_cast<int>(i + 1), ids[start + i]);
      }
      Rows rs(ps->executeQuery());
      while (rs->next()) {
        TxRow r;
        r.customer_id = rs->getInt64(2);
        if (!rs->isNull(3)) r.account_id = rs->getInt64(3);
        r.amount_micros = MoneyOf(rs, 4, v1);
        r.type = Text(rs, 5);
        r.time = Text(rs, 6);
        out[rs->getInt64(1)] = std::move(r);
      }
      return absl::OkStatus();
    }));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LedgerCheckResult> CheckLedger(const std::string& path,
                                              MysqlPool& source,
                                              MysqlPool* target) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::vector<Entry> entries;
  std::string text;
  int line = 0;
  while (std::getline(in, text)) {
    ++line;
    if (text.empty()) continue;
    TANDEM_ASSIGN_OR_RETURN(Entry e, ParseEntry(text, line));
    entries.push_back(std::move(e));
  }

  // Who holds each customer now.
  std::set<int64_t> customers;
  for (const Entry& e : entries) customers.insert(e.customer_id);
  std::set<int64_t> moved;
  std::vector<int64_t> ids(customers.begin(), customers.end());
  for (size_t start = 0; start < ids.size(); start += kChunk) {
    size_t n = std::min(kChunk, ids.size() - start);
    TANDEM_RETURN_IF_ERROR(
        source.Run("customer status", [&](sql::Connection& conn) {
          Stmt ps(conn.prepareStatement(absl::StrCat(
              "SELECT i_customer FROM customers WHERE status = 'exported' AND "
              "i_customer IN (",
              Placeholders(n), ")")));
          for (size_t i = 0; i < n; ++i) {
            ps->setInt64(static_cast<int>(i + 1), ids[start + i]);
          }
          Rows rs(ps->executeQuery());
          while (rs->next()) moved.insert(rs->getInt64(1));
          return absl::OkStatus();
        }));
  }
  if (!moved.empty() && target == nullptr) {
    return absl::FailedPreconditionError(
        "customers in the ledger have moved to the target, but no target "
        "database was given");
  }

  LedgerCheckResult result;
  result.entries = static_cast<int64_t>(entries.size());
  for (bool on_target : {false, true}) {
    std::vector<int64_t> xdr_ids, tx_ids;
    for (const Entry& e : entries) {
      if (moved.count(e.customer_id) != static_cast<size_t>(on_target))
        continue;
      ++(on_target ? result.on_target : result.on_source);
      if (e.xdr_id) xdr_ids.push_back(*e.xdr_id);
      tx_ids.push_back(e.transaction_id);
    }
    if (xdr_ids.empty() && tx_ids.empty()) continue;
    MysqlPool& pool = on_target ? *target : source;
    const bool v1 = !on_target;
    std::map<int64_t, XdrRow> xdrs;
    std::map<int64_t, TxRow> txs;
    TANDEM_RETURN_IF_ERROR(FetchXdrs(pool, v1, xdr_ids, xdrs));
    TANDEM_RETURN_IF_ERROR(FetchTransactions(pool, v1, tx_ids, txs));
    const char* where = on_target ? "target" : "source";
    auto problem = [&](std::string what) {
      if (result.problems.size() < 50)
        result.problems.push_back(std::move(what));
    };
    for (const Entry& e : entries) {
      if (moved.count(e.customer_id) != static_cast<size_t>(on_target))
        continue;
      if (e.xdr_id) {
        ++result.rows_checked;
        auto it = xdrs.find(*e.xdr_id);
        if (it == xdrs.end()) {
          ++result.missing;
          problem(absl::StrCat("line ", e.line, ": xDR ", *e.xdr_id,
                               " of customer ", e.customer_id, " missing on ",
                               where));
        } else if (!(it->second == e.xdr)) {
          ++result.altered;
          problem(absl::StrCat("line ", e.line, ": xDR ", *e.xdr_id,
                               " of customer ", e.customer_id, " differs on ",
                               where));
        }
      }
      ++result.rows_checked;
      auto it = txs.find(e.transaction_id);
      if (it == txs.end()) {
        ++result.missing;
        problem(absl::StrCat("line ", e.line, ": transaction ",
                             e.transaction_id, " of customer ", e.customer_id,
                             " missing on ", where));
      } else if (!(it->second == e.tx)) {
        ++result.altered;
        problem(absl::StrCat("line ", e.line, ": transaction ",
                             e.transaction_id, " of customer ", e.customer_id,
                             " differs on ", where));
      }
    }
  }
  return result;
}

}  // namespace tandem::testbed
