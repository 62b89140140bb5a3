// MysqlBillingStore: every statement in both schema versions' dialects,
// side by side (Q(v1, v2)), which is why this file runs past 800 lines:
// splitting the customer and product halves would split each dialect pair's
// shared helpers (money, status and settings conversions) across files.
#include "testbed/sim/mysql_billing_store.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "testbed/base/json.h"

namespace tandem::testbed {
namespace {

using Stmt = std::unique_ptr<sql::PreparedStatement>;
using Rows = std::unique_ptr<sql::ResultSet>;

std::string Str(const Rows& rs, int column) {
  if (rs->isNull(column)) return "";
  return rs->getString(column);
}

// Reads a money column: DECIMAL text in v1, micro-units in v2.
int64_t Money(const Rows& rs, int column, bool v1) {
  if (!v1) return rs->getInt64(column);
  absl::StatusOr<int64_t> micros = DecimalToMicros(Str(rs, column));
  // A DECIMAL(13,5) column always parses.
  return micros.ok() ? *micros : 0;
}

// Reads a status column: the name in v1, a code in v2.
std::string StatusOf(const Rows& rs, int column, bool v1, StatusKind kind) {
  if (v1) return Str(rs, column);
  std::optional<std::string> name = StatusName(kind, rs->getInt(column));
  return name ? *name : absl::StrCat("unknown(", rs->getInt(column), ")");
}

// Binds a money value: v1 needs it to fit DECIMAL(13,5).
absl::Status BindMoney(sql::PreparedStatement& ps, int index, int64_t micros,
                       bool v1) {
  if (!v1) {
    ps.setInt64(index, micros);
    return absl::OkStatus();
  }
  TANDEM_ASSIGN_OR_RETURN(std::string decimal, MicrosToV1Decimal(micros));
  ps.setString(index, decimal);
  return absl::OkStatus();
}

// Parses v1's service_settings JSON column into sorted pairs. Non-string
// values are kept as their JSON text, as MAPPING.md specifies.
Settings ParseSettingsJson(const std::string& json) {
  Settings out;
  absl::StatusOr<JsonValue> value = JsonValue::Parse(json);
  if (!value.ok() || !value->is_object()) return out;
  for (const auto& [key, v] : value->members()) {
    switch (v.type()) {
      case JsonValue::Type::kString:
      case JsonValue::Type::kNumber:
        out.emplace_back(key, v.text());
        break;
      case JsonValue::Type::kBool:
        out.emplace_back(key, v.bool_value() ? "true" : "false");
        break;
      default:
        break;  // null, arrays and objects are not settings
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string SettingsToJson(const Settings& settings) {
  JsonWriter w;
  w.BeginObject();
  for (const auto& [k, v] : settings) w.Field(k, v);
  w.EndObject();
  return w.Release();
}

}  // namespace

absl::Status MysqlBillingStore::LockCustomerForWrite(
    sql::Connection& conn, int64_t customer_id) const {
  Stmt ps(conn.prepareStatement(
      Q("SELECT status FROM customers WHERE i_customer = ? FOR UPDATE",
        "SELECT status FROM customers WHERE customer_id = ? FOR UPDATE")));
  ps->setInt64(1, customer_id);
  Rows rs(ps->executeQuery());
  if (!rs->next()) return absl::NotFoundError("no such customer");
  if (StatusOf(rs, 1, v1(), StatusKind::kCustomer) == "exported") {
    return CustomerExportedError();
  }
  return absl::OkStatus();
}

std::string SqlDatetime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", t, absl::UTCTimeZone());
}

absl::Status MysqlBillingStore::Ping() {
  return pool_->Run("ping", [](sql::Connection& conn) {
    std::unique_ptr<sql::Statement> s(conn.createStatement());
    Rows rs(s->executeQuery("SELECT 1"));
    return absl::OkStatus();
  });
}

absl::StatusOr<LoginRecord> MysqlBillingStore::FindLogin(
    const std::string& login) {
  LoginRecord out;
  TANDEM_RETURN_IF_ERROR(pool_->Run("find login", [&](sql::Connection& conn) {
    Stmt ps(conn.prepareStatement(
        Q("SELECT i_customer, password_hash, status FROM customers "
          "WHERE login = ?",
          "SELECT customer_id, password_hash, status FROM customers "
          "WHERE login = ?")));
    ps->setString(1, login);
    Rows rs(ps->executeQuery());
    if (!rs->next()) return absl::NotFoundError("unknown login");
    out.customer_id = rs->getInt64(1);
    out.password_hash = Str(rs, 2);
    out.status = StatusOf(rs, 3, v1(), StatusKind::kCustomer);
    return absl::OkStatus();
  }));
  return out;
}

absl::Status MysqlBillingStore::CreateSession(const std::string& session_hash,
                                              int64_t customer_id,
                                              absl::Time now,
                                              absl::Time expires) {
  return pool_->Transaction("create session", [&](sql::Connection& conn) {
    TANDEM_RETURN_IF_ERROR(LockCustomerForWrite(conn, customer_id));
    Stmt ps(conn.prepareStatement(
        Q("INSERT INTO portal_sessions (session_hash, i_customer, created, "
          "expires) VALUES (?, ?, ?, ?)",
          "INSERT INTO portal_sessions (session_hash, customer_id, "
          "created_at, expires_at) VALUES (?, ?, ?, ?)")));
    ps->setString(1, session_hash);
    ps->setInt64(2, customer_id);
    ps->setString(3, SqlDatetime(now));
    ps->setString(4, SqlDatetime(expires));
    ps->executeUpdate();
    return absl::OkStatus();
  });
}

absl::StatusOr<Principal> MysqlBillingStore::ResolveSession(
    const std::string& session_hash, absl::Time now) {
  Principal out;
  TANDEM_RETURN_IF_ERROR(
      pool_->Run("resolve session", [&](sql::Connection& conn) {
        Stmt ps(conn.prepareStatement(
            Q("SELECT c.i_customer, c.status FROM portal_sessions s "
              "JOIN customers c ON c.i_customer = s.i_customer "
              "WHERE s.session_hash = ? AND s.expires > ?",
              "SELECT c.customer_id, c.status FROM portal_sessions s "
              "JOIN customers c ON c.customer_id = s.customer_id "
              "WHERE s.session_hash = ? AND s.expires_at > ?")));
        ps->setString(1, session_hash);
        ps->setString(2, SqlDatetime(now));
        Rows rs(ps->executeQuery());
        if (!rs->next()) return absl::NotFoundError("no such session");
        out.customer_id = rs->getInt64(1);
        out.status = StatusOf(rs, 2, v1(), StatusKind::kCustomer);
        return absl::OkStatus();
      }));
  return out;
}

absl::Status MysqlBillingStore::DeleteSession(int64_t customer_id,
                                              const std::string& session_hash) {
  return pool_->Transaction("delete session", [&](sql::Connection& conn) {
    TANDEM_RETURN_IF_ERROR(LockCustomerForWrite(conn, customer_id));
    Stmt ps(conn.prepareStatement(
        Q("DELETE FROM portal_sessions WHERE session_hash = ? "
          "AND i_customer = ?",
          "DELETE FROM portal_sessions WHERE session_hash = ? "
          "AND customer_id = ?")));
    ps->setString(1, session_hash);
    ps->setInt64(2, customer_id);
    ps->executeUpdate();
    return absl::OkStatus();
  });
}

absl::Status MysqlBillingStore::CreateApiToken(const std::string& token_hash,
                                               int64_t customer_id,
                                               const std::string& label,
                                               absl::Time now) {
  return pool_->Transaction("create api token", [&](sql::Connection& conn) {
    TANDEM_RETURN_IF_ERROR(LockCustomerForWrite(conn, customer_id));
    Stmt ps(conn.prepareStatement(
        Q("INSERT INTO api_tokens (token_hash, i_customer, description, "
          "created, expires) VALUES (?, ?, ?, ?, NULL)",
          "INSERT INTO api_tokens (token_hash, customer_id, label, "
          "created_at, expires_at) VALUES (?, ?, ?, ?, NULL)")));
    ps->setString(1, token_hash);
    ps->setInt64(2, customer_id);
    ps->setString(3, label);
    ps->setString(4, SqlDatetime(now));
    ps->executeUpdate();
    return absl::OkStatus();
  });
}

absl::StatusOr<Principal> MysqlBillingStore::ResolveApiToken(
    const std::string& token_hash, absl::Time now) {
  Principal out;
  TANDEM_RETURN_IF_ERROR(
      pool_->Run("resolve api token", [&](sql::Connection& conn) {
        Stmt ps(conn.prepareStatement(
            Q("SELECT c.i_customer, c.status FROM api_tokens t "
              "JOIN customers c ON c.i_customer = t.i_customer "
              "WHERE t.token_hash = ? AND (t.expires IS NULL OR t.expires > ?)",
              "SELECT c.customer_id, c.status FROM api_tokens t "
              "JOIN customers c ON c.customer_id = t.customer_id "
              "WHERE t.token_hash = ? "
              "AND (t.expires_at IS NULL OR t.expires_at > ?)")));
        ps->setString(1, token_hash);
        ps->setString(2, SqlDatetime(now));
        Rows rs(ps->executeQuery());
        if (!rs->next()) return absl::NotFoundError("no such token");
        out.customer_id = rs->getInt64(1);
        out.status = StatusOf(rs, 2, v1(), StatusKind::kCustomer);
        return absl::OkStatus();
      }));
  return out;
}

absl::StatusOr<Customer> MysqlBillingStore::GetCustomer(int64_t customer_id) {
  Customer c;
  TANDEM_RETURN_IF_ERROR(pool_->Run("get customer", [&](sql::Connection& conn) {
    Stmt ps(conn.prepareStatement(
        Q("SELECT c.i_customer, c.login, c.companyname, c.email, c.phone1, "
          "c.baddr1, c.balance, c.credit_limit, c.iso_4217, p.name, "
          "c.bill_cycle, c.status, c.creation_date FROM customers c "
          "LEFT JOIN payment_systems p "
          "ON p.i_payment_system = c.i_payment_system WHERE c.i_customer = ?",
          "SELECT c.customer_id, c.login, k.full_name, k.email, k.phone, "
          "k.address_line, c.balance_micros, c.credit_limit_micros, "
          "c.currency, p.name, c.billing_period, c.status, c.created_at "
          "FROM customers c "
          "LEFT JOIN customer_contacts k ON k.customer_id = c.customer_id "
          "LEFT JOIN payment_systems p "
          "ON p.payment_system_id = c.payment_system_id "
          "WHERE c.customer_id = ?")));
    ps->setInt64(1, customer_id);
    Rows rs(ps->executeQuery());
    if (!rs->next()) return absl::NotFoundError("no such customer");
    c.id = rs->getInt64(1);
    c.login = Str(rs, 2);
    c.name = Str(rs, 3);
    c.email = Str(rs, 4);
    c.phone = Str(rs, 5);
    c.address = Str(rs, 6);
    c.balance_micros = Money(rs, 7, v1());
    c.credit_limit_micros = Money(rs, 8, v1());
    c.currency = Str(rs, 9);
    c.payment_system = Str(rs, 10);
    c.billing_cycle = Str(rs, 11);
    c.status = StatusOf(rs, 12, v1(), StatusKind::kCustomer);
    c.created_at = Str(rs, 13);
    return absl::OkStatus();
  }));
  return c;
}

namespace {

// Reads an account row of the shape both versions' account queries select:
// id, number, product code, product name, balance, status, created, and in
// v1 the settings JSON.
Account ReadAccount(const Rows& rs, bool v1) {
  Account a;
  a.id = rs->getInt64(1);
  a.phone_number = Str(rs, 2);
  a.product_code = Str(rs, 3);
  a.product_name = Str(rs, 4);
  a.balance_micros = Money(rs, 5, v1);
  a.status = StatusOf(rs, 6, v1, StatusKind::kAccount);
  a.created_at = Str(rs, 7);
  if (v1) a.settings = ParseSettingsJson(Str(rs, 8));
  return a;
}

constexpr char kV1AccountColumns[] =
    "SELECT a.i_account, a.id, p.code, p.name, a.balance, a.status, "
    "a.creation_date, a.service_settings FROM accounts a "
    "JOIN products p ON p.i_product = a.i_product ";
constexpr char kV2AccountColumns[] =
    "SELECT a.account_id, a.phone_number, p.product_code, p.display_name, "
    "a.balance_micros, a.status, a.created_at FROM accounts a "
    "JOIN products p ON p.product_id = a.product_id ";

// Fills the settings of v2 accounts from account_service_settings.
void LoadV2Settings(sql::Connection& conn, std::vector<Account>& accounts) {
  if (accounts.empty()) return;
  std::string sql =
      "SELECT account_id, setting_name, setting_value "
      "FROM account_service_settings WHERE account_id IN (";
  for (size_t i = 0; i < accounts.size(); ++i) {
    sql.append(i == 0 ? "?" : ",?");
  }
  sql.append(") ORDER BY account_id, setting_name");
  Stmt ps(conn.prepareStatement(sql));
  std::map<int64_t, Account*> by_id;
  for (size_t i = 0; i < accounts.size(); ++i) {
    ps->setInt64(static_cast<int>(i + 1), accounts[i].id);
    by_id[accounts[i].id] = &accounts[i];
  }
  Rows rs(ps->executeQuery());
  while (rs->next()) {
    by_id[rs->getInt64(1)]->settings.emplace_back(Str(rs, 2), Str(rs, 3));
  }
  // Byte order, as in v1: the column's collation orders '_' differently.
  for (Account& a : accounts) std::sort(a.settings.begin(), a.settings.end());
}

}  // namespace

absl::StatusOr<std::vector<Account>> MysqlBillingStore::ListAccounts(
    int64_t customer_id, int64_t after_id, int limit) {
  std::vector<Account> out;
  TANDEM_RETURN_IF_ERROR(
      pool_->Run("list accounts", [&](sql::Connection& conn) {
        Stmt ps(conn.prepareStatement(
            v1() ? absl::StrCat(kV1AccountColumns,
                                "WHERE a.i_customer = ? AND a.i_account > ? "
                                "ORDER BY a.i_account LIMIT ?")
                 : absl::StrCat(kV2AccountColumns,
                                "WHERE a.customer_id = ? AND a.account_id > ? "
                                "ORDER BY a.account_id LIMIT ?")));
        ps->setInt64(1, customer_id);
        ps->setInt64(2, after_id);
        ps->setInt(3, limit);
        Rows rs(ps->executeQuery());
        while (rs->next()) out.push_back(ReadAccount(rs, v1()));
        if (!v1()) LoadV2Settings(conn, out);
        return absl::OkStatus();
      }));
  return out;
}

absl::StatusOr<Account> MysqlBillingStore::GetAccount(int64_t customer_id,
                                                      int64_t account_id) {
  std::vector<Account> out;
  TANDEM_RETURN_IF_ERROR(pool_->Run("get account", [&](sql::Connection& conn) {
    Stmt ps(conn.prepareStatement(
        v1() ? absl::StrCat(kV1AccountColumns,
                            "WHERE a.i_customer = ? AND a.i_account = ?")
             : absl::StrCat(kV2AccountColumns,
                            "WHERE a.customer_id = ? AND a.account_id = ?")));
    ps->setInt64(1, customer_id);
    ps->setInt64(2, account_id);
    Rows rs(ps->executeQuery());
    if (!rs->next()) return absl::NotFoundError("no such account");
    out.push_back(ReadAccount(rs, v1()));
    if (!v1()) LoadV2Settings(conn, out);
    return absl::OkStatus();
  }));
  return std::move(out[0]);
}

absl::StatusOr<Account> MysqlBillingStore::UpdateSettings(
    int64_t customer_id, int64_t account_id, const SettingsChanges& changes,
    bool replace) {
  TANDEM_RETURN_IF_ERROR(
      pool_->Transaction("update settings", [&](sql::Connection& conn) {
        TANDEM_RETURN_IF_ERROR(LockCustomerForWrite(conn, customer_id));
        if (v1()) {
          Stmt lock(conn.prepareStatement(
              "SELECT service_settings FROM accounts "
              "WHERE i_account = ? AND i_customer = ? FOR UPDATE"));
          lock->setInt64(1, account_id);
          lock->setInt64(2, customer_id);
          Rows rs(lock->executeQuery());
          if (!rs->next()) return absl::NotFoundError("no such account");
          Settings settings =
              replace ? Settings() : ParseSettingsJson(Str(rs, 1));
          std::map<std::string, std::string> merged(settings.begin(),
                                                    settings.end());
          for (const auto& [key, value] : changes) {
            if (value) {
              merged[key] = *value;
            } else {
              merged.erase(key);
            }
          }
          Stmt update(conn.prepareStatement(
              "UPDATE accounts SET service_settings = ? WHERE i_account = ?"));
          update->setString(
              1, SettingsToJson(Settings(merged.begin(), merged.end())));
          update->setInt64(2, account_id);
          update->executeUpdate();
          return absl::OkStatus();
        }
        Stmt lock(conn.prepareStatement(
            "SELECT account_id FROM accounts "
            "WHERE account_id = ? AND customer_id = ? FOR UPDATE"));
        lock->setInt64(1, account_id);
        lock->setInt64(2, customer_id);
        Rows rs(lock->executeQuery());
        if (!rs->next()) return absl::NotFoundError("no such account");
        if (replace) {
          Stmt clear(conn.prepareStatement(
              "DELETE FROM account_service_settings WHERE account_id = ?"));
          clear->setInt64(1, account_id);
          clear->executeUpdate();
        }
        Stmt upsert(conn.prepareStatement(
            "INSERT INTO account_service_settings (account_id, setting_name, "
            "setting_value) VALUES (?, ?, ?) "
            "ON DUPLICATE KEY UPDATE setting_value = VALUES(setting_value)"));
        Stmt remove(
            conn.prepareStatement("DELETE FROM account_service_settings "
                                  "WHERE account_id = ? AND setting_name = ?"));
        for (const auto& [key, value] : changes) {
          if (value) {
            upsert->setInt64(1, account_id);
            upsert->setString(2, key);
            upsert->setString(3, *value);
            upsert->executeUpdate();
          } else {
            remove->setInt64(1, account_id);
            remove->setString(2, key);
            remove->executeUpdate();
          }
        }
        return absl::OkStatus();
      }));
  return GetAccount(customer_id, account_id);
}

absl::StatusOr<std::vector<Xdr>> MysqlBillingStore::ListXdrs(
    int64_t customer_id, int64_t account_id,
    const std::optional<XdrCursor>& cursor, int limit) {
  std::vector<Xdr> out;
  TANDEM_RETURN_IF_ERROR(pool_->Run("list xdrs", [&](sql::Connection& conn) {
    Stmt own(conn.prepareStatement(
        Q("SELECT 1 FROM accounts WHERE i_account = ? AND i_customer = ?",
          "SELECT 1 FROM accounts WHERE account_id = ? AND customer_id = ?")));
    own->setInt64(1, account_id);
    own->setInt64(2, customer_id);
    Rows owned(own->executeQuery());
    if (!owned->next()) return absl::NotFoundError("no such account");
    Stmt ps(conn.prepareStatement(
        Q("SELECT i_xdr, connect_time, duration, charged_amount, CLI, CLD "
          "FROM xdrs WHERE i_account = ? AND (connect_time < ? OR "
          "(connect_time = ? AND i_xdr < ?)) "
          "ORDER BY connect_time DESC, i_xdr DESC LIMIT ?",
          "SELECT cdr_id, started_at, duration_ms, charged_micros, "
          "calling_number, called_number FROM cdrs WHERE account_id = ? AND "
          "(started_at < ? OR (started_at = ? AND cdr_id < ?)) "
          "ORDER BY started_at DESC, cdr_id DESC LIMIT ?")));
    XdrCursor from = cursor.value_or(
        XdrCursor{"9999-12-31 23:59:59", std::numeric_limits<int64_t>::max()});
    ps->setInt64(1, account_id);
    ps->setString(2, from.connect_time);
    ps->setString(3, from.connect_time);
    ps->setInt64(4, from.id);
    ps->setInt(5, limit);
    Rows rs(ps->executeQuery());
    while (rs->next()) {
      Xdr x;
      x.id = rs->getInt64(1);
      x.account_id = account_id;
      x.connect_time = Str(rs, 2);
      x.duration_ms = v1() ? SecondsToMillis(rs->getInt64(3)) : rs->getInt64(3);
      x.charged_micros = Money(rs, 4, v1());
      x.cli = Str(rs, 5);
      x.cld = Str(rs, 6);
      out.push_back(std::move(x));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<Invoice>> MysqlBillingStore::ListInvoices(
    int64_t customer_id, int64_t before_id, int limit) {
  std::vector<Invoice> out;
  TANDEM_RETURN_IF_ERROR(
      pool_->Run("list invoices", [&](sql::Connection& conn) {
        Stmt ps(conn.prepareStatement(
            Q("SELECT i_invoice, period_from, period_to, amount_due, status, "
              "issue_date FROM invoices WHERE i_customer = ? AND i_invoice < ? "
              "ORDER BY i_invoice DESC LIMIT ?",
              "SELECT invoice_id, period_start, period_end, amount_due_micros, "
              "status, issued_at FROM invoices WHERE customer_id = ? AND "
              "invoice_id < ? ORDER BY invoice_id DESC LIMIT ?")));
        ps->setInt64(1, customer_id);
        ps->setInt64(
            2, before_id > 0 ? before_id : std::numeric_limits<int64_t>::max());
        ps->setInt(3, limit);
        Rows rs(ps->executeQuery());
        while (rs->next()) {
          Invoice i;
          i.id = rs->getInt64(1);
          i.period_from = Str(rs, 2);
          i.period_to = Str(rs, 3);
          i.amount_due_micros = Money(rs, 4, v1());
          i.status = StatusOf(rs, 5, v1(), StatusKind::kInvoice);
          i.issued_at = Str(rs, 6);
          out.push_back(std::move(i));
        }
        return absl::OkStatus();
      }));
  return out;
}

absl::StatusOr<std::vector<PaymentMethod>>
MysqlBillingStore::ListPaymentMethods(int64_t customer_id) {
  std::vector<PaymentMethod> out;
  TANDEM_RETURN_IF_ERROR(
      pool_->Run("list payment methods", [&](sql::Connection& conn) {
        Stmt ps(conn.prepareStatement(
            Q("SELECT i_payment_method, payment_method, number_masked, "
              "exp_date, is_default FROM payment_methods "
              "WHERE i_customer = ? ORDER BY i_payment_method",
              "SELECT payment_method_id, method, masked_number, expires_on, "
              "is_default FROM payment_methods WHERE customer_id = ? "
              "ORDER BY payment_method_id")));
        ps->setInt64(1, customer_id);
        Rows rs(ps->executeQuery());
        while (rs->next()) {
          PaymentMethod m;
          m.id = rs->getInt64(1);
          m.method = Str(rs, 2);
          m.masked_number = Str(rs, 3);
          m.expires = Str(rs, 4);
          m.is_default = rs->getInt(5) != 0;
          out.push_back(std::move(m));
        }
        return absl::OkStatus();
      }));
  return out;
}

absl::StatusOr<TopUpResult> MysqlBillingStore::TopUp(
    int64_t customer_id, std::optional<int64_t> account_id,
    int64_t amount_micros, absl::Time now) {
  TopUpResult out;
  TANDEM_RETURN_IF_ERROR(
      pool_->Transaction("top up", [&](sql::Connection& conn) {
        out = TopUpResult();
        TANDEM_RETURN_IF_ERROR(LockCustomerForWrite(conn, customer_id));
        if (account_id) {
          Stmt acc(conn.prepareStatement(
              Q("UPDATE accounts SET balance = balance + ? "
                "WHERE i_account = ? AND i_customer = ?",
                "UPDATE accounts SET balance_micros = balance_micros + ? "
                "WHERE account_id = ? AND customer_id = ?")));
          TANDEM_RETURN_IF_ERROR(BindMoney(*acc, 1, amount_micros, v1()));
          acc->setInt64(2, *account_id);
          acc->setInt64(3, customer_id);
          if (acc->executeUpdate() == 0) {
            return absl::NotFoundError("no such account");
          }
        } else {
          Stmt cust(conn.prepareStatement(Q(
              "UPDATE customers SET balance = balance + ? WHERE i_customer = ?",
              "UPDATE customers SET balance_micros = balance_micros + ? "
              "WHERE customer_id = ?")));
          TANDEM_RETURN_IF_ERROR(BindMoney(*cust, 1, amount_micros, v1()));
          cust->setInt64(2, customer_id);
          if (cust->executeUpdate() == 0) {
            return absl::NotFoundError("no such customer");
          }
        }
        Stmt tx(conn.prepareStatement(Q(
            "INSERT INTO balance_transactions (i_customer, i_account, amount, "
            "tx_type, tx_time) VALUES (?, ?, ?, 'topup', ?)",
            "INSERT INTO balance_transactions (customer_id, account_id, "
            "amount_micros, kind, created_at) VALUES (?, ?, ?, 'topup', ?)")));
        tx->setInt64(1, customer_id);
        if (account_id) {
          tx->setInt64(2, *account_id);
        } else {
          tx->setNull(2, 0);
        }
        TANDEM_RETURN_IF_ERROR(BindMoney(*tx, 3, amount_micros, v1()));
        tx->setString(4, SqlDatetime(now));
        tx->executeUpdate();
        std::unique_ptr<sql::Statement> s(conn.createStatement());
        Rows id(s->executeQuery("SELECT LAST_INSERT_ID()"));
        id->next();
        out.transaction_id = id->getInt64(1);
        Stmt bal(conn.prepareStatement(Q(
            "SELECT c.balance, a.balance FROM customers c LEFT JOIN accounts a "
            "ON a.i_account = ? AND a.i_customer = c.i_customer "
            "WHERE c.i_customer = ?",
            "SELECT c.balance_micros, a.balance_micros FROM customers c "
            "LEFT JOIN accounts a ON a.account_id = ? AND "
            "a.customer_id = c.customer_id WHERE c.customer_id = ?")));
        bal->setInt64(1, account_id.value_or(0));
        bal->setInt64(2, customer_id);
        Rows rs(bal->executeQuery());
        if (!rs->next()) return absl::NotFoundError("no such customer");
        out.customer_balance_micros = Money(rs, 1, v1());
        if (account_id) out.account_balance_micros = Money(rs, 2, v1());
        return absl::OkStatus();
      }));
  return out;
}

namespace {

constexpr char kV1ProductColumns[] =
    "SELECT i_product, code, name, category, contract_pool, is_addon, "
    "monthly_fee, iso_4217, activation_params, last_changed FROM products ";
constexpr char kV2ProductColumns[] =
    "SELECT product_id, product_code, display_name, category, contract_pool, "
    "is_addon, monthly_fee_micros, currency, activation_params, updated_at "
    "FROM products ";

std::vector<Product> ReadProducts(sql::Connection& conn, bool v1,
                                  std::optional<int64_t> only) {
  std::vector<Product> out;
  std::string where =
      only ? (v1 ? "WHERE i_product = ? " : "WHERE product_id = ? ") : "";
  Stmt ps(conn.prepareStatement(
      absl::StrCat(v1 ? kV1ProductColumns : kV2ProductColumns, where,
                   v1 ? "ORDER BY i_product" : "ORDER BY product_id")));
  if (only) ps->setInt64(1, *only);
  Rows rs(ps->executeQuery());
  std::map<int64_t, size_t> index;
  while (rs->next()) {
    Product p;
    p.id = rs->getInt64(1);
    p.code = Str(rs, 2);
    p.name = Str(rs, 3);
    p.category = Str(rs, 4);
    p.contract_pool = Str(rs, 5);
    p.is_addon = rs->getInt(6) != 0;
    p.monthly_fee_micros = Money(rs, 7, v1);
    p.currency = Str(rs, 8);
    p.activation_params = Str(rs, 9);
    p.updated_at = Str(rs, 10);
    index[p.id] = out.size();
    out.push_back(std::move(p));
  }
  if (out.empty()) return out;
  Stmt limits(conn.prepareStatement(absl::StrCat(
      v1 ? "SELECT r.i_product, t.code, r.max_amount FROM product_resources r "
           "JOIN resource_types t ON t.i_resource_type = r.i_resource_type "
         : "SELECT r.product_id, t.type_code, r.limit_value FROM "
           "product_resources r JOIN resource_types t "
           "ON t.resource_type_id = r.resource_type_id ",
      only ? (v1 ? "WHERE r.i_product = ? " : "WHERE r.product_id = ? ") : "",
      "ORDER BY 1, 2")));
  if (only) limits->setInt64(1, *only);
  Rows lr(limits->executeQuery());
  while (lr->next()) {
    auto it = index.find(lr->getInt64(1));
    if (it == index.end()) continue;
    out[it->second].resources.push_back({Str(lr, 2), lr->getInt64(3)});
  }
  Stmt addons(conn.prepareStatement(absl::StrCat(
      v1 ? "SELECT a.i_product, p.code FROM product_addons a "
           "JOIN products p ON p.i_product = a.i_addon "
         : "SELECT a.product_id, p.product_code FROM product_addons a "
           "JOIN products p ON p.product_id = a.addon_product_id ",
      only ? (v1 ? "WHERE a.i_product = ? " : "WHERE a.product_id = ? ") : "",
      "ORDER BY 1, 2")));
  if (only) addons->setInt64(1, *only);
  Rows ar(addons->executeQuery());
  while (ar->next()) {
    auto it = index.find(ar->getInt64(1));
    if (it == index.end()) continue;
    out[it->second].addon_codes.push_back(Str(ar, 2));
  }
  return out;
}

// Replaces the limits and/or add-ons of `product_id`, resolving codes.
absl::Status WriteProductLinks(
    sql::Connection& conn, bool v1, int64_t product_id,
    const std::optional<std::vector<ResourceLimit>>& resources,
    const std::optional<std::vector<std::string>>& addon_codes) {
  if (resources) {
    Stmt clear(conn.prepareStatement(
        v1 ? "DELETE FROM product_resources WHERE i_product = ?"
           : "DELETE FROM product_resources WHERE product_id = ?"));
    clear->setInt64(1, product_id);
    clear->executeUpdate();
    Stmt type(conn.prepareStatement(
        v1 ? "SELECT i_resource_type FROM resource_types WHERE code = ?"
           : "SELECT resource_type_id FROM resource_types "
             "WHERE type_code = ?"));
    Stmt insert(conn.prepareStatement(
        v1 ? "INSERT INTO product_resources (i_product, i_resource_type, "
             "max_amount) VALUES (?, ?, ?)"
           : "INSERT INTO product_resources (product_id, resource_type_id, "
             "limit_value) VALUES (?, ?, ?)"));
    for (const ResourceLimit& r : *resources) {
      type->setString(1, r.type_code);
      Rows rs(type->executeQuery());
      if (!rs->next()) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown resource type '", r.type_code, "'"));
      }
      insert->setInt64(1, product_id);
      insert->setInt64(2, rs->getInt64(1));
      insert->setInt64(3, r.limit);
      insert->executeUpdate();
    }
  }
  if (addon_codes) {
    Stmt clear(conn.prepareStatement(
        v1 ? "DELETE FROM product_addons WHERE i_product = ?"
           : "DELETE FROM product_addons WHERE product_id = ?"));
    clear->setInt64(1, product_id);
    clear->executeUpdate();
    Stmt find(conn.prepareStatement(
        v1 ? "SELECT i_product FROM products WHERE code = ? AND is_addon = 1"
           : "SELECT product_id FROM products WHERE product_code = ? "
             "AND is_addon = 1"));
    Stmt insert(conn.prepareStatement(
        v1 ? "INSERT INTO product_addons (i_product, i_addon) VALUES (?, ?)"
           : "INSERT INTO product_addons (product_id, addon_product_id) "
             "VALUES (?, ?)"));
    for (const std::string& code : *addon_codes) {
      find->setString(1, code);
      Rows rs(find->executeQuery());
      if (!rs->next()) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown add-on product '", code, "'"));
      }
      insert->setInt64(1, product_id);
      insert->setInt64(2, rs->getInt64(1));
      insert->executeUpdate();
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<Product>> MysqlBillingStore::ListProducts() {
  std::vector<Product> out;
  TANDEM_RETURN_IF_ERROR(
      pool_->Run("list products", [&](sql::Connection& conn) {
        out = ReadProducts(conn, v1(), std::nullopt);
        return absl::OkStatus();
      }));
  return out;
}

absl::StatusOr<Product> MysqlBillingStore::GetProduct(int64_t product_id) {
  std::vector<Product> out;
  TANDEM_RETURN_IF_ERROR(pool_->Run("get product", [&](sql::Connection& conn) {
    out = ReadProducts(conn, v1(), product_id);
    return absl::OkStatus();
  }));
  if (out.empty()) return absl::NotFoundError("no such product");
  return std::move(out[0]);
}

absl::StatusOr<Product> MysqlBillingStore::CreateProduct(const Product& p) {
  int64_t id = 0;
  TANDEM_RETURN_IF_ERROR(
      pool_->Transaction("create product", [&](sql::Connection& conn) {
        Stmt ps(conn.prepareStatement(Q(
            "INSERT INTO products (code, name, category, contract_pool, "
            "is_addon, monthly_fee, iso_4217, activation_params, last_changed) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3))",
            "INSERT INTO products (product_code, display_name, category, "
            "contract_pool, is_addon, monthly_fee_micros, currency, "
            "activation_params, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3))")));
        ps->setString(1, p.code);
        ps->setString(2, p.name);
        ps->setString(3, p.category);
        ps->setString(4, p.contract_pool);
        ps->setInt(5, p.is_addon ? 1 : 0);
        TANDEM_RETURN_IF_ERROR(BindMoney(*ps, 6, p.monthly_fee_micros, v1()));
        ps->setString(7, p.currency);
        ps->setString(8, p.activation_params);
        ps->executeUpdate();
        std::unique_ptr<sql::Statement> s(conn.createStatement());
        Rows rs(s->executeQuery("SELECT LAST_INSERT_ID()"));
        rs->next();
        id = rs->getInt64(1);
        return WriteProductLinks(conn, v1(), id, p.resources, p.addon_codes);
      }));
  return GetProduct(id);
}

absl::StatusOr<Product> MysqlBillingStore::UpdateProduct(
    int64_t product_id, const ProductPatch& patch) {
  TANDEM_RETURN_IF_ERROR(
      pool_->Transaction("update product", [&](sql::Connection& conn) {
        Stmt lock(conn.prepareStatement(
            Q("SELECT name, monthly_fee, activation_params FROM products "
              "WHERE i_product = ? FOR UPDATE",
              "SELECT display_name, monthly_fee_micros, activation_params "
              "FROM products WHERE product_id = ? FOR UPDATE")));
        lock->setInt64(1, product_id);
        Rows rs(lock->executeQuery());
        if (!rs->next()) return absl::NotFoundError("no such product");
        Stmt ps(conn.prepareStatement(
            Q("UPDATE products SET name = ?, monthly_fee = ?, "
              "activation_params = ?, last_changed = UTC_TIMESTAMP(3) "
              "WHERE i_product = ?",
              "UPDATE products SET display_name = ?, monthly_fee_micros = ?, "
              "activation_params = ?, updated_at = UTC_TIMESTAMP(3) "
              "WHERE product_id = ?")));
        ps->setString(1, patch.name.value_or(Str(rs, 1)));
        TANDEM_RETURN_IF_ERROR(BindMoney(
            *ps, 2, patch.monthly_fee_micros.value_or(Money(rs, 2, v1())),
            v1()));
        ps->setString(3, patch.activation_params.value_or(Str(rs, 3)));
        ps->setInt64(4, product_id);
        ps->executeUpdate();
        return WriteProductLinks(conn, v1(), product_id, patch.resources,
                                 patch.addon_codes);
      }));
  return GetProduct(product_id);
}

absl::Status MysqlBillingStore::DeleteProduct(int64_t product_id) {
  return pool_->Transaction("delete product", [&](sql::Connection& conn) {
    Stmt used(conn.prepareStatement(
        Q("SELECT EXISTS(SELECT 1 FROM accounts WHERE i_product = ?) OR "
          "EXISTS(SELECT 1 FROM subscriptions WHERE i_product = ?)",
          "SELECT EXISTS(SELECT 1 FROM accounts WHERE product_id = ?) OR "
          "EXISTS(SELECT 1 FROM subscriptions WHERE product_id = ?)")));
    used->setInt64(1, product_id);
    used->setInt64(2, product_id);
    Rows rs(used->executeQuery());
    rs->next();
    if (rs->getInt(1) != 0) {
      return absl::FailedPreconditionError(
          "the product is in use by accounts or subscriptions");
    }
    Stmt del(conn.prepareStatement(Q("DELETE FROM products WHERE i_product = ?",
                                     "DELETE FROM products "
                                     "WHERE product_id = ?")));
    del->setInt64(1, product_id);
    if (del->executeUpdate() == 0) {
      return absl::NotFoundError("no such product");
    }
    for (const char* sql :
         {Q("DELETE FROM product_resources WHERE i_product = ?",
            "DELETE FROM product_resources WHERE product_id = ?"),
          Q("DELETE FROM product_addons WHERE i_product = ? OR i_addon = ?",
            "DELETE FROM product_addons WHERE product_id = ? OR "
            "addon_product_id = ?")}) {
      Stmt s(conn.prepareStatement(sql));
      s->setInt64(1, product_id);
      if (std::string(sql).find("OR") != std::string::npos) {
        s->setInt64(2, product_id);
      }
      s->executeUpdate();
    }
    return absl::OkStatus();
  });
}

}  // namespace tandem::testbed
