// BillingStore over a MariaDB database holding schema v1 or v2
// (testbed/schema/). All SQL is parameterised; conversions follow
// testbed/MAPPING.md through testbed/base/model.h.
#pragma once

#include <memory>

#include "common/mysql_pool.h"
#include "testbed/sim/billing_store.h"

namespace tandem::testbed {

class MysqlBillingStore final : public BillingStore {
 public:
  // `pool` must outlive the store.
  MysqlBillingStore(MysqlPool* pool, SchemaVersion version)
      : pool_(pool), version_(version) {}

  SchemaVersion version() const override { return version_; }
  absl::Status Ping() override;
  absl::StatusOr<LoginRecord> FindLogin(const std::string& login) override;
  absl::Status CreateSession(const std::string& session_hash,
                             int64_t customer_id, absl::Time now,
                             absl::Time expires) override;
  absl::StatusOr<Principal> ResolveSession(const std::string& session_hash,
                                           absl::Time now) override;
  absl::Status DeleteSession(int64_t customer_id,
                             const std::string& session_hash) override;
  absl::Status CreateApiToken(const std::string& token_hash,
                              int64_t customer_id, const std::string& label,
                              absl::Time now) override;
  absl::StatusOr<Principal> ResolveApiToken(const std::string& token_hash,
                                            absl::Time now) override;
  absl::StatusOr<Customer> GetCustomer(int64_t customer_id) override;
  absl::StatusOr<std::vector<Account>> ListAccounts(int64_t customer_id,
                                                    int64_t after_id,
                                                    int limit) override;
  absl::StatusOr<Account> GetAccount(int64_t customer_id,
                                     int64_t account_id) override;
  absl::StatusOr<Account> UpdateSettings(int64_t customer_id,
                                         int64_t account_id,
                                         const SettingsChanges& changes,
                                         bool replace) override;
  absl::StatusOr<std::vector<Xdr>> ListXdrs(
      int64_t customer_id, int64_t account_id,
      const std::optional<XdrCursor>& cursor, int limit) override;
  absl::StatusOr<std::vector<Invoice>> ListInvoices(int64_t customer_id,
                                                    int64_t before_id,
                                                    int limit) override;
  absl::StatusOr<std::vector<PaymentMethod>> ListPaymentMethods(
      int64_t customer_id) override;
  absl::StatusOr<TopUpResult> TopUp(int64_t customer_id,
                                    std::optional<int64_t> account_id,
                                    int64_t amount_micros,
                                    absl::Time now) override;
  absl::StatusOr<std::vector<Product>> ListProducts() override;
  absl::StatusOr<Product> GetProduct(int64_t product_id) override;
  absl::StatusOr<Product> CreateProduct(const Product& product) override;
  absl::StatusOr<Product> UpdateProduct(int64_t product_id,
                                        const ProductPatch& patch) override;
  absl::Status DeleteProduct(int64_t product_id) override;

 private:
  bool v1() const { return version_ == SchemaVersion::kV1; }
  // Picks the statement of this store's version.
  const char* Q(const char* v1_sql, const char* v2_sql) const {
    return v1() ? v1_sql : v2_sql;
  }
  // Locks the customer's row for the rest of the transaction; NOT_FOUND
  // when there is none, CustomerExportedError() when it is exported.
  absl::Status LockCustomerForWrite(sql::Connection& conn,
                                    int64_t customer_id) const;

  MysqlPool* pool_;
  const SchemaVersion version_;
};

// "YYYY-MM-DD HH:MM:SS" in UTC, the form of DATETIME columns.
std::string SqlDatetime(absl::Time t);

}  // namespace tandem::testbed
