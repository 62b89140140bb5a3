// Test doubles for the catalog's unit tests: the control database's rows
// (FakeCatalogStore) and a billing system's products and customers
// (FakeBillingCatalog), in memory.
//
// FakeCatalogStore runs one transaction at a time on a copy of its rows and
// installs the copy only when the transaction commits, retrying ABORTED like
// MysqlPool::Transaction; tests can make commits fail (AbortNextCommits) or
// the whole database unreachable (SetUnavailable). Product codes match
// regardless of case, as the tables' collation does.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "catalog/billing_catalog.h"
#include "catalog/catalog_store.h"

namespace tandem::catalog::testing {

class FakeCatalogStore final : public CatalogStore {
 public:
  // The rows a fresh control database holds: OPEN at version 1, overuse
  // denied by default, the automatic lift on, revision 1, no audit.
  FakeCatalogStore();

  // The next `n` transactions whose function succeeds fail at commit with
  // ABORTED (a deadlock), so they are rolled back and run again.
  void AbortNextCommits(int n);
  // Every call fails with UNAVAILABLE while set.
  void SetUnavailable(bool unavailable);
  // Transactions started, attempts included.
  int64_t transaction_attempts() const;
  // The audit log, oldest first.
  std::vector<::tandem::catalog::v1::AuditEntry> audit() const;
  int64_t revision() const;
  // How many times ProbeFreeze ran.
  int64_t probes() const;

  absl::Status RunTransaction(
      absl::string_view what,
      const std::function<absl::Status(CatalogTxn&)>& fn) override;
  absl::StatusOr<std::optional<CachedState>> ReadStateIfChanged(
      int64_t known_revision) override;
  absl::StatusOr<FreezeProbe> ProbeFreeze() override;
  absl::StatusOr<std::optional<ProductRow>> ReadProduct(
      ::tandem::common::v1::System system, int64_t product_id) override;
  absl::StatusOr<std::optional<ProductRow>> ReadProductByCode(
      ::tandem::common::v1::System system, const std::string& code) override;
  absl::StatusOr<std::vector<ProductRow>> ListProducts(
      const ProductQuery& query) override;
  absl::StatusOr<std::vector<::tandem::catalog::v1::AuditEntry>> ListAudit(
      const AuditQuery& query) override;
  absl::StatusOr<std::vector<::tandem::catalog::v1::Mapping>> ListMappings(
      const MappingQuery& query) override;
  absl::StatusOr<CatalogSnapshot> LoadSnapshot() override;

  // What the control database holds.
  struct StoredProduct {
    ::tandem::catalog::v1::Product product;
    bool after_switchover = false;
  };
  struct Rows {
    FreezeRow freeze;
    ::tandem::catalog::v1::CatalogSettings settings;
    int64_t revision = 1;
    std::map<std::pair<int, int64_t>, StoredProduct> products;
    std::map<int64_t, ::tandem::catalog::v1::Mapping> mappings;
    std::vector<::tandem::catalog::v1::AuditEntry> audit;
    // request id -> (method, serialized response)
    std::map<std::string, std::pair<std::string, std::string>> requests;
  };

 private:
  absl::Status Reachable() const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  Rows rows_ ABSL_GUARDED_BY(mu_);
  int aborts_pending_ ABSL_GUARDED_BY(mu_) = 0;
  bool unavailable_ ABSL_GUARDED_BY(mu_) = false;
  int64_t attempts_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t probes_ ABSL_GUARDED_BY(mu_) = 0;
};

// A product row as the store returns it, from the rows it keeps.
ProductRow RowOf(const FakeCatalogStore::Rows& rows,
                 const FakeCatalogStore::StoredProduct& stored);

class FakeBillingCatalog final : public BillingCatalog {
 public:
  explicit FakeBillingCatalog(::tandem::common::v1::System system)
      : system_(system) {}

  // A resource type the system knows (limit ignored).
  void AddResourceType(::tandem::catalog::v1::ResourceType type);
  // A customer and its subscriptions.
  void AddCustomer(CustomerSubscriptions customer);
  // Writes a product straight into the billing database, as a write behind
  // the catalog's back (or a crash after the catalog's billing write) would;
  // returns its id. Does not check the code.
  int64_t Put(::tandem::catalog::v1::ProductSpec spec);
  // The product's spec, or nullopt.
  std::optional<::tandem::catalog::v1::ProductSpec> Find(int64_t id) const;
  // How many products have `code`, compared regardless of case.
  int CountCode(const std::string& code) const;

  ::tandem::common::v1::System system() const override { return system_; }
  absl::StatusOr<std::vector<BillingProduct>> ReadProducts() override;
  absl::StatusOr<std::vector<::tandem::catalog::v1::ResourceType>>
  ReadResourceTypes() override;
  absl::StatusOr<int64_t> CreateProduct(
      const ::tandem::catalog::v1::ProductSpec& spec) override;
  absl::Status UpdateProduct(
      int64_t product_id,
      const ::tandem::catalog::v1::ProductSpec& spec) override;
  absl::Status DeleteProduct(int64_t product_id) override;
  absl::StatusOr<CustomerSubscriptions> ReadCustomer(
      int64_t customer_id) override;

 private:
  // The spec as the system stores it: known resource types filled in.
  absl::StatusOr<::tandem::catalog::v1::ProductSpec> Stored(
      const ::tandem::catalog::v1::ProductSpec& spec) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  bool CodeTaken(const std::string& code, int64_t except_id) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const ::tandem::common::v1::System system_;
  mutable absl::Mutex mu_;
  std::map<std::string, ::tandem::catalog::v1::ResourceType> types_
      ABSL_GUARDED_BY(mu_);
  std::map<int64_t, ::tandem::catalog::v1::ProductSpec> products_
      ABSL_GUARDED_BY(mu_);
  std::map<int64_t, CustomerSubscriptions> customers_ ABSL_GUARDED_BY(mu_);
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace tandem::catalog::testing
