#include "catalog/move_rules.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"

namespace tandem::catalog {
namespace {

namespace v1 = ::tandem::catalog::v1;
using ::tandem::common::v1::Direction;
using ::tandem::common::v1::System;

constexpr System kSource = ::tandem::common::v1::SYSTEM_SOURCE;
constexpr System kTarget = ::tandem::common::v1::SYSTEM_TARGET;

bool IsRefusal(v1::PlanOutcome outcome) {
  return outcome == v1::PLAN_OUTCOME_REFUSED_OVERUSE ||
         outcome == v1::PLAN_OUTCOME_REFUSED_CONTRACT_POOL ||
         outcome == v1::PLAN_OUTCOME_REFUSED_NO_MAPPING ||
         outcome == v1::PLAN_OUTCOME_REFUSED_UNKNOWN_PRODUCT;
}

std::string PoolName(const std::string& pool) {
  return pool.empty() ? "none" : pool;
}

v1::ProductRef RefOf(const v1::Product& product) {
  v1::ProductRef ref;
  ref.set_system(product.system());
  ref.set_product_id(product.product_id());
  ref.set_code(product.spec().code());
  ref.set_name(product.spec().name());
  return ref;
}

const v1::ResourceType* FindType(const v1::ProductSpec& spec,
                                 const std::string& code) {
  for (const v1::ResourceType& type : spec.resource_types()) {
    if (type.code() == code) return &type;
  }
  return nullptr;
}

// Where a resource type of `from` lands on `to`.
struct Landing {
  const v1::ResourceType* target = nullptr;  // null when missing
  v1::ResourceComparison comparison = v1::RESOURCE_COMPARISON_UNSPECIFIED;
};

Landing Land(const v1::ResourceType& type, const v1::ProductSpec& to) {
  Landing landing;
  if (const v1::ResourceType* same = FindType(to, type.code())) {
    landing.target = same;
    if (same->limit() == 0 && type.limit() > 0) {
      landing.comparison = v1::RESOURCE_COMPARISON_LIMIT_ZERO;
    } else if (same->limit() < type.limit()) {
      landing.comparison = v1::RESOURCE_COMPARISON_LIMIT_LOWERED;
    } else {
      landing.comparison = v1::RESOURCE_COMPARISON_SAME_OR_GREATER;
    }
    return landing;
  }
  // The first type of the same class (in code order) takes the resource
  // over, as the migrator does (testbed/MAPPING.md, resource_type); usage
  // of several source types landing on one type then adds up.
  std::vector<const v1::ResourceType*> candidates;
  for (const v1::ResourceType& other : to.resource_types()) {
    if (other.resource_class() == type.resource_class() &&
        !type.resource_class().empty()) {
      candidates.push_back(&other);
    }
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const v1::ResourceType* a, const v1::ResourceType* b) {
              return a->code() < b->code();
            });
  if (candidates.empty()) {
    landing.comparison = v1::RESOURCE_COMPARISON_MISSING;
  } else {
    landing.target = candidates.front();
    landing.comparison = v1::RESOURCE_COMPARISON_TAKEN_OVER;
  }
  return landing;
}

std::vector<const v1::ResourceType*> TypesByCode(const v1::ProductSpec& spec) {
  std::vector<const v1::ResourceType*> types;
  for (const v1::ResourceType& type : spec.resource_types()) {
    types.push_back(&type);
  }
  std::sort(types.begin(), types.end(),
            [](const v1::ResourceType* a, const v1::ResourceType* b) {
              return a->code() < b->code();
            });
  return types;
}

std::vector<v1::ParameterChange> ParameterChanges(const v1::ProductSpec& from,
                                                  const v1::ProductSpec& to) {
  std::map<std::string, std::string> before, after;
  for (const auto& p : from.activation_parameters())
    before[p.name()] = p.value();
  for (const auto& p : to.activation_parameters()) after[p.name()] = p.value();
  std::set<std::string> names;
  for (const auto& [name, value] : before) names.insert(name);
  for (const auto& [name, value] : after) names.insert(name);
  std::vector<v1::ParameterChange> changes;
  for (const std::string& name : names) {
    auto b = before.find(name);
    auto a = after.find(name);
    if (b != before.end() && a != after.end() && b->second == a->second) {
      continue;
    }
    v1::ParameterChange change;
    change.set_name(name);
    if (b != before.end()) change.set_old_value(b->second);
    if (a != after.end()) change.set_new_value(a->second);
    change.set_added(b == before.end());
    change.set_removed(a == after.end());
    changes.push_back(std::move(change));
  }
  return changes;
}

// The product an add-on (or any product) of the starting system goes to,
// or 0: through its mapping for a move, through the only source product
// mapped onto it for a rollback.
int64_t Counterpart(const CatalogSnapshot& catalog, Direction direction,
                    int64_t product_id) {
  if (direction == ::tandem::common::v1::DIRECTION_ROLLBACK) {
    std::vector<int64_t> sources = catalog.SourcesMappedOnto(product_id);
    return sources.size() == 1 ? sources.front() : 0;
  }
  const v1::Mapping* mapping = catalog.FindMapping(product_id);
  return mapping == nullptr ? 0 : mapping->target_product_id();
}

bool Offers(const v1::ProductSpec& spec, int64_t addon_id) {
  return std::find(spec.addon_product_ids().begin(),
                   spec.addon_product_ids().end(),
                   addon_id) != spec.addon_product_ids().end();
}

// What an unprovisioned resource costs the customer.
std::string Lost(int64_t usage, const v1::ResourceType& type) {
  if (usage == 0) return "not in use, nothing is lost";
  return absl::StrCat("the objects in use (", usage, " ", type.unit(),
                      ") will be lost");
}

struct Message {
  v1::PlanOutcome outcome;
  std::string text;
};

// Plans one main subscription with its add-on subscriptions.
v1::SubscriptionPlan PlanSubscription(
    const CatalogSnapshot& catalog, const PlanInput& input,
    const BillingSubscription& sub,
    const std::vector<const BillingSubscription*>& addons,
    std::vector<Message>* messages) {
  const bool rollback =
      input.direction == ::tandem::common::v1::DIRECTION_ROLLBACK;
  const System from_system = rollback ? kTarget : kSource;
  const System to_system = rollback ? kSource : kTarget;
  v1::SubscriptionPlan plan;
  plan.set_subscription_id(sub.subscription_id);
  plan.set_account_id(sub.account_id);
  std::set<v1::PlanOutcome> outcomes;
  auto note = [&](v1::PlanOutcome outcome, std::string text) {
    outcomes.insert(outcome);
    messages->push_back({outcome, text});
    plan.add_messages(std::move(text));
  };
  auto finish = [&]() {
    if (outcomes.empty()) outcomes.insert(v1::PLAN_OUTCOME_MOVES_CLEANLY);
    bool can_move = true;
    for (v1::PlanOutcome outcome : outcomes) {
      plan.add_outcomes(outcome);
      if (IsRefusal(outcome)) can_move = false;
    }
    plan.set_can_move(can_move);
    return plan;
  };

  const v1::Product* from = catalog.FindProduct(from_system, sub.product_id);
  if (from == nullptr) {
    plan.mutable_source_product()->set_system(from_system);
    plan.mutable_source_product()->set_product_id(sub.product_id);
    note(v1::PLAN_OUTCOME_REFUSED_UNKNOWN_PRODUCT,
         absl::StrCat("product ", sub.product_id,
                      " is not in the catalog (refresh the catalog)"));
    return finish();
  }
  *plan.mutable_source_product() = RefOf(*from);

  // The product the subscription goes to, and the mapping that says so.
  int64_t to_id = 0;
  const v1::Mapping* mapping = nullptr;
  if (!rollback) {
    mapping = catalog.FindMapping(from->product_id());
    if (mapping == nullptr) {
      note(v1::PLAN_OUTCOME_REFUSED_NO_MAPPING,
           absl::StrCat("product ", from->spec().code(), " has no mapping"));
      return finish();
    }
    to_id = mapping->target_product_id();
  } else {
    if (input.kept_on_source != nullptr) {
      for (const BillingSubscription& kept :
           input.kept_on_source->subscriptions) {
        if (kept.subscription_id == sub.subscription_id) {
          to_id = kept.product_id;
        }
      }
    }
    if (to_id == 0) {
      std::vector<int64_t> sources =
          catalog.SourcesMappedOnto(from->product_id());
      if (sources.size() != 1) {
        note(v1::PLAN_OUTCOME_REFUSED_NO_MAPPING,
             absl::StrCat("no single source product to go back to (",
                          sources.size(), " mapped onto ", from->spec().code(),
                          ")"));
        return finish();
      }
      to_id = sources.front();
    }
    mapping = catalog.FindMapping(to_id);
  }
  const v1::Product* to = catalog.FindProduct(to_system, to_id);
  if (to == nullptr) {
    note(v1::PLAN_OUTCOME_REFUSED_NO_MAPPING,
         absl::StrCat("product ", from->spec().code(), " goes to product ",
                      to_id, ", which the ", rollback ? "source" : "target",
                      " no longer has"));
    return finish();
  }
  *plan.mutable_target_product() = RefOf(*to);
  if (mapping != nullptr) plan.set_mapping_version(mapping->version());
  const bool overuse =
      catalog.OveruseAllowed(mapping == nullptr ? v1::OVERUSE_POLICY_INHERIT
                                                : mapping->overuse_policy());
  plan.set_overuse_policy(overuse ? v1::OVERUSE_POLICY_ALLOW
                                  : v1::OVERUSE_POLICY_DENY);

  // Resources: usage of every source type landing on one target type adds
  // up before it is held against that type's limit.
  const std::vector<const v1::ResourceType*> types = TypesByCode(from->spec());
  std::vector<Landing> landings;
  std::map<std::string, int64_t> landed_usage;
  auto usage_of = [&](const std::string& code) -> int64_t {
    auto it = sub.usage.find(code);
    return it == sub.usage.end() ? 0 : it->second;
  };
  for (const v1::ResourceType* type : types) {
    landings.push_back(Land(*type, to->spec()));
    if (landings.back().target != nullptr) {
      landed_usage[landings.back().target->code()] += usage_of(type->code());
    }
  }
  std::set<std::string> overuse_reported;
  for (size_t i = 0; i < types.size(); ++i) {
    const v1::ResourceType& type = *types[i];
    const Landing& landing = landings[i];
    v1::ResourcePlan* resource = plan.add_resources();
    resource->set_source_resource_type(type.code());
    resource->set_resource_class(type.resource_class());
    resource->set_unit(type.unit());
    const int64_t usage = usage_of(type.code());
    resource->set_usage(usage);
    resource->set_source_limit(type.limit());
    std::set<v1::PlanOutcome> resource_outcomes;
    auto resource_note = [&](v1::PlanOutcome outcome, std::string text) {
      resource_outcomes.insert(outcome);
      note(outcome, std::move(text));
    };
    if (landing.comparison == v1::RESOURCE_COMPARISON_MISSING) {
      resource_note(v1::PLAN_OUTCOME_RESOURCE_UNPROVISIONED,
                    absl::StrCat("resource type ", type.code(),
                                 " missing on target product ",
                                 to->spec().code(), ": ", Lost(usage, type)));
    } else if (landing.comparison == v1::RESOURCE_COMPARISON_LIMIT_ZERO) {
      resource_note(v1::PLAN_OUTCOME_RESOURCE_UNPROVISIONED,
                    absl::StrCat("resource ", type.code(),
                                 " unprovisioned (limit 0 on target product ",
                                 to->spec().code(), "): ", Lost(usage, type)));
    } else {
      const v1::ResourceType& target = *landing.target;
      resource->set_target_resource_type(target.code());
      resource->set_target_limit(target.limit());
      if (landing.comparison == v1::RESOURCE_COMPARISON_TAKEN_OVER) {
        resource_note(v1::PLAN_OUTCOME_RESOURCE_TAKEN_OVER,
                      absl::StrCat("resource ", type.code(), " taken over by ",
                                   target.code(), " (class ",
                                   type.resource_class(), ")"));
      }
      const int64_t total = landed_usage[target.code()];
      if (target.limit() == 0 && total > 0) {
        resource->clear_target_resource_type();
        resource_note(
            v1::PLAN_OUTCOME_RESOURCE_UNPROVISIONED,
            absl::StrCat("resource ", target.code(),
                         " unprovisioned (limit 0 on target product ",
                         to->spec().code(), "): ", Lost(usage, type)));
      } else if (total > target.limit() &&
                 overuse_reported.insert(target.code()).second) {
        if (overuse) {
          resource_note(
              v1::PLAN_OUTCOME_MOVES_WITH_OVERUSE,
              absl::StrCat("resource overuse allowed: ", target.code(),
                           " (usage ", total, ", limit ", target.limit(), ")"));
        } else {
          resource_note(
              v1::PLAN_OUTCOME_REFUSED_OVERUSE,
              absl::StrCat("resource overusage: ", target.code(), " (usage ",
                           total, ", limit ", target.limit(), ")"));
        }
      }
    }
    if (resource_outcomes.empty()) {
      resource_outcomes.insert(v1::PLAN_OUTCOME_MOVES_CLEANLY);
    }
    for (v1::PlanOutcome outcome : resource_outcomes) {
      resource->add_outcomes(outcome);
    }
  }

  std::vector<v1::ParameterChange> changes =
      ParameterChanges(from->spec(), to->spec());
  if (!changes.empty()) {
    std::string text = "activation parameters rewritten:";
    for (size_t i = 0; i < changes.size(); ++i) {
      const v1::ParameterChange& c = changes[i];
      absl::StrAppend(&text, i == 0 ? " " : ", ", c.name(), " ",
                      c.added() ? "(none)" : c.old_value(), " -> ",
                      c.removed() ? "(none)" : c.new_value());
      *plan.add_parameter_changes() = c;
    }
    note(v1::PLAN_OUTCOME_ACTIVATION_PARAMETERS_REWRITTEN, text);
  }

  if (from->spec().contract_pool() != to->spec().contract_pool()) {
    note(v1::PLAN_OUTCOME_REFUSED_CONTRACT_POOL,
         absl::StrCat("contract pool differs (",
                      PoolName(from->spec().contract_pool()), " vs ",
                      PoolName(to->spec().contract_pool()), ")"));
  }

  for (const BillingSubscription* addon : addons) {
    v1::AddonPlan* addon_plan = plan.add_addons();
    const v1::Product* addon_from =
        catalog.FindProduct(from_system, addon->product_id);
    if (addon_from == nullptr) {
      addon_plan->mutable_source_addon()->set_system(from_system);
      addon_plan->mutable_source_addon()->set_product_id(addon->product_id);
      addon_plan->set_reason("not in the catalog");
    } else {
      *addon_plan->mutable_source_addon() = RefOf(*addon_from);
      int64_t addon_to_id = 0;
      if (rollback && input.kept_on_source != nullptr) {
        for (const BillingSubscription& kept :
             input.kept_on_source->subscriptions) {
          if (kept.subscription_id == addon->subscription_id) {
            addon_to_id = kept.product_id;
          }
        }
      }
      if (addon_to_id == 0) {
        addon_to_id =
            Counterpart(catalog, input.direction, addon_from->product_id());
      }
      const v1::Product* addon_to =
          addon_to_id == 0 ? nullptr
                           : catalog.FindProduct(to_system, addon_to_id);
      if (addon_to == nullptr) {
        addon_plan->set_reason("no mapping");
      } else if (!Offers(to->spec(), addon_to->product_id())) {
        *addon_plan->mutable_target_addon() = RefOf(*addon_to);
        addon_plan->set_reason(absl::StrCat("not an add-on of target product ",
                                            to->spec().code()));
        addon_plan->clear_target_addon();
      } else {
        *addon_plan->mutable_target_addon() = RefOf(*addon_to);
        addon_plan->set_carried(true);
      }
    }
    if (!addon_plan->carried()) {
      note(v1::PLAN_OUTCOME_ADDONS_NOT_CARRIED,
           absl::StrCat("add-on ",
                        addon_plan->source_addon().code().empty()
                            ? absl::StrCat(addon->product_id)
                            : addon_plan->source_addon().code(),
                        " will not be carried: ", addon_plan->reason()));
    }
  }
  return finish();
}

}  // namespace

void CatalogSnapshot::AddProduct(v1::Product product) {
  std::pair<int, int64_t> key(product.system(), product.product_id());
  products_[key] = std::move(product);
}

void CatalogSnapshot::AddMapping(v1::Mapping mapping) {
  std::vector<int64_t>& sources = sources_onto_[mapping.target_product_id()];
  sources.insert(std::upper_bound(sources.begin(), sources.end(),
                                  mapping.source_product_id()),
                 mapping.source_product_id());
  int64_t id = mapping.source_product_id();
  mappings_[id] = std::move(mapping);
}

const v1::Product* CatalogSnapshot::FindProduct(System system,
                                                int64_t product_id) const {
  auto it = products_.find(std::pair<int, int64_t>(system, product_id));
  return it == products_.end() ? nullptr : &it->second;
}

const v1::Mapping* CatalogSnapshot::FindMapping(
    int64_t source_product_id) const {
  auto it = mappings_.find(source_product_id);
  return it == mappings_.end() ? nullptr : &it->second;
}

std::vector<int64_t> CatalogSnapshot::ProductIds(System system) const {
  std::vector<int64_t> ids;
  for (const auto& [key, product] : products_) {
    if (key.first == system) ids.push_back(key.second);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<int64_t> CatalogSnapshot::SourcesMappedOnto(
    int64_t target_product_id) const {
  auto it = sources_onto_.find(target_product_id);
  return it == sources_onto_.end() ? std::vector<int64_t>() : it->second;
}

bool CatalogSnapshot::OveruseAllowed(v1::OverusePolicy policy) const {
  switch (policy) {
    case v1::OVERUSE_POLICY_ALLOW:
      return true;
    case v1::OVERUSE_POLICY_DENY:
      return false;
    default:
      return allow_overuse_default_;
  }
}

v1::ProductComparison CompareProducts(const v1::Product& from,
                                      const v1::Product& to,
                                      const CatalogSnapshot& catalog,
                                      Direction direction) {
  v1::ProductComparison comparison;
  bool clean = true;
  std::set<std::string> used;
  for (const v1::ResourceType* type : TypesByCode(from.spec())) {
    Landing landing = Land(*type, to.spec());
    v1::ResourceTypeComparison* out = comparison.add_resource_types();
    out->set_source_code(type->code());
    out->set_resource_class(type->resource_class());
    out->set_comparison(landing.comparison);
    if (landing.target != nullptr &&
        landing.comparison != v1::RESOURCE_COMPARISON_LIMIT_ZERO) {
      out->set_target_code(landing.target->code());
    }
    if (landing.target != nullptr) used.insert(landing.target->code());
    if (landing.comparison != v1::RESOURCE_COMPARISON_SAME_OR_GREATER) {
      clean = false;
    }
  }
  for (const v1::ResourceType* type : TypesByCode(to.spec())) {
    if (used.count(type->code()) == 0) {
      comparison.add_added_resource_type_codes(type->code());
    }
  }
  comparison.set_activation_parameters_differ(
      !ParameterChanges(from.spec(), to.spec()).empty());
  comparison.set_contract_pool_matches(from.spec().contract_pool() ==
                                       to.spec().contract_pool());
  std::vector<int64_t> addons(from.spec().addon_product_ids().begin(),
                              from.spec().addon_product_ids().end());
  std::sort(addons.begin(), addons.end());
  for (int64_t addon : addons) {
    int64_t counterpart = Counterpart(catalog, direction, addon);
    if (counterpart == 0 || !Offers(to.spec(), counterpart)) {
      comparison.add_addons_not_carried_product_ids(addon);
    }
  }
  comparison.set_clean(clean && !comparison.activation_parameters_differ() &&
                       comparison.contract_pool_matches() &&
                       comparison.addons_not_carried_product_ids_size() == 0);
  return comparison;
}

v1::CustomerPlan PlanCustomer(const CatalogSnapshot& catalog,
                              const PlanInput& input) {
  v1::CustomerPlan plan;
  plan.set_customer_id(input.from.customer_id);
  plan.set_direction(input.direction == ::tandem::common::v1::DIRECTION_ROLLBACK
                         ? input.direction
                         : ::tandem::common::v1::DIRECTION_MOVE);
  plan.set_planned_at_unix_ms(input.now_unix_ms);
  plan.set_freeze_state(input.freeze_state);
  std::map<int64_t, std::vector<const BillingSubscription*>> addons_by_account;
  std::set<int64_t> accounts_with_main;
  for (const BillingSubscription& sub : input.from.subscriptions) {
    if (sub.is_addon) {
      addons_by_account[sub.account_row_id].push_back(&sub);
    } else {
      accounts_with_main.insert(sub.account_row_id);
    }
  }
  bool can_move = true;
  for (const BillingSubscription& sub : input.from.subscriptions) {
    if (sub.is_addon) continue;
    std::vector<const BillingSubscription*> addons;
    // Add-ons go with the account's first main subscription only.
    auto it = addons_by_account.find(sub.account_row_id);
    if (it != addons_by_account.end()) {
      addons = std::move(it->second);
      addons_by_account.erase(it);
    }
    std::vector<Message> messages;
    v1::SubscriptionPlan sub_plan =
        PlanSubscription(catalog, input, sub, addons, &messages);
    if (!sub_plan.can_move()) can_move = false;
    std::string prefix =
        absl::StrCat("subscription ", sub.subscription_id, " (",
                     sub_plan.source_product().code().empty()
                         ? absl::StrCat(sub.product_id)
                         : sub_plan.source_product().code(),
                     "): ");
    for (const Message& message : messages) {
      (IsRefusal(message.outcome) ? plan.add_reasons() : plan.add_warnings())
          ->assign(absl::StrCat(prefix, message.text));
    }
    *plan.add_subscriptions() = std::move(sub_plan);
  }
  for (const auto& [account, orphans] : addons_by_account) {
    for (const BillingSubscription* orphan : orphans) {
      plan.add_warnings(
          absl::StrCat("subscription ", orphan->subscription_id, " (add-on ",
                       orphan->product_id, ") on account ", orphan->account_id,
                       " has no main subscription: it will not be carried"));
    }
  }
  plan.set_can_move(can_move);
  return plan;
}

}  // namespace tandem::catalog
