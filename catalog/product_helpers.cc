#include "catalog/product_helpers.h"

#include "absl/strings/str_cat.h"
#include "catalog/freeze_rules.h"
#include "catalog/product_spec.h"
#include "catalog/request_checks.h"
#include "common/status_macros.h"

namespace tandem::catalog {

namespace v1 = ::tandem::catalog::v1;
using ::tandem::common::v1::System;

void MarkFrozen(v1::FreezeState state, const ProductRow& row,
                v1::Product* product) {
  product->set_frozen(
      IsProductFrozen(state, row.product.system(), FactsOf(row)));
}

absl::StatusOr<ProductRow> LockExisting(CatalogTxn& txn, System system,
                                        int64_t product_id) {
  TANDEM_ASSIGN_OR_RETURN(std::optional<ProductRow> row,
                          txn.LockProduct(system, product_id));
  if (!row.has_value()) {
    return absl::NotFoundError(absl::StrCat(
        "no product ", product_id, " on the ", SystemName(system), " system"));
  }
  return *std::move(row);
}

absl::Status BillingError(const absl::Status& status, System system) {
  if (absl::IsUnavailable(status) || absl::IsResourceExhausted(status) ||
      absl::IsDeadlineExceeded(status)) {
    return absl::UnavailableError(
        absl::StrCat("cannot write the ", SystemName(system),
                     " billing database: ", status.message()));
  }
  return status;
}

absl::StatusOr<BillingProduct> ReadBack(BillingCatalog& billing,
                                        int64_t product_id,
                                        absl::string_view what) {
  TANDEM_ASSIGN_OR_RETURN(std::vector<BillingProduct> all,
                          billing.ReadProducts());
  for (BillingProduct& p : all) {
    if (p.product_id == product_id) return std::move(p);
  }
  return absl::UnavailableError(absl::StrCat(what, " vanished; retry"));
}

absl::StatusOr<int64_t> CreateOrAdopt(CatalogTxn& txn, BillingCatalog& billing,
                                      System system,
                                      const v1::ProductSpec& spec) {
  absl::StatusOr<int64_t> created = billing.CreateProduct(spec);
  if (!absl::IsAlreadyExists(created.status())) return created;
  TANDEM_ASSIGN_OR_RETURN(std::vector<BillingProduct> all,
                          billing.ReadProducts());
  for (const BillingProduct& p : all) {
    if (p.spec.code() != spec.code()) continue;
    TANDEM_ASSIGN_OR_RETURN(bool known, txn.ProductKnown(system, p.product_id));
    if (!known && !DiffSpecs(p.spec, spec).any()) return p.product_id;
  }
  return absl::AlreadyExistsError(
      absl::StrCat("the ", SystemName(system),
                   " system already has a product with code ", spec.code()));
}

v1::Product NewProduct(System system, const BillingProduct& read,
                       const std::string& actor, const std::string& reason) {
  const int64_t now = NowMs();
  v1::Product product;
  product.set_system(system);
  product.set_product_id(read.product_id);
  *product.mutable_spec() = CanonicalSpec(read.spec);
  product.set_version(1);
  product.mutable_stamp()->set_actor(actor);
  product.mutable_stamp()->set_reason(reason);
  product.mutable_stamp()->set_at_unix_ms(now);
  product.set_refreshed_at_unix_ms(now);
  return product;
}

}  // namespace tandem::catalog
