// ProductRefresh: RefreshProducts, the catalog's read of the billing
// systems' products (on demand, at start-up and periodically).
//
// It records what it finds (new, changed, gone) and, for products the
// freeze protects, reports each change made behind the catalog's back as
// drift: audited (AUDIT_KIND_DRIFT_DETECTED), counted
// (tandem_catalog_drift_detected_total) and logged. Each system is one
// transaction judged under the freeze row, like any product change.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "catalog/billing_catalog.h"
#include "catalog/catalog_metrics.h"
#include "catalog/catalog_state.h"
#include "catalog/catalog_store.h"
#include "common/auth.h"
#include "tandem/catalog/v1/catalog.pb.h"

namespace tandem::catalog {

class ProductRefresh {
 public:
  // Collaborators are not owned and must outlive this.
  ProductRefresh(CatalogStore* store, BillingCatalog* source,
                 BillingCatalog* target, CatalogState* state,
                 CatalogMetrics* metrics)
      : store_(store),
        source_(source),
        target_(target),
        state_(state),
        metrics_(metrics) {}

  // Refreshes one system, or both for SYSTEM_UNSPECIFIED. UNAVAILABLE when
  // a billing database cannot be read.
  absl::StatusOr<::tandem::catalog::v1::RefreshProductsResponse> Refresh(
      const Principal& who,
      const ::tandem::catalog::v1::RefreshProductsRequest& req);

 private:
  CatalogStore* const store_;
  BillingCatalog* const source_;
  BillingCatalog* const target_;
  CatalogState* const state_;
  CatalogMetrics* const metrics_;
};

}  // namespace tandem::catalog
