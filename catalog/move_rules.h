// The rules that decide whether a customer's subscriptions can move (DESIGN.md,
// "Catalog rules"; seeds 001 and 002): resource types and limits against
// usage, resource classes taking over, activation parameters, contract pools
// and add-ons. Pure functions over a snapshot of the catalog and a customer's
// subscriptions as its billing system holds them; no I/O.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "catalog/billing_catalog.h"
#include "tandem/catalog/v1/catalog.pb.h"
#include "tandem/common/v1/types.pb.h"

namespace tandem::catalog {

// The products, mappings and settings a plan is made against.
class CatalogSnapshot {
 public:
  void AddProduct(::tandem::catalog::v1::Product product);
  void AddMapping(::tandem::catalog::v1::Mapping mapping);
  void set_allow_overuse_default(bool allow) { allow_overuse_default_ = allow; }
  bool allow_overuse_default() const { return allow_overuse_default_; }

  // The product, or nullptr when the catalog does not know it.
  const ::tandem::catalog::v1::Product* FindProduct(
      ::tandem::common::v1::System system, int64_t product_id) const;
  // The mapping of a source product, or nullptr.
  const ::tandem::catalog::v1::Mapping* FindMapping(
      int64_t source_product_id) const;
  // The ids of every product of `system`, ascending.
  std::vector<int64_t> ProductIds(::tandem::common::v1::System system) const;
  // The source products mapped onto a target product, ascending.
  std::vector<int64_t> SourcesMappedOnto(int64_t target_product_id) const;
  // Whether overuse is allowed under `policy` (INHERIT/UNSPECIFIED follow
  // the default).
  bool OveruseAllowed(::tandem::catalog::v1::OverusePolicy policy) const;

 private:
  absl::flat_hash_map<std::pair<int, int64_t>, ::tandem::catalog::v1::Product>
      products_;
  absl::flat_hash_map<int64_t, ::tandem::catalog::v1::Mapping> mappings_;
  absl::flat_hash_map<int64_t, std::vector<int64_t>> sources_onto_;
  bool allow_overuse_default_ = false;
};

// Compares a product with the product its customers would get, independent
// of any customer. For DIRECTION_ROLLBACK `from` is a target product and `to`
// a source product; add-ons are then matched through the reverse mappings.
::tandem::catalog::v1::ProductComparison CompareProducts(
    const ::tandem::catalog::v1::Product& from,
    const ::tandem::catalog::v1::Product& to, const CatalogSnapshot& catalog,
    ::tandem::common::v1::Direction direction);

// What one customer's move does to each of its subscriptions.
struct PlanInput {
  ::tandem::common::v1::Direction direction =
      ::tandem::common::v1::DIRECTION_MOVE;
  // The customer on the system the direction starts from.
  CustomerSubscriptions from;
  // For a rollback: the customer's rows kept on the source (which say what
  // each subscription had before the move); null when there are none.
  const CustomerSubscriptions* kept_on_source = nullptr;
  ::tandem::catalog::v1::FreezeState freeze_state =
      ::tandem::catalog::v1::FREEZE_STATE_UNSPECIFIED;
  int64_t now_unix_ms = 0;
};

// Plans one customer: one SubscriptionPlan per main subscription with its
// add-ons (the add-on subscriptions of the same account), the verdict, the
// reasons and the warnings (see CustomerPlan in catalog.proto).
::tandem::catalog::v1::CustomerPlan PlanCustomer(const CatalogSnapshot& catalog,
                                                 const PlanInput& input);

}  // namespace tandem::catalog
