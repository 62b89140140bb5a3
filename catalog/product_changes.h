// ProductChanges: CreateProduct, UpdateProduct and DeleteProduct, checked
// and serialised against the freeze.
//
// Each change is one control-database transaction that reads the freeze row
// in share mode, decides, writes the billing database, then the catalog's
// row, its audit entry and its request id, and commits; so no change that
// checked an earlier state commits after a freeze transition. Billing first:
// a crash between the two leaves the billing system changed and the control
// transaction rolled back, and the retry (same request id) redoes the
// billing write (an update replaces again, a delete finds nothing, a create
// adopts its own product). A change the freeze refuses writes nothing and
// is audited after its transaction.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "catalog/audit_log.h"
#include "catalog/billing_catalog.h"
#include "catalog/catalog_metrics.h"
#include "catalog/catalog_state.h"
#include "catalog/catalog_store.h"
#include "common/auth.h"
#include "tandem/catalog/v1/catalog.pb.h"

namespace tandem::catalog {

class ProductChanges {
 public:
  // Collaborators are not owned and must outlive this.
  ProductChanges(CatalogStore* store, BillingCatalog* source,
                 BillingCatalog* target, CatalogState* state, AuditLog* audit,
                 CatalogMetrics* metrics)
      : store_(store),
        source_(source),
        target_(target),
        state_(state),
        audit_(audit),
        metrics_(metrics) {}

  absl::StatusOr<::tandem::catalog::v1::CreateProductResponse> Create(
      const Principal& who,
      const ::tandem::catalog::v1::CreateProductRequest& req);
  absl::StatusOr<::tandem::catalog::v1::UpdateProductResponse> Update(
      const Principal& who,
      const ::tandem::catalog::v1::UpdateProductRequest& req);
  absl::StatusOr<::tandem::catalog::v1::DeleteProductResponse> Delete(
      const Principal& who,
      const ::tandem::catalog::v1::DeleteProductRequest& req);

 private:
  using CreateOutcome =
      ChangeOutcome<::tandem::catalog::v1::CreateProductResponse>;
  using UpdateOutcome =
      ChangeOutcome<::tandem::catalog::v1::UpdateProductResponse>;
  using DeleteOutcome =
      ChangeOutcome<::tandem::catalog::v1::DeleteProductResponse>;

  BillingCatalog& Billing(::tandem::common::v1::System system) const;
  absl::StatusOr<CreateOutcome> CreateIn(
      CatalogTxn& txn, const Principal& who,
      const ::tandem::catalog::v1::CreateProductRequest& req,
      const ::tandem::catalog::v1::ProductSpec& spec);
  absl::StatusOr<UpdateOutcome> UpdateIn(
      CatalogTxn& txn, const Principal& who,
      const ::tandem::catalog::v1::UpdateProductRequest& req,
      const ::tandem::catalog::v1::ProductSpec& spec);
  absl::StatusOr<DeleteOutcome> DeleteIn(
      CatalogTxn& txn, const Principal& who,
      const ::tandem::catalog::v1::DeleteProductRequest& req);
  // Audits a refusal (FAILED_PRECONDITION), or counts an applied change and
  // refreshes the cache; returns the response.
  template <typename Response>
  absl::StatusOr<Response> Finish(const Principal& who,
                                  const std::string& request_id,
                                  ChangeOutcome<Response> outcome);

  CatalogStore* const store_;
  BillingCatalog* const source_;
  BillingCatalog* const target_;
  CatalogState* const state_;
  AuditLog* const audit_;
  CatalogMetrics* const metrics_;
};

}  // namespace tandem::catalog
