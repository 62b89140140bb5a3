// Small pieces the product rooms share (product_reads.h,
// product_changes.h, product_refresh.h, clone_generator.h): billing writes
// and read-backs, error mapping, and the `frozen` flag of a product.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "catalog/billing_catalog.h"
#include "catalog/catalog_store.h"
#include "tandem/catalog/v1/catalog.pb.h"

namespace tandem::catalog {

// Sets `frozen` on a product read from `row`, for the freeze state `state`.
void MarkFrozen(::tandem::catalog::v1::FreezeState state, const ProductRow& row,
                ::tandem::catalog::v1::Product* product);

// Locks the catalog's row of a product; NOT_FOUND naming it when the
// catalog does not know it.
absl::StatusOr<ProductRow> LockExisting(CatalogTxn& txn,
                                        ::tandem::common::v1::System system,
                                        int64_t product_id);

// A billing database that cannot be reached (or is overloaded) is
// UNAVAILABLE, naming the system; other errors pass unchanged.
absl::Status BillingError(const absl::Status& status,
                          ::tandem::common::v1::System system);

// The product a billing system holds with `product_id`, read back after a
// write; UNAVAILABLE "<what> vanished; retry" when it is gone.
absl::StatusOr<BillingProduct> ReadBack(BillingCatalog& billing,
                                        int64_t product_id,
                                        absl::string_view what);

// Creates `spec` on a billing system. A retry after a crash between a
// billing write and the control commit finds its own product there: same
// code, same spec, unknown to the catalog; that product is adopted. Any
// other product with the code is ALREADY_EXISTS.
absl::StatusOr<int64_t> CreateOrAdopt(
    CatalogTxn& txn, BillingCatalog& billing,
    ::tandem::common::v1::System system,
    const ::tandem::catalog::v1::ProductSpec& spec);

// A product row for a product just written to its billing system, as read
// back, stamped by `actor` now.
::tandem::catalog::v1::Product NewProduct(::tandem::common::v1::System system,
                                          const BillingProduct& read,
                                          const std::string& actor,
                                          const std::string& reason);

}  // namespace tandem::catalog
