// Catalog: the catalog's logic behind its gRPC methods, assembled from one
// room per concern (CatalogServiceImpl, catalog_service.h, is its thin gRPC
// edge):
//   catalog_state.h    the replica's cached freeze, settings and product
//                      facts, their poller, and WatchFreeze listeners;
//   freeze_control.h   SetFreeze, the automatic lift and CheckChange;
//   product_reads.h    ListProducts, GetProduct;
//   product_changes.h  CreateProduct, UpdateProduct, DeleteProduct;
//   product_refresh.h  RefreshProducts (drift detection);
//   mappings.h         SetMapping, ListMappings, DeleteMapping,
//                      ProposeMappings;
//   clone_generator.h  GenerateMissingProducts;
//   settings_control.h GetSettings, UpdateSettings;
//   planner.h          PlanCustomer(s);
//   audit_log.h        refusals and ListFreezeAudit;
// over a CatalogStore (catalog_store.h; MysqlCatalogStore in production).
//
// Serialisation with the freeze: every product change holds a shared lock on
// the freeze row of the control database from its freeze check until its
// commit, billing write included; a freeze transition takes that row
// exclusively. So no product change that checked an earlier state can commit
// after a transition, on any replica.
//
// Idempotency: each mutation records its request id with its response in the
// same transaction as its change; a retry returns the recorded response.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "catalog/audit_log.h"
#include "catalog/billing_catalog.h"
#include "catalog/catalog_metrics.h"
#include "catalog/catalog_state.h"
#include "catalog/catalog_store.h"
#include "catalog/clone_generator.h"
#include "catalog/freeze_control.h"
#include "catalog/mappings.h"
#include "catalog/planner.h"
#include "catalog/product_changes.h"
#include "catalog/product_reads.h"
#include "catalog/product_refresh.h"
#include "catalog/route_counts.h"
#include "catalog/settings_control.h"
#include "common/auth.h"
#include "common/mysql_pool.h"
#include "prometheus/registry.h"
#include "tandem/catalog/v1/catalog.pb.h"

namespace tandem::catalog {

struct CatalogOptions {
  // How often the cached freeze, settings and product facts are compared
  // with the control database (changes made by other replicas).
  absl::Duration poll_interval = absl::Milliseconds(100);
  // Measures the poll interval (and, in CatalogServer, the router watcher's
  // poll and backoff and the product refresh); null: Clock::Real().
  Clock* clock = nullptr;
};

class Catalog {
 public:
  // Applies the catalog's schema to the control database and builds the
  // catalog over it. Collaborators are not owned and must outlive the
  // catalog. `registry` may be null. Reads the cached state once; fails when
  // the control database cannot be read.
  static absl::StatusOr<std::unique_ptr<Catalog>> Create(
      MysqlPool* control, BillingCatalog* source, BillingCatalog* target,
      RouteCountsFn route_counts, prometheus::Registry* registry,
      CatalogOptions options = {});
  // The same over any store (unit tests use a fake), not owned.
  static absl::StatusOr<std::unique_ptr<Catalog>> Create(
      CatalogStore* store, BillingCatalog* source, BillingCatalog* target,
      RouteCountsFn route_counts, prometheus::Registry* registry,
      CatalogOptions options = {});
  ~Catalog();

  // The freeze.
  ::tandem::catalog::v1::GetFreezeResponse GetFreeze() const;
  absl::StatusOr<::tandem::catalog::v1::SetFreezeResponse> SetFreeze(
      const Principal& who, const ::tandem::catalog::v1::SetFreezeRequest& req);
  absl::StatusOr<::tandem::catalog::v1::CheckChangeResponse> CheckChange(
      const Principal& who,
      const ::tandem::catalog::v1::CheckChangeRequest& req);
  absl::StatusOr<::tandem::catalog::v1::ListFreezeAuditResponse>
  ListFreezeAudit(const ::tandem::catalog::v1::ListFreezeAuditRequest& req);

  // Registers `listener`, called (on the catalog's poller thread or the
  // caller of SetFreeze) with every freeze event after the current one,
  // which it gets at once. Returns a handle for RemoveFreezeListener.
  using FreezeListener = CatalogState::FreezeListener;
  int64_t AddFreezeListener(FreezeListener listener);
  void RemoveFreezeListener(int64_t handle);

  // Called with the router's counts (from RouterWatcher); lifts the freeze
  // by itself when the rules say so. `known` false means the router cannot
  // be heard.
  void OnRouteCounts(const RouteCounts& counts, bool known);

  // Products.
  absl::StatusOr<::tandem::catalog::v1::ListProductsResponse> ListProducts(
      const ::tandem::catalog::v1::ListProductsRequest& req);
  absl::StatusOr<::tandem::catalog::v1::GetProductResponse> GetProduct(
      const ::tandem::catalog::v1::GetProductRequest& req);
  absl::StatusOr<::tandem::catalog::v1::RefreshProductsResponse>
  RefreshProducts(const Principal& who,
                  const ::tandem::catalog::v1::RefreshProductsRequest& req);
  absl::StatusOr<::tandem::catalog::v1::CreateProductResponse> CreateProduct(
      const Principal& who,
      const ::tandem::catalog::v1::CreateProductRequest& req);
  absl::StatusOr<::tandem::catalog::v1::UpdateProductResponse> UpdateProduct(
      const Principal& who,
      const ::tandem::catalog::v1::UpdateProductRequest& req);
  absl::StatusOr<::tandem::catalog::v1::DeleteProductResponse> DeleteProduct(
      const Principal& who,
      const ::tandem::catalog::v1::DeleteProductRequest& req);

  // Mappings and settings.
  absl::StatusOr<::tandem::catalog::v1::SetMappingResponse> SetMapping(
      const Principal& who,
      const ::tandem::catalog::v1::SetMappingRequest& req);
  absl::StatusOr<::tandem::catalog::v1::ListMappingsResponse> ListMappings(
      const ::tandem::catalog::v1::ListMappingsRequest& req);
  absl::StatusOr<::tandem::catalog::v1::DeleteMappingResponse> DeleteMapping(
      const Principal& who,
      const ::tandem::catalog::v1::DeleteMappingRequest& req);
  absl::StatusOr<::tandem::catalog::v1::ProposeMappingsResponse>
  ProposeMappings(const ::tandem::catalog::v1::ProposeMappingsRequest& req);
  absl::StatusOr<::tandem::catalog::v1::GenerateMissingProductsResponse>
  GenerateMissingProducts(
      const Principal& who,
      const ::tandem::catalog::v1::GenerateMissingProductsRequest& req);
  absl::StatusOr<::tandem::catalog::v1::GetSettingsResponse> GetSettings();
  absl::StatusOr<::tandem::catalog::v1::UpdateSettingsResponse> UpdateSettings(
      const Principal& who,
      const ::tandem::catalog::v1::UpdateSettingsRequest& req);

  // Planning.
  absl::StatusOr<::tandem::catalog::v1::PlanCustomerResponse> PlanCustomer(
      const ::tandem::catalog::v1::PlanCustomerRequest& req);
  absl::StatusOr<::tandem::catalog::v1::PlanCustomersResponse> PlanCustomers(
      const ::tandem::catalog::v1::PlanCustomersRequest& req);

  // Re-reads the cached state now (tests; the poller does it on its own).
  absl::Status ReloadNow();

 private:
  Catalog(CatalogStore* store, BillingCatalog* source, BillingCatalog* target,
          RouteCountsFn route_counts, prometheus::Registry* registry);

  // Set when the catalog made its own store (the MySQL one).
  std::unique_ptr<CatalogStore> owned_store_;
  CatalogMetrics metrics_;
  CatalogState state_;
  AuditLog audit_;
  FreezeControl freeze_;
  ProductReads reads_;
  ProductChanges changes_;
  ProductRefresh refresh_;
  Mappings mappings_;
  CloneGenerator clones_;
  SettingsControl settings_;
  Planner planner_;
};

}  // namespace tandem::catalog
