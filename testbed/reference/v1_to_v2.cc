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
#include "testbed/reference/conversion_plan.h"

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
  std::map<std::string, std::string> type_code;  // v1 type id -> code
  CatalogView catalog;
};

absl::StatusOr<int64_t> Micros(const std::optional<std::string>& decimal) {
  return DecimalToMicros(decimal.value_or("0"));
}

int64_t Id(const std::optional<std::string>& text) {
  return text ? std::stoll(*text) : 0;
}

// An enum value v2 has a code for; anything else is a conversion error,
// never a silent 0.
absl::StatusOr<int> Code(StatusKind kind, const char* what,
                         const std::optional<std::string>& name,
                         const std::optional<std::string>& row_id) {
  std::optional<int> code = StatusCode(kind, name.value_or(""));
  if (!code) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown ", what, " status '", name.value_or("NULL"),
                     "' (", what, " ", row_id.value_or("?"), ")"));
  }
  return *code;
}

// Reads a catalog: products with limits and add-ons, resource types.
CatalogView ReadCatalog(sql::Connection& conn, bool v1) {
  CatalogView c;
  for (const auto& [id, code] :
       FetchMap(conn, v1 ? "SELECT i_product, code FROM products"
                         : "SELECT product_id, product_code FROM products")) {
    c.products[std::stoll(id)].code = code;
    c.products[std::stoll(id)].id = std::stoll(id);
  }
  for (const auto& [id, name] :
       FetchMap(conn, v1 ? "SELECT i_product, name FROM products"
                         : "SELECT product_id, display_name FROM products")) {
    c.products[std::stoll(id)].name = name;
  }
  Stmt limits(conn.prepareStatement(
      v1 ? "SELECT r.i_product, t.code, r.max_amount FROM product_resources "
           "r JOIN resource_types t ON t.i_resource_type = r.i_resource_type"
         : "SELECT r.product_id, t.type_code, r.limit_value FROM "
           "product_resources r JOIN resource_types t "
           "ON t.resource_type_id = r.resource_type_id"));
  Rows lr(limits->executeQuery());
  while (lr->next()) {
    c.products[lr->getInt64(1)].limits[lr->getString(2)] = lr->getInt64(3);
  }
  Stmt addons(conn.prepareStatement(
      v1 ? "SELECT i_product, i_addon FROM product_addons"
         : "SELECT product_id, addon_product_id FROM product_addons"));
  Rows ar(addons->executeQuery());
  while (ar->next()) {
    c.products[ar->getInt64(1)].addon_ids.push_back(ar->getInt64(2));
  }
  Stmt types(conn.prepareStatement(
      v1 ? "SELECT t.code, c.name, t.unit FROM resource_types t JOIN "
           "resource_classes c ON c.i_resource_class = t.i_resource_class"
         : "SELECT t.type_code, c.class_name, t.unit FROM resource_types t "
           "JOIN resource_classes c "
           "ON c.resource_class_id = t.resource_class_id"));
  Rows tr(types->executeQuery());
  while (tr->next()) {
    c.types[tr->getString(1)] = {tr->getString(1), tr->getString(2),
                                 tr->getString(3)};
  }
  return c;
}

void Bind(sql::PreparedStatement& ps, int index,
          const std::optional<std::string>& value) {
  if (value) {
    ps.setString(index, *value);
  } else {
    ps.setNull(index, 0);
  }
}

absl::Status ReadSource(sql::Connection& conn, int64_t customer_id, Source& s) {
  s = Source();
  s.customer = Fetch(conn,
                     "SELECT i_customer, login, password_hash, companyname, "
                     "email, phone1, baddr1, balance, credit_limit, "
                     "iso_4217, i_payment_system, bill_cycle, status, "
                     "creation_date FROM customers WHERE i_customer = ?",
                     customer_id);
  if (s.customer.empty()) return absl::NotFoundError("no such customer");
  s.accounts = Fetch(conn,
                     "SELECT i_account, id, i_customer, i_product, balance, "
                     "status, service_settings, creation_date FROM "
                     "accounts WHERE i_customer = ? ORDER BY i_account",
                     customer_id);
  s.subscriptions =
      Fetch(conn,
            "SELECT i_subscription, i_customer, i_account, i_product, "
            "is_addon, status, start_date FROM subscriptions "
            "WHERE i_customer = ? ORDER BY i_subscription",
            customer_id);
  s.usage = Fetch(conn,
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
  s.invoices = Fetch(conn,
                     "SELECT i_invoice, i_customer, period_from, period_to, "
                     "amount_due, status, issue_date FROM invoices "
                     "WHERE i_customer = ?",
                     customer_id);
  s.methods = Fetch(conn,
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
  s.type_code =
      FetchMap(conn, "SELECT i_resource_type, code FROM resource_types");
  s.catalog = ReadCatalog(conn, /*v1=*/true);
  return absl::OkStatus();
}

absl::Status WriteCustomer(sql::Connection& conn, const Source& s) {
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
  TANDEM_ASSIGN_OR_RETURN(int status,
                          Code(StatusKind::kCustomer, "customer", c[12], c[0]));
  customer->setInt64(4, balance);
  customer->setInt64(5, credit);
  Bind(*customer, 6, c[9]);
  Bind(*customer, 7, c[10]);
  Bind(*customer, 8, c[11]);
  customer->setInt(9, status);
  Bind(*customer, 10, c[13]);
  customer->executeUpdate();
  Stmt contact(conn.prepareStatement(
      "INSERT INTO customer_contacts (customer_id, full_name, email, phone, "
      "address_line) VALUES (?, ?, ?, ?, ?)"));
  for (int i = 0; i < 5; ++i) Bind(*contact, i + 1, c[i == 0 ? 0 : i + 2]);
  contact->executeUpdate();
  return absl::OkStatus();
}

// The product an account or closed subscription goes to.
absl::StatusOr<int64_t> TargetProduct(const Source& s,
                                      const ConversionPlan& plan,
                                      const std::optional<std::string>& v1_id) {
  auto it = plan.products.find(Id(v1_id));
  if (it == plan.products.end()) {
    auto p = s.catalog.products.find(Id(v1_id));
    return absl::FailedPreconditionError(absl::StrCat(
        "product ",
        p == s.catalog.products.end() ? v1_id.value_or("?") : p->second.code,
        " has no v2 counterpart"));
  }
  return it->second;
}

absl::Status WriteAccounts(sql::Connection& conn, const Source& s,
                           const ConversionPlan& plan) {
  // An account's product is that of its main subscription.
  std::map<int64_t, int64_t> main_product;
  for (const Row& r : s.subscriptions) {
    auto it = plan.subscription_product.find(Id(r[0]));
    if (r[4] == "0" && it != plan.subscription_product.end()) {
      main_product.emplace(Id(r[2]), it->second);
    }
  }
  Stmt account(conn.prepareStatement(
      "INSERT INTO accounts (account_id, phone_number, customer_id, "
      "product_id, balance_micros, status, created_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?)"));
  Stmt setting(conn.prepareStatement(
      "INSERT INTO account_service_settings (account_id, setting_name, "
      "setting_value) VALUES (?, ?, ?)"));
  for (const Row& a : s.accounts) {
    int64_t product = 0;
    if (auto it = main_product.find(Id(a[0])); it != main_product.end()) {
      product = it->second;
    } else {
      TANDEM_ASSIGN_OR_RETURN(product, TargetProduct(s, plan, a[3]));
    }
    TANDEM_ASSIGN_OR_RETURN(int64_t micros, Micros(a[4]));
    TANDEM_ASSIGN_OR_RETURN(int status,
                            Code(StatusKind::kAccount, "account", a[5], a[0]));
    Bind(*account, 1, a[0]);
    Bind(*account, 2, a[1]);
    Bind(*account, 3, a[2]);
    account->setInt64(4, product);
    account->setInt64(5, micros);
    account->setInt(6, status);
    Bind(*account, 7, a[7]);
    account->executeUpdate();
    absl::StatusOr<JsonValue> settings = JsonValue::Parse(a[6].value_or("{}"));
    if (!settings.ok() || !settings->is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("account ", a[0].value_or("?"),
                       ": service_settings is not an "
                       "object"));
    }
    for (const auto& [name, value] : settings->members()) {
      std::string text;
      if (value.is_string() || value.is_number()) {
        text = value.text();
      } else if (value.is_bool()) {
        text = value.bool_value() ? "true" : "false";
      } else {
        continue;  // null (a deleted setting), arrays and objects
      }
      Bind(*setting, 1, a[0]);
      setting->setString(2, name);
      setting->setString(3, text);
      setting->executeUpdate();
    }
  }
  return absl::OkStatus();
}

// Writes the subscriptions the plan carries and their usage.
absl::Status WriteSubscriptions(sql::Connection& conn, const Source& s,
                                const CatalogView& v2,
                                const ConversionPlan& plan) {
  std::map<int64_t, std::string> phone;  // account id -> number
  for (const Row& a : s.accounts) phone[Id(a[0])] = a[1].value_or("");
  Stmt subscription(conn.prepareStatement(
      "INSERT INTO subscriptions (subscription_id, customer_id, account_id, "
      "product_id, is_addon, status, activated_on) "
      "VALUES (?, ?, ?, ?, ?, ?, ?)"));
  // Per copied subscription: its v2 product, and whether it is an add-on;
  // and its v1 product.
  std::map<int64_t, std::pair<int64_t, bool>> copied;
  std::map<int64_t, int64_t> source_product;
  for (const Row& r : s.subscriptions) {
    const bool addon = r[4] == "1";
    int64_t product = 0;
    if (addon) {
      auto it = plan.addon_product.find({phone[Id(r[2])], Id(r[3])});
      if (it == plan.addon_product.end()) continue;  // not carried
      product = it->second;
    } else if (auto it = plan.subscription_product.find(Id(r[0]));
               it != plan.subscription_product.end()) {
      product = it->second;
    } else {
      TANDEM_ASSIGN_OR_RETURN(product, TargetProduct(s, plan, r[3]));
    }
    TANDEM_ASSIGN_OR_RETURN(int status, Code(StatusKind::kSubscription,
                                             "subscription", r[5], r[0]));
    Bind(*subscription, 1, r[0]);
    Bind(*subscription, 2, r[1]);
    Bind(*subscription, 3, r[2]);
    subscription->setInt64(4, product);
    Bind(*subscription, 5, r[4]);
    subscription->setInt(6, status);
    Bind(*subscription, 7, r[6]);
    subscription->executeUpdate();
    copied[Id(r[0])] = {product, addon};
    source_product[Id(r[0])] = Id(r[3]);
  }
  // Usage goes where the plan says (or the type correspondence rule); if
  // two v1 types land on one v2 type, their usage adds up.
  std::map<std::pair<int64_t, std::string>, int64_t> usage;
  for (const Row& r : s.usage) {
    auto sub = copied.find(Id(r[0]));
    if (sub == copied.end()) continue;  // an add-on not carried
    const std::string& code = s.type_code.at(r[1].value_or(""));
    std::string lands;
    auto planned = plan.resources.find(sub->first);
    if (planned != plan.resources.end() && planned->second.count(code)) {
      lands = planned->second.at(code);
    } else {
      const auto& v1_limits =
          s.catalog.products.at(source_product[sub->first]).limits;
      auto limit = v1_limits.find(code);
      lands = LandingOn(s.catalog, v2, code,
                        limit == v1_limits.end() ? 0 : limit->second,
                        v2.products.at(sub->second.first));
    }
    if (lands.empty()) continue;  // unprovisioned: dropped, as planned
    usage[{sub->first, lands}] += std::stoll(r[2].value_or("0"));
  }
  std::map<std::string, std::string> type_id;
  for (const auto& [id, code] :
       FetchMap(conn, "SELECT resource_type_id, type_code FROM resource_types"))
    type_id[code] = id;
  Stmt use(conn.prepareStatement(
      "INSERT INTO subscription_usage (subscription_id, resource_type_id, "
      "used_quantity) VALUES (?, ?, ?)"));
  for (const auto& [key, used] : usage) {
    use->setInt64(1, key.first);
    use->setString(2, type_id.at(key.second));
    use->setInt64(3, used);
    use->executeUpdate();
  }
  return absl::OkStatus();
}

absl::Status WriteHistory(sql::Connection& conn, const Source& s) {
  Stmt cdr(conn.prepareStatement(
      "INSERT INTO cdrs (cdr_id, account_id, customer_id, started_at, "
      "duration_ms, charged_micros, calling_number, called_number) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
  for (const Row& r : s.xdrs) {
    TANDEM_ASSIGN_OR_RETURN(int64_t charged, Micros(r[5]));
    for (int i : {0, 1, 2, 3}) Bind(*cdr, i + 1, r[i]);
    cdr->setInt64(5, SecondsToMillis(Id(r[4])));
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
    for (int i : {0, 1, 2}) Bind(*tx, i + 1, r[i]);
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
    TANDEM_ASSIGN_OR_RETURN(int status,
                            Code(StatusKind::kInvoice, "invoice", r[5], r[0]));
    for (int i : {0, 1, 2, 3}) Bind(*invoice, i + 1, r[i]);
    invoice->setInt64(5, due);
    invoice->setInt(6, status);
    Bind(*invoice, 7, r[6]);
    invoice->executeUpdate();
  }
  return absl::OkStatus();
}

absl::Status WriteAccess(sql::Connection& conn, const Source& s) {
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
}

absl::Status Copy(MysqlPool& source, MysqlPool& target, int64_t customer_id,
                  const ::tandem::catalog::v1::CustomerPlan* catalog_plan) {
  if (catalog_plan != nullptr && catalog_plan->customer_id() != customer_id) {
    return absl::InvalidArgumentError("the plan is another customer's");
  }
  Source s;
  TANDEM_RETURN_IF_ERROR(source.Transaction(
      "read v1 customer",
      [&](sql::Connection& conn) { return ReadSource(conn, customer_id, s); }));
  return target.Transaction("write v2 customer", [&](sql::Connection& conn) {
    const CatalogView v2 = ReadCatalog(conn, /*v1=*/false);
    std::vector<SubscriptionRef> subscriptions;
    std::map<int64_t, std::string> phone;
    for (const Row& a : s.accounts) phone[Id(a[0])] = a[1].value_or("");
    for (const Row& r : s.subscriptions) {
      subscriptions.push_back(
          {Id(r[0]), phone[Id(r[2])], Id(r[3]), r[4] == "1"});
    }
    std::vector<int64_t> account_products;
    for (const Row& a : s.accounts) account_products.push_back(Id(a[3]));
    ConversionPlan plan =
        DefaultPlan(s.catalog, v2, subscriptions, account_products);
    if (catalog_plan != nullptr) {
      TANDEM_RETURN_IF_ERROR(
          ApplyCatalogPlan(*catalog_plan, s.catalog, v2, plan));
    }
    TANDEM_RETURN_IF_ERROR(WriteCustomer(conn, s));
    TANDEM_RETURN_IF_ERROR(WriteAccounts(conn, s, plan));
    TANDEM_RETURN_IF_ERROR(WriteSubscriptions(conn, s, v2, plan));
    TANDEM_RETURN_IF_ERROR(WriteHistory(conn, s));
    return WriteAccess(conn, s);
  });
}

}  // namespace

absl::Status CopyCustomerV1ToV2(MysqlPool& source, MysqlPool& target,
                                int64_t customer_id) {
  return Copy(source, target, customer_id, nullptr);
}

absl::Status CopyCustomerV1ToV2(
    MysqlPool& source, MysqlPool& target,
    const ::tandem::catalog::v1::CustomerPlan& plan) {
  return Copy(source, target, plan.customer_id(), &plan);
}

}  // namespace tandem::testbed
