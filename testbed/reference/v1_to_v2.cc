#include "testbed/reference/v1_to_v2.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <mysql_connection.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "testbed/base/json.h"
#include "testbed/base/model.h"

namespace tandem::testbed {
namespace {

using Stmt = std::unique_ptr<sql::PreparedStatement>;
using Rows = std::unique_ptr<sql::ResultSet>;
using Row = std::vector<std::optional<std::string>>;

// Runs a one-parameter query and returns every row as text.
std::vector<Row> Fetch(sql::Connection& conn, const std::string& query,
                       int64_t id) {
  Stmt ps(conn.prepareStatement(query));
  ps->setInt64(1, id);
  Rows rs(ps->executeQuery());
  const int columns = static_cast<int>(rs->getMetaData()->getColumnCount());
  std::vector<Row> out;
  while (rs->next()) {
    Row row;
    for (int i = 1; i <= columns; ++i) {
      if (rs->isNull(i)) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(std::string(rs->getString(i)));
      }
    }
    out.push_back(std::move(row));
  }
  return out;
}

std::map<std::string, std::string> FetchMap(sql::Connection& conn,
                                            const std::string& query) {
  Stmt ps(conn.prepareStatement(query));
  Rows rs(ps->executeQuery());
  std::map<std::string, std::string> out;
  while (rs->next()) out[rs->getString(1)] = rs->getString(2);
  return out;
}

struct Source {
  std::vector<Row> customer, accounts, subscriptions, usage, xdrs, transactions,
      invoices, methods, sessions, tokens;
  std::map<std::string, std::string> product_code;  // v1 id -> code
  std::map<std::string, std::string> type_code;     // v1 id -> code
  std::map<std::string, std::string> type_class;    // v1 type id -> class
};

struct TargetCatalog {
  std::map<std::string, std::string> product_id;  // code -> v2 id
  std::map<std::string, std::string> type_id;     // code -> v2 id
  std::map<std::string, std::string> class_type;  // class -> first v2 type
};

absl::StatusOr<int64_t> Micros(const std::optional<std::string>& decimal) {
  return DecimalToMicros(decimal.value_or("0"));
}

int Code(StatusKind kind, const std::optional<std::string>& name) {
  std::optional<int> code = StatusCode(kind, name.value_or(""));
  return code.value_or(0);
}

void Bind(sql::PreparedStatement& ps, int index,
          const std::optional<std::string>& value) {
  if (value) {
    ps.setString(index, *value);
  } else {
    ps.setNull(index, 0);
  }
}

}  // namespace

absl::Status CopyCustomerV1ToV2(MysqlPool& source, MysqlPool& target,
                                int64_t customer_id) {
  Source s;
  TANDEM_RETURN_IF_ERROR(
      source.Transaction("read v1 customer", [&](sql::Connection& conn) {
        s = Source();
        s.customer =
            Fetch(conn,
                  "SELECT i_customer, login, password_hash, companyname, "
                  "email, phone1, baddr1, balance, credit_limit, "
                  "iso_4217, i_payment_system, bill_cycle, status, "
                  "creation_date FROM customers WHERE i_customer = ?",
                  customer_id);
        if (s.customer.empty()) return absl::NotFoundError("no such customer");
        s.accounts =
            Fetch(conn,
                  "SELECT i_account, id, i_customer, i_product, balance, "
                  "status, service_settings, creation_date FROM "
                  "accounts WHERE i_customer = ? ORDER BY i_account",
                  customer_id);
        s.subscriptions =
            Fetch(conn,
                  "SELECT i_subscription, i_customer, i_account, i_product, "
                  "is_addon, "
                  "status, start_date FROM subscriptions WHERE i_customer = ?",
                  customer_id);
        s.usage =
            Fetch(conn,
                  "SELECT u.i_subscription, u.i_resource_type, "
                  "u.used_amount FROM subscription_usage u JOIN "
                  "subscriptions s ON s.i_subscription = u.i_subscription "
                  "WHERE s.i_customer = ?",
                  customer_id);
        s.xdrs = Fetch(conn,
                       "SELECT i_xdr, i_account, i_customer, connect_time, "
                       "duration, charged_amount, CLI, CLD FROM xdrs "
                       "WHERE i_customer = ?",
                       customer_id);
        s.transactions = Fetch(conn,
                               "SELECT i_transaction, i_customer, i_account, "
                               "amount, tx_type, tx_time FROM "
                               "balance_transactions WHERE i_customer = ?",
                               customer_id);
        s.invoices =
            Fetch(conn,
                  "SELECT i_invoice, i_customer, period_from, period_to, "
                  "amount_due, status, issue_date FROM invoices "
                  "WHERE i_customer = ?",
                  customer_id);
        s.methods =
            Fetch(conn,
                  "SELECT i_payment_method, i_customer, payment_method, "
                  "number_masked, exp_date, is_default FROM "
                  "payment_methods WHERE i_customer = ?",
                  customer_id);
        s.sessions = Fetch(conn,
                           "SELECT session_hash, i_customer, created, expires "
                           "FROM portal_sessions WHERE i_customer = ?",
                           customer_id);
        s.tokens = Fetch(conn,
                         "SELECT token_hash, i_customer, description, created, "
                         "expires FROM api_tokens WHERE i_customer = ?",
                         customer_id);
        s.product_code = FetchMap(conn, "SELECT i_product, code FROM products");
        s.type_code =
            FetchMap(conn, "SELECT i_resource_type, code FROM resource_types");
        s.type_class = FetchMap(
            conn,
            "SELECT t.i_resource_type, c.name FROM resource_types t JOIN "
            "resource_classes c ON c.i_resource_class = t.i_resource_class");
        return absl::OkStatus();
      }));

  return target.Transaction("write v2 customer", [&](sql::Connection& conn) {
    TargetCatalog t;
    t.product_id =
        FetchMap(conn, "SELECT product_code, product_id FROM products");
    t.type_id = FetchMap(
        conn, "SELECT type_code, resource_type_id FROM resource_types");
    {
      Stmt ps(conn.prepareStatement(
          "SELECT c.class_name, t.resource_type_id FROM resource_types t "
          "JOIN resource_classes c ON c.resource_class_id = "
          "t.resource_class_id ORDER BY t.resource_type_id"));
      Rows rs(ps->executeQuery());
      while (rs->next())
        t.class_type.emplace(rs->getString(1), rs->getString(2));
    }
    auto product = [&](const std::optional<std::string>& v1_id)
        -> absl::StatusOr<std::string> {
      auto code = s.product_code.find(v1_id.value_or(""));
      if (code == s.product_code.end()) {
        return absl::FailedPreconditionError("unknown v1 product");
      }
      auto id = t.product_id.find(code->second);
      if (id == t.product_id.end()) {
        return absl::FailedPreconditionError(
            absl::StrCat("product ", code->second, " has no v2 counterpart"));
      }
      return id->second;
    };

    const Row& c = s.customer[0];
    Stmt customer(conn.prepareStatement(
        "INSERT INTO customers (customer_id, login, password_hash, "
        "balance_micros, credit_limit_micros, currency, payment_system_id, "
        "billing_period, status, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    Bind(*customer, 1, c[0]);
    Bind(*customer, 2, c[1]);
    Bind(*customer, 3, c[2]);
    TANDEM_ASSIGN_OR_RETURN(int64_t balance, Micros(c[7]));
    TANDEM_ASSIGN_OR_RETURN(int64_t credit, Micros(c[8]));
    customer->setInt64(4, balance);
    customer->setInt64(5, credit);
    Bind(*customer, 6, c[9]);
    Bind(*customer, 7, c[10]);
    Bind(*customer, 8, c[11]);
    customer->setInt(9, Code(StatusKind::kCustomer, c[12]));
    Bind(*customer, 10, c[13]);
    customer->executeUpdate();

    Stmt contact(conn.prepareStatement(
        "INSERT INTO customer_contacts (customer_id, full_name, email, phone, "
        "address_line) VALUES (?, ?, ?, ?, ?)"));
    for (int i = 0; i < 5; ++i) Bind(*contact, i + 1, c[i == 0 ? 0 : i + 2]);
    contact->executeUpdate();

    Stmt account(conn.prepareStatement(
        "INSERT INTO accounts (account_id, phone_number, customer_id, "
        "product_id, balance_micros, status, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)"));
    Stmt setting(conn.prepareStatement(
        "INSERT INTO account_service_settings (account_id, setting_name, "
        "setting_value) VALUES (?, ?, ?)"));
    for (const Row& a : s.accounts) {
      TANDEM_ASSIGN_OR_RETURN(std::string product_id, product(a[3]));
      TANDEM_ASSIGN_OR_RETURN(int64_t micros, Micros(a[4]));
      Bind(*account, 1, a[0]);
      Bind(*account, 2, a[1]);
      Bind(*account, 3, a[2]);
      account->setString(4, product_id);
      account->setInt64(5, micros);
      account->setInt(6, Code(StatusKind::kAccount, a[5]));
      Bind(*account, 7, a[7]);
      account->executeUpdate();
      absl::StatusOr<JsonValue> settings =
          JsonValue::Parse(a[6].value_or("{}"));
      if (!settings.ok() || !settings->is_object()) {
        return absl::InvalidArgumentError("service_settings is not an object");
      }
      for (const auto& [name, value] : settings->members()) {
        std::string text;
        if (value.is_string() || value.is_number()) {
          text = value.text();
        } else if (value.is_bool()) {
          text = value.bool_value() ? "true" : "false";
        } else {
          continue;  // null, arrays and objects are not settings
        }
        Bind(*setting, 1, a[0]);
        setting->setString(2, name);
        setting->setString(3, text);
        setting->executeUpdate();
      }
    }

    Stmt subscription(conn.prepareStatement(
        "INSERT INTO subscriptions (subscription_id, customer_id, account_id, "
        "product_id, is_addon, status, activated_on) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)"));
    for (const Row& r : s.subscriptions) {
      TANDEM_ASSIGN_OR_RETURN(std::string product_id, product(r[3]));
      Bind(*subscription, 1, r[0]);
      Bind(*subscription, 2, r[1]);
      Bind(*subscription, 3, r[2]);
      subscription->setString(4, product_id);
      Bind(*subscription, 5, r[4]);
      subscription->setInt(6, Code(StatusKind::kSubscription, r[5]));
      Bind(*subscription, 7, r[6]);
      subscription->executeUpdate();
    }
    // Usage of a type missing on v2 moves to the v2 type of the same class;
    // if two v1 types land on one v2 type, their usage adds up.
    std::map<std::pair<std::string, std::string>, int64_t> usage;
    for (const Row& r : s.usage) {
      const std::string& code = s.type_code[r[1].value_or("")];
      std::string type_id;
      if (auto it = t.type_id.find(code); it != t.type_id.end()) {
        type_id = it->second;
      } else if (auto cls = t.class_type.find(s.type_class[r[1].value_or("")]);
                 cls != t.class_type.end()) {
        type_id = cls->second;
      } else {
        continue;  // unprovisioned on v2
      }
      usage[{r[0].value_or(""), type_id}] += std::stoll(r[2].value_or("0"));
    }
    Stmt use(conn.prepareStatement(
        "INSERT INTO subscription_usage (subscription_id, resource_type_id, "
        "used_quantity) VALUES (?, ?, ?)"));
    for (const auto& [key, used] : usage) {
      use->setString(1, key.first);
      use->setString(2, key.second);
      use->setInt64(3, used);
      use->executeUpdate();
    }

    Stmt cdr(conn.prepareStatement(
        "INSERT INTO cdrs (cdr_id, account_id, customer_id, started_at, "
        "duration_ms, charged_micros, calling_number, called_number) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
    for (const Row& r : s.xdrs) {
      TANDEM_ASSIGN_OR_RETURN(int64_t charged, Micros(r[5]));
      Bind(*cdr, 1, r[0]);
      Bind(*cdr, 2, r[1]);
      Bind(*cdr, 3, r[2]);
      Bind(*cdr, 4, r[3]);
      cdr->setInt64(5, SecondsToMillis(std::stoll(r[4].value_or("0"))));
      cdr->setInt64(6, charged);
      Bind(*cdr, 7, r[6]);
      Bind(*cdr, 8, r[7]);
      cdr->executeUpdate();
    }
    Stmt tx(conn.prepareStatement(
        "INSERT INTO balance_transactions (transaction_id, customer_id, "
        "account_id, amount_micros, kind, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)"));
    for (const Row& r : s.transactions) {
      TANDEM_ASSIGN_OR_RETURN(int64_t amount, Micros(r[3]));
      Bind(*tx, 1, r[0]);
      Bind(*tx, 2, r[1]);
      Bind(*tx, 3, r[2]);
      tx->setInt64(4, amount);
      Bind(*tx, 5, r[4]);
      Bind(*tx, 6, r[5]);
      tx->executeUpdate();
    }
    Stmt invoice(conn.prepareStatement(
        "INSERT INTO invoices (invoice_id, customer_id, period_start, "
        "period_end, amount_due_micros, status, issued_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)"));
    for (const Row& r : s.invoices) {
      TANDEM_ASSIGN_OR_RETURN(int64_t due, Micros(r[4]));
      Bind(*invoice, 1, r[0]);
      Bind(*invoice, 2, r[1]);
      Bind(*invoice, 3, r[2]);
      Bind(*invoice, 4, r[3]);
      invoice->setInt64(5, due);
      invoice->setInt(6, Code(StatusKind::kInvoice, r[5]));
      Bind(*invoice, 7, r[6]);
      invoice->executeUpdate();
    }
    Stmt method(conn.prepareStatement(
        "INSERT INTO payment_methods (payment_method_id, customer_id, method, "
        "masked_number, expires_on, is_default) VALUES (?, ?, ?, ?, ?, ?)"));
    for (const Row& r : s.methods) {
      for (int i = 0; i < 6; ++i) Bind(*method, i + 1, r[i]);
      method->executeUpdate();
    }
    Stmt session(conn.prepareStatement(
        "INSERT INTO portal_sessions (session_hash, customer_id, created_at, "
        "expires_at) VALUES (?, ?, ?, ?)"));
    for (const Row& r : s.sessions) {
      for (int i = 0; i < 4; ++i) Bind(*session, i + 1, r[i]);
      session->executeUpdate();
    }
    Stmt token(conn.prepareStatement(
        "INSERT INTO api_tokens (token_hash, customer_id, label, created_at, "
        "expires_at) VALUES (?, ?, ?, ?, ?)"));
    for (const Row& r : s.tokens) {
      for (int i = 0; i < 5; ++i) Bind(*token, i + 1, r[i]);
      token->executeUpdate();
    }
    return absl::OkStatus();
  });
}

}  // namespace tandem::testbed
