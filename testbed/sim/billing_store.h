// What the billing-system simulator reads and writes, in the neutral units
// of its API (money in micro-units, durations in milliseconds, statuses as
// the v1 names), whatever the schema version underneath.
//
// BillingStore is the interface; MysqlBillingStore (mysql_billing_store.h)
// implements it over either schema version.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "testbed/base/model.h"

namespace tandem::testbed {

struct LoginRecord {
  int64_t customer_id = 0;
  std::string password_hash;
  std::string status;  // customer status name
};

// A credential (session or API token) resolved to its customer.
struct Principal {
  int64_t customer_id = 0;
  std::string status;  // customer status name
};

struct Customer {
  int64_t id = 0;
  std::string login;
  std::string name;
  std::string email;
  std::string phone;
  std::string address;
  int64_t balance_micros = 0;
  int64_t credit_limit_micros = 0;
  std::string currency;
  std::string payment_system;
  std::string billing_cycle;
  std::string status;
  std::string created_at;  // "YYYY-MM-DD HH:MM:SS", UTC
};

// Service settings, sorted by name.
using Settings = std::vector<std::pair<std::string, std::string>>;

struct Account {
  int64_t id = 0;
  std::string phone_number;
  std::string product_code;
  std::string product_name;
  int64_t balance_micros = 0;
  std::string status;
  Settings settings;
  std::string created_at;
};

struct Xdr {
  int64_t id = 0;
  int64_t account_id = 0;
  std::string connect_time;
  int64_t duration_ms = 0;
  int64_t charged_micros = 0;
  std::string cli;
  std::string cld;
};

// Pagination key of xDRs, newest first.
struct XdrCursor {
  std::string connect_time;
  int64_t id = 0;
};

struct Invoice {
  int64_t id = 0;
  std::string period_from;  // "YYYY-MM-DD"
  std::string period_to;
  int64_t amount_due_micros = 0;
  std::string status;
  std::string issued_at;
};

struct PaymentMethod {
  int64_t id = 0;
  std::string method;
  std::string masked_number;
  std::string expires;  // "YYYY-MM-DD" or empty
  bool is_default = false;
};

struct TopUpResult {
  int64_t transaction_id = 0;
  int64_t customer_balance_micros = 0;
  std::optional<int64_t> account_balance_micros;
};

struct ResourceLimit {
  std::string type_code;
  int64_t limit = 0;
};

struct Product {
  int64_t id = 0;  // local to the system
  std::string code;
  std::string name;
  std::string category;
  std::string contract_pool;
  bool is_addon = false;
  int64_t monthly_fee_micros = 0;
  std::string currency;
  std::string activation_params;         // a JSON object
  std::vector<ResourceLimit> resources;  // sorted by type code
  std::vector<std::string> addon_codes;  // sorted
  std::string updated_at;
};

// A partial update of a product; unset fields stay.
struct ProductPatch {
  std::optional<std::string> name;
  std::optional<int64_t> monthly_fee_micros;
  std::optional<std::string> activation_params;
  std::optional<std::vector<ResourceLimit>> resources;
  std::optional<std::vector<std::string>> addon_codes;
};

// Settings changes: a value sets, nullopt removes.
using SettingsChanges =
    std::vector<std::pair<std::string, std::optional<std::string>>>;

// Errors: NOT_FOUND for a missing row (or one the customer does not own),
// INVALID_ARGUMENT for a value the schema cannot hold, ALREADY_EXISTS and
// FAILED_PRECONDITION for conflicts, and the database's own codes
// (UNAVAILABLE, ABORTED, ...) otherwise. Thread-safe.
//
// Every write of a customer's data (sessions, tokens, settings, top-ups)
// first locks the customer's row (SELECT ... FOR UPDATE) in its own
// transaction and refuses with CustomerExportedError() when the customer is
// marked exported (v1 'exported', v2 status 4). So a write authorised just
// before the mark cannot commit after it: the marking UPDATE waits for the
// write's commit, or the write sees the mark. (CustomerExportedError() is in
// testbed/base/model.h.)
class BillingStore {
 public:
  virtual ~BillingStore() = default;

  virtual SchemaVersion version() const = 0;

  // True when the database answers.
  virtual absl::Status Ping() = 0;

  virtual absl::StatusOr<LoginRecord> FindLogin(const std::string& login) = 0;

  // The exported check above applies.
  virtual absl::Status CreateSession(const std::string& session_hash,
                                     int64_t customer_id, absl::Time now,
                                     absl::Time expires) = 0;
  // NOT_FOUND when unknown or expired at `now`.
  virtual absl::StatusOr<Principal> ResolveSession(
      const std::string& session_hash, absl::Time now) = 0;
  // Deletes the customer's session (nothing if it has no such session). The
  // exported check above applies.
  virtual absl::Status DeleteSession(int64_t customer_id,
                                     const std::string& session_hash) = 0;

  // The exported check above applies.
  virtual absl::Status CreateApiToken(const std::string& token_hash,
                                      int64_t customer_id,
                                      const std::string& label,
                                      absl::Time now) = 0;
  // NOT_FOUND when unknown or expired at `now`.
  virtual absl::StatusOr<Principal> ResolveApiToken(
      const std::string& token_hash, absl::Time now) = 0;

  virtual absl::StatusOr<Customer> GetCustomer(int64_t customer_id) = 0;

  // Accounts with id > `after_id`, ascending, at most `limit`.
  virtual absl::StatusOr<std::vector<Account>> ListAccounts(int64_t customer_id,
                                                            int64_t after_id,
                                                            int limit) = 0;
  virtual absl::StatusOr<Account> GetAccount(int64_t customer_id,
                                             int64_t account_id) = 0;
  // Applies `changes` (after clearing every setting when `replace`) and
  // returns the account as it is afterwards. The exported check applies.
  virtual absl::StatusOr<Account> UpdateSettings(int64_t customer_id,
                                                 int64_t account_id,
                                                 const SettingsChanges& changes,
                                                 bool replace) = 0;

  // xDRs of one of the customer's accounts, newest first, strictly after
  // `cursor` in that order when given.
  virtual absl::StatusOr<std::vector<Xdr>> ListXdrs(
      int64_t customer_id, int64_t account_id,
      const std::optional<XdrCursor>& cursor, int limit) = 0;

  // Invoices with id < `before_id` (0 = from the newest), newest first.
  virtual absl::StatusOr<std::vector<Invoice>> ListInvoices(int64_t customer_id,
                                                            int64_t before_id,
                                                            int limit) = 0;

  virtual absl::StatusOr<std::vector<PaymentMethod>> ListPaymentMethods(
      int64_t customer_id) = 0;

  // Credits `amount_micros` to the account (when given) or else to the
  // customer balance, and records a 'topup' balance transaction. The
  // exported check applies.
  virtual absl::StatusOr<TopUpResult> TopUp(int64_t customer_id,
                                            std::optional<int64_t> account_id,
                                            int64_t amount_micros,
                                            absl::Time now) = 0;

  // The product catalog (admin API).
  virtual absl::StatusOr<std::vector<Product>> ListProducts() = 0;
  virtual absl::StatusOr<Product> GetProduct(int64_t product_id) = 0;
  // ALREADY_EXISTS for a taken code; INVALID_ARGUMENT for an unknown
  // resource type or add-on code.
  virtual absl::StatusOr<Product> CreateProduct(const Product& product) = 0;
  virtual absl::StatusOr<Product> UpdateProduct(int64_t product_id,
                                                const ProductPatch& patch) = 0;
  // FAILED_PRECONDITION while an account or subscription uses it.
  virtual absl::Status DeleteProduct(int64_t product_id) = 0;
};

}  // namespace tandem::testbed
