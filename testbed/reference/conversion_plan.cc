#include "testbed/reference/conversion_plan.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tandem::testbed {
namespace {

std::string NormalName(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (!absl::ascii_isspace(c)) out.push_back(absl::ascii_tolower(c));
  }
  return out;
}

}  // namespace

std::string CorrespondingType(const CatalogView& v1, const CatalogView& v2,
                              const std::string& v1_type) {
  if (v2.types.count(v1_type)) return v1_type;
  auto from = v1.types.find(v1_type);
  if (from == v1.types.end()) return "";
  for (const auto& [code, t] : v2.types) {  // code order: deterministic
    if (t.resource_class == from->second.resource_class &&
        t.unit == from->second.unit) {
      return code;
    }
  }
  return "";
}

int64_t CorrespondingProduct(const CatalogView& v1, const CatalogView& v2,
                             int64_t v1_product_id) {
  auto from = v1.products.find(v1_product_id);
  if (from == v1.products.end()) return 0;
  for (const auto& [id, p] : v2.products) {
    if (p.code == from->second.code) return id;
  }
  for (const auto& [id, p] : v2.products) {
    if (NormalName(p.name) == NormalName(from->second.name)) return id;
  }
  return 0;
}

std::string LandingOn(const CatalogView& v1, const CatalogView& v2,
                      const std::string& v1_type, int64_t v1_limit,
                      const CatalogView::Product& target) {
  const std::string lands = CorrespondingType(v1, v2, v1_type);
  auto provided = target.limits.find(lands);
  if (provided == target.limits.end() ||
      (provided->second == 0 && v1_limit > 0)) {
    return "";  // unprovisioned: the usage is dropped
  }
  return lands;
}

ConversionPlan DefaultPlan(const CatalogView& v1, const CatalogView& v2,
                           const std::vector<SubscriptionRef>& subscriptions,
                           const std::vector<int64_t>& account_products) {
  ConversionPlan plan;
  auto map_product = [&](int64_t id) {
    if (int64_t to = CorrespondingProduct(v1, v2, id); to != 0) {
      plan.products[id] = to;
    }
  };
  for (int64_t id : account_products) map_product(id);
  // The main product of each account, for its add-ons.
  std::map<std::string, int64_t> main_target;
  for (const SubscriptionRef& s : subscriptions) {
    map_product(s.product_id);
    if (s.addon || !plan.products.count(s.product_id)) continue;
    const int64_t to = plan.products[s.product_id];
    plan.subscription_product[s.id] = to;
    main_target[s.account_phone] = to;
    auto& resources = plan.resources[s.id];
    const CatalogView::Product& target = v2.products.at(to);
    for (const auto& [type, limit] : v1.products.at(s.product_id).limits) {
      resources[type] = LandingOn(v1, v2, type, limit, target);
    }
  }
  for (const SubscriptionRef& s : subscriptions) {
    if (!s.addon || !plan.products.count(s.product_id)) continue;
    auto main = main_target.find(s.account_phone);
    if (main == main_target.end()) continue;
    const int64_t to = plan.products[s.product_id];
    const auto& offered = v2.products.at(main->second).addon_ids;
    if (std::find(offered.begin(), offered.end(), to) != offered.end()) {
      plan.addon_product[{s.account_phone, s.product_id}] = to;
    }
  }
  return plan;
}

absl::Status ApplyCatalogPlan(const ::tandem::catalog::v1::CustomerPlan& from,
                              const CatalogView& v1, const CatalogView& v2,
                              ConversionPlan& plan) {
  namespace cv1 = ::tandem::catalog::v1;
  if (from.direction() == ::tandem::common::v1::DIRECTION_ROLLBACK) {
    return absl::InvalidArgumentError(
        "the reference converts v1 -> v2: a MOVE plan is needed");
  }
  if (!from.can_move()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the catalog's plan refuses customer ", from.customer_id(),
                     ": ", absl::StrJoin(from.reasons(), "; ")));
  }
  for (const cv1::SubscriptionPlan& s : from.subscriptions()) {
    const int64_t source = s.source_product().product_id();
    const int64_t target = s.target_product().product_id();
    if (!v1.products.count(source) || !v2.products.count(target)) {
      return absl::InvalidArgumentError(
          absl::StrCat("subscription ", s.subscription_id(), ": product ",
                       source, " -> ", target, " is not in the catalogs"));
    }
    plan.products[source] = target;
    plan.subscription_product[s.subscription_id()] = target;
    auto& resources = plan.resources[s.subscription_id()];
    resources.clear();
    for (const cv1::ResourcePlan& r : s.resources()) {
      if (!r.target_resource_type().empty() &&
          !v2.types.count(r.target_resource_type())) {
        return absl::InvalidArgumentError(absl::StrCat(
            "subscription ", s.subscription_id(),
            ": unknown v2 resource type '", r.target_resource_type(), "'"));
      }
      resources[r.source_resource_type()] = r.target_resource_type();
    }
    for (const cv1::AddonPlan& a : s.addons()) {
      const std::pair<std::string, int64_t> key = {
          s.account_id(), a.source_addon().product_id()};
      if (a.carried()) {
        plan.addon_product[key] = a.target_addon().product_id();
      } else {
        plan.addon_product.erase(key);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace tandem::testbed
