// How one customer's products, add-ons and resource usage convert from v1 to
// v2 (MAPPING.md, "product" and "resource_type"): the catalog's plan
// (PlanCustomer) as the data the reference conversion follows, or, without a
// catalog, the same rules applied to the two demo catalogs.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "tandem/catalog/v1/catalog.pb.h"

namespace tandem::testbed {

// One catalog's products and resource types, as the rules need them.
struct CatalogView {
  struct Type {
    std::string code, resource_class, unit;
  };
  struct Product {
    int64_t id = 0;
    std::string code, name;
    std::map<std::string, int64_t> limits;  // type code -> limit
    std::vector<int64_t> addon_ids;
  };
  std::map<int64_t, Product> products;  // by id
  std::map<std::string, Type> types;    // by code
};

struct ConversionPlan {
  // v1 product id -> v2 product id, for every v1 product of the customer
  // that has a counterpart (its accounts' and its subscriptions').
  std::map<int64_t, int64_t> products;
  // v1 main subscription id -> v2 product id (overrides `products`).
  std::map<int64_t, int64_t> subscription_product;
  // (account phone number, v1 add-on product id) -> v2 add-on product id;
  // an add-on subscription without an entry is not carried: not copied,
  // nor its usage.
  std::map<std::pair<std::string, int64_t>, int64_t> addon_product;
  // v1 main subscription id -> v1 resource type code -> v2 type code, or
  // "" when the usage is dropped (unprovisioned on the target product).
  std::map<int64_t, std::map<std::string, std::string>> resources;
};

// The v2 resource type a v1 type's usage goes to when no plan names one:
// the type of the same code, else the one of the same resource class and
// unit (sip_channels -> voice_channels: both voice, per channel), else none
// (""). The correspondence table in MAPPING.md is this rule applied to the
// demo catalogs.
std::string CorrespondingType(const CatalogView& v1, const CatalogView& v2,
                              const std::string& v1_type);

// The v2 product a v1 product maps onto when no plan names one: the same
// code, else the same name (case and spaces ignored: BB-250 -> FIBER-250,
// "Broadband 250"), else 0.
int64_t CorrespondingProduct(const CatalogView& v1, const CatalogView& v2,
                             int64_t v1_product_id);

// Where usage of `v1_type` (limit `v1_limit` on the v1 product) lands on
// `target` (a v2 product): CorrespondingType, or "" (dropped) when the
// target product lacks that type or sets it to 0 where v1 did not (the
// catalog's RESOURCE_UNPROVISIONED).
std::string LandingOn(const CatalogView& v1, const CatalogView& v2,
                      const std::string& v1_type, int64_t v1_limit,
                      const CatalogView::Product& target);

// A subscription of the customer, as the plan rules need it.
struct SubscriptionRef {
  int64_t id = 0;
  std::string account_phone;
  int64_t product_id = 0;
  bool addon = false;
};

// The plan by the rules above, for these subscriptions (and account
// products). A main product's resources go where LandingOn says; an add-on
// is carried when its counterpart is an add-on of the target main
// product.
ConversionPlan DefaultPlan(const CatalogView& v1, const CatalogView& v2,
                           const std::vector<SubscriptionRef>& subscriptions,
                           const std::vector<int64_t>& account_products);

// Replaces the parts of `plan` the catalog decided: each planned
// subscription's target product and resources, and its add-ons (carried or
// not). FAILED_PRECONDITION with the catalog's reasons when the plan does
// not let the customer move; INVALID_ARGUMENT when it is not a MOVE plan or
// names a product or type the catalogs do not have.
absl::Status ApplyCatalogPlan(const ::tandem::catalog::v1::CustomerPlan& from,
                              const CatalogView& v1, const CatalogView& v2,
                              ConversionPlan& plan);

}  // namespace tandem::testbed
