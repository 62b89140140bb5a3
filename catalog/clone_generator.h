// CloneGenerator: GenerateMissingProducts, "generate missing destination
// packages" of the seeds: a source product with no target counterpart is
// cloned onto the target (the safest copy the target can hold) and mapped
// onto its clone, add-ons before the main products that offer them.
//
// New target products are allowed only after the switchover
// (FROZEN_TARGET_OPEN, or before the freeze); each clone is one transaction
// under the freeze row like any product change, so a clone made during a
// transition either commits before it or is refused.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "catalog/audit_log.h"
#include "catalog/billing_catalog.h"
#include "catalog/catalog_state.h"
#include "catalog/catalog_store.h"
#include "common/auth.h"
#include "tandem/catalog/v1/catalog.pb.h"

namespace tandem::catalog {

class CloneGenerator {
 public:
  // Collaborators are not owned and must outlive this.
  CloneGenerator(CatalogStore* store, BillingCatalog* target,
                 CatalogState* state, AuditLog* audit)
      : store_(store), target_(target), state_(state), audit_(audit) {}

  // Clones the requested source products (every unmapped one when none is
  // named); `dry_run` shows the clones without making them. Idempotent by
  // request id. UNAVAILABLE when the target cannot be written, saying how
  // many clones were made (they stay, mapped).
  absl::StatusOr<::tandem::catalog::v1::GenerateMissingProductsResponse>
  Generate(const Principal& who,
           const ::tandem::catalog::v1::GenerateMissingProductsRequest& req);

 private:
  // One clone's transaction: the clone and its mapping, a refusal, or
  // nothing because the source product was mapped meanwhile.
  struct Cloned {
    ::tandem::catalog::v1::GeneratedProduct generated;
    std::optional<Refusal> refusal;
    bool mapped_meanwhile = false;
  };
  // What the call has done so far (defined in clone_generator.cc).
  struct Progress;
  // Clones one source product as `spec`: adds it to `progress`, or to its
  // skipped products; an error stops the call.
  absl::Status CloneOne(
      const Principal& who,
      const ::tandem::catalog::v1::GenerateMissingProductsRequest& req,
      int64_t source_id, const ::tandem::catalog::v1::ProductSpec& spec,
      Progress* progress);
  absl::StatusOr<Cloned> CloneIn(
      CatalogTxn& txn, const Principal& who,
      const ::tandem::catalog::v1::GenerateMissingProductsRequest& req,
      int64_t source_id, const ::tandem::catalog::v1::ProductSpec& spec);
  // Refuses (and audits) the whole call when the freeze forbids new target
  // products.
  absl::Status CheckAllowed(
      const Principal& who,
      const ::tandem::catalog::v1::GenerateMissingProductsRequest& req);
  // Fills each generated mapping's comparison against the products as now
  // stored, records the response under the request id and refreshes the
  // cache.
  absl::Status Complete(
      const ::tandem::catalog::v1::GenerateMissingProductsRequest& req,
      ::tandem::catalog::v1::GenerateMissingProductsResponse* response);

  CatalogStore* const store_;
  BillingCatalog* const target_;
  CatalogState* const state_;
  AuditLog* const audit_;
};

}  // namespace tandem::catalog
