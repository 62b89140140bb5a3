#include "testbed/traffic/billing_writes.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tandem::testbed {
namespace {

using Stmt = std::unique_ptr<sql::PreparedStatement>;
using Rows = std::unique_ptr<sql::ResultSet>;

int64_t LastInsertId(sql::Connection& conn) {
  std::unique_ptr<sql::Statement> s(conn.createStatement());
  Rows rs(s->executeQuery("SELECT LAST_INSERT_ID()"));
  rs->next();
  return rs->getInt64(1);
}

// The statements of one schema version.
struct Dialect {
  const char* lock_customer;
  const char* insert_xdr;
  const char* debit_account;    // amount, account, customer
  const char* credit_account;   // amount, account, customer
  const char* credit_customer;  // amount, customer
  const char* insert_tx;        // customer, account, amount, type, time
  const char* add_usage;        // delta, subscription, type code
  const char* read_usage;       // subscription, type code
  const char* own_account;      // account, customer
};

constexpr Dialect kV1 = {
    "SELECT status FROM customers WHERE i_customer = ? FOR UPDATE",
    "INSERT INTO xdrs (i_account, i_customer, connect_time, duration, "
    "charged_amount, CLI, CLD) VALUES (?, ?, ?, ?, ?, ?, ?)",
    "UPDATE accounts SET balance = balance - ? "
    "WHERE i_account = ? AND i_customer = ?",
    "UPDATE accounts SET balance = balance + ? "
    "WHERE i_account = ? AND i_customer = ?",
    "UPDATE customers SET balance = balance + ? WHERE i_customer = ?",
    "INSERT INTO balance_transactions (i_customer, i_account, amount, "
    "tx_type, tx_time) VALUES (?, ?, ?, ?, ?)",
    "UPDATE subscription_usage u JOIN resource_types t "
    "ON t.i_resource_type = u.i_resource_type "
    "SET u.used_amount = u.used_amount + ? "
    "WHERE u.i_subscription = ? AND t.code = ?",
    "SELECT u.used_amount FROM subscription_usage u JOIN resource_types t "
    "ON t.i_resource_type = u.i_resource_type "
    "WHERE u.i_subscription = ? AND t.code = ?",
    "SELECT 1 FROM accounts WHERE i_account = ? AND i_customer = ? "
    "FOR UPDATE",
};

constexpr Dialect kV2 = {
    "SELECT status FROM customers WHERE customer_id = ? FOR UPDATE",
    "INSERT INTO cdrs (account_id, customer_id, started_at, duration_ms, "
    "charged_micros, calling_number, called_number) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)",
    "UPDATE accounts SET balance_micros = balance_micros - ? "
    "WHERE account_id = ? AND customer_id = ?",
    "UPDATE accounts SET balance_micros = balance_micros + ? "
    "WHERE account_id = ? AND customer_id = ?",
    "UPDATE customers SET balance_micros = balance_micros + ? "
    "WHERE customer_id = ?",
    "INSERT INTO balance_transactions (customer_id, account_id, "
    "amount_micros, kind, created_at) VALUES (?, ?, ?, ?, ?)",
    "UPDATE subscription_usage u JOIN resource_types t "
    "ON t.resource_type_id = u.resource_type_id "
    "SET u.used_quantity = u.used_quantity + ? "
    "WHERE u.subscription_id = ? AND t.type_code = ?",
    "SELECT u.used_quantity FROM subscription_usage u JOIN resource_types t "
    "ON t.resource_type_id = u.resource_type_id "
    "WHERE u.subscription_id = ? AND t.type_code = ?",
    "SELECT 1 FROM accounts WHERE account_id = ? AND customer_id = ? "
    "FOR UPDATE",
};

// Binds money in the version's form: v1 DECIMAL text (must fit), v2
// micro-units.
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

absl::Status CheckCustomer(sql::Connection& conn, const Dialect& d, bool v1,
                           int64_t customer_id) {
  Stmt lock(conn.prepareStatement(d.lock_customer));
  lock->setInt64(1, customer_id);
  Rows rs(lock->executeQuery());
  if (!rs->next()) {
    return absl::NotFoundError(
        absl::StrCat("customer ", customer_id, " is not on this system"));
  }
  const bool exported =
      v1 ? rs->getString(1) == "exported"
         : rs->getInt(1) == *StatusCode(StatusKind::kCustomer, "exported");
  return exported ? CustomerExportedError() : absl::OkStatus();
}

absl::Status InsertTransaction(sql::Connection& conn, const Dialect& d, bool v1,
                               const LedgerEntry& e) {
  Stmt tx(conn.prepareStatement(d.insert_tx));
  tx->setInt64(1, e.customer_id);
  if (e.account_id) {
    tx->setInt64(2, *e.account_id);
  } else {
    tx->setNull(2, 0);
  }
  TANDEM_RETURN_IF_ERROR(BindMoney(*tx, 3, e.amount_micros, v1));
  tx->setString(4, e.tx_type);
  tx->setString(5, e.tx_time);
  tx->executeUpdate();
  return absl::OkStatus();
}

absl::Status Credit(sql::Connection& conn, const Dialect& d, bool v1,
                    const LedgerEntry& e) {
  Stmt ps(conn.prepareStatement(e.account_id ? d.credit_account
                                             : d.credit_customer));
  TANDEM_RETURN_IF_ERROR(BindMoney(*ps, 1, e.amount_micros, v1));
  ps->setInt64(2, e.account_id ? *e.account_id : e.customer_id);
  if (e.account_id) ps->setInt64(3, e.customer_id);
  if (ps->executeUpdate() == 0) {
    return absl::NotFoundError(e.account_id ? "no such account"
                                            : "no such customer");
  }
  return absl::OkStatus();
}

absl::Status WriteXdr(sql::Connection& conn, const Dialect& d, bool v1,
                      LedgerEntry& e) {
  Stmt xdr(conn.prepareStatement(d.insert_xdr));
  xdr->setInt64(1, *e.account_id);
  xdr->setInt64(2, e.customer_id);
  xdr->setString(3, e.connect_time);
  if (v1) {
    if (e.duration_ms % 1000 != 0) {
      return absl::InvalidArgumentError("v1 holds whole seconds only");
    }
    xdr->setInt64(4, e.duration_ms / 1000);
  } else {
    xdr->setInt64(4, e.duration_ms);
  }
  TANDEM_RETURN_IF_ERROR(BindMoney(*xdr, 5, e.charged_micros, v1));
  xdr->setString(6, e.cli);
  xdr->setString(7, e.cld);
  xdr->executeUpdate();
  e.xdr_id = LastInsertId(conn);
  Stmt debit(conn.prepareStatement(d.debit_account));
  TANDEM_RETURN_IF_ERROR(BindMoney(*debit, 1, e.charged_micros, v1));
  debit->setInt64(2, *e.account_id);
  debit->setInt64(3, e.customer_id);
  if (debit->executeUpdate() == 0) {
    return absl::NotFoundError("no such account");
  }
  TANDEM_RETURN_IF_ERROR(InsertTransaction(conn, d, v1, e));
  e.transaction_id = LastInsertId(conn);
  return absl::OkStatus();
}

absl::Status WriteUsage(sql::Connection& conn, const Dialect& d,
                        LedgerEntry& e) {
  Stmt add(conn.prepareStatement(d.add_usage));
  add->setInt64(1, e.delta);
  add->setInt64(2, e.subscription_id);
  add->setString(3, e.resource_type);
  if (add->executeUpdate() == 0) {
    return absl::NotFoundError(absl::StrCat(
        "no ", e.resource_type, " usage of subscription ", e.subscription_id));
  }
  Stmt read(conn.prepareStatement(d.read_usage));
  read->setInt64(1, e.subscription_id);
  read->setString(2, e.resource_type);
  Rows rs(read->executeQuery());
  rs->next();
  e.used_after = rs->getInt64(1);
  return absl::OkStatus();
}

absl::Status WriteSetting(sql::Connection& conn, const Dialect& d, bool v1,
                          const LedgerEntry& e) {
  Stmt own(conn.prepareStatement(d.own_account));
  own->setInt64(1, *e.account_id);
  own->setInt64(2, e.customer_id);
  Rows rs(own->executeQuery());
  if (!rs->next()) return absl::NotFoundError("no such account");
  if (v1) {
    // A deleted setting becomes JSON null, as a legacy v1 tool writes it.
    Stmt set(conn.prepareStatement(
        "UPDATE accounts SET service_settings = "
        "JSON_SET(service_settings, ?, ?) WHERE i_account = ?"));
    set->setString(1, absl::StrCat("$.\"", e.setting, "\""));
    if (e.value) {
      set->setString(2, *e.value);
    } else {
      set->setNull(2, 0);
    }
    set->setInt64(3, *e.account_id);
    set->executeUpdate();
    return absl::OkStatus();
  }
  if (e.value) {
    Stmt upsert(conn.prepareStatement(
        "INSERT INTO account_service_settings (account_id, setting_name, "
        "setting_value) VALUES (?, ?, ?) "
        "ON DUPLICATE KEY UPDATE setting_value = VALUES(setting_value)"));
    upsert->setInt64(1, *e.account_id);
    upsert->setString(2, e.setting);
    upsert->setString(3, *e.value);
    upsert->executeUpdate();
  } else {
    Stmt remove(
        conn.prepareStatement("DELETE FROM account_service_settings "
                              "WHERE account_id = ? AND setting_name = ?"));
    remove->setInt64(1, *e.account_id);
    remove->setString(2, e.setting);
    remove->executeUpdate();
  }
  return absl::OkStatus();
}

}  // namespace

std::string LedgerTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", t, absl::UTCTimeZone());
}

absl::Status ApplyWrite(sql::Connection& conn, SchemaVersion version,
                        const PlannedWrite& w, const AccountRef& account,
                        bool check, absl::Time call_start, absl::Time now,
                        LedgerEntry* entry) {
  const bool v1 = version == SchemaVersion::kV1;
  const Dialect& d = v1 ? kV1 : kV2;
  if (check) TANDEM_RETURN_IF_ERROR(CheckCustomer(conn, d, v1, w.customer_id));
  LedgerEntry& e = *entry;
  e.kind = w.kind;
  e.blind = w.blind;
  e.on_target = !v1;
  e.customer_id = w.customer_id;
  e.account_id = account.id;
  e.tx_time = LedgerTime(now);
  // v2 takes the finer values v1 cannot hold.
  const int64_t extra = v1 ? 0 : w.extra_micros;
  switch (w.kind) {
    case WriteKind::kXdr:
      e.connect_time = LedgerTime(call_start);
      e.duration_ms = w.duration_s * 1000 + (v1 ? 0 : w.extra_ms);
      e.charged_micros = w.charged_micros + extra;
      e.cli = account.number;
      e.cld = w.cld;
      e.amount_micros = -e.charged_micros;
      e.tx_type = "charge";
      return WriteXdr(conn, d, v1, e);
    case WriteKind::kAdjust:
      e.account_id.reset();
      e.amount_micros =
          w.amount_micros + (w.amount_micros < 0 ? -extra : extra);
      e.tx_type = "adjustment";
      TANDEM_RETURN_IF_ERROR(Credit(conn, d, v1, e));
      TANDEM_RETURN_IF_ERROR(InsertTransaction(conn, d, v1, e));
      e.transaction_id = LastInsertId(conn);
      return absl::OkStatus();
    case WriteKind::kTopUp:
      if (!w.account_level) e.account_id.reset();
      e.amount_micros = w.amount_micros + extra;
      e.tx_type = "topup";
      TANDEM_RETURN_IF_ERROR(Credit(conn, d, v1, e));
      TANDEM_RETURN_IF_ERROR(InsertTransaction(conn, d, v1, e));
      e.transaction_id = LastInsertId(conn);
      return absl::OkStatus();
    case WriteKind::kUsage:
      e.subscription_id = account.subscription_id;
      e.resource_type = w.resource_type;
      e.delta = w.usage_delta;
      return WriteUsage(conn, d, e);
    case WriteKind::kSettings:
      e.setting = w.setting;
      e.value = w.value;
      return WriteSetting(conn, d, v1, e);
  }
  return absl::InternalError("unknown write kind");
}

}  // namespace tandem::testbed
