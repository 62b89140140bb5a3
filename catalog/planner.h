// Planner: PlanCustomer and PlanCustomers, what a customer's move (or
// rollback) does to each of its subscriptions under the current mappings,
// by the rules of move_rules.h, read from the billing system the direction
// starts at.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "catalog/billing_catalog.h"
#include "catalog/catalog_metrics.h"
#include "catalog/catalog_state.h"
#include "catalog/catalog_store.h"
#include "catalog/move_rules.h"
#include "tandem/catalog/v1/catalog.pb.h"

namespace tandem::catalog {

class Planner {
 public:
  // Collaborators are not owned and must outlive this.
  Planner(CatalogStore* store, BillingCatalog* source, BillingCatalog* target,
          const CatalogState* state, CatalogMetrics* metrics)
      : store_(store),
        source_(source),
        target_(target),
        state_(state),
        metrics_(metrics) {}

  // NOT_FOUND when the customer is not on the system the direction starts
  // at (or was exported from the source already).
  absl::StatusOr<::tandem::catalog::v1::PlanCustomerResponse> PlanCustomer(
      const ::tandem::catalog::v1::PlanCustomerRequest& req);
  // 1 to 1,000 customers; one failing customer is reported in its result,
  // not as the call's error.
  absl::StatusOr<::tandem::catalog::v1::PlanCustomersResponse> PlanCustomers(
      const ::tandem::catalog::v1::PlanCustomersRequest& req);

 private:
  absl::StatusOr<::tandem::catalog::v1::CustomerPlan> PlanOne(
      const CatalogSnapshot& snapshot, int64_t customer_id,
      ::tandem::common::v1::Direction direction,
      ::tandem::catalog::v1::FreezeState state);

  CatalogStore* const store_;
  BillingCatalog* const source_;
  BillingCatalog* const target_;
  const CatalogState* const state_;
  CatalogMetrics* const metrics_;
};

}  // namespace tandem::catalog
