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

// Plans one main subscription with its add-on subscriptions: where it
// goes, then each rule (resources, activation parameters, contract pool,
// add-ons) adds its outcomes and messages.
class SubscriptionPlanner {
 public:
  SubscriptionPlanner(const CatalogSnapshot& catalog, const PlanInput& input,
                      const BillingSubscription& sub,
                      std::vector<Message>* messages)
      : catalog_(catalog),
        input_(input),
        sub_(sub),
        messages_(messages),
        rollback_(input.direction == ::tandem::common::v1::DIRECTION_ROLLBACK),
        from_system_(rollback_ ? kTarget : kSource),
        to_system_(rollback_ ? kSource : kTarget) {
    plan_.set_subscription_id(sub.subscription_id);
    plan_.set_account_id(sub.account_id);
  }

  v1::SubscriptionPlan Plan(
      const std::vector<const BillingSubscription*>& addons) {
    const v1::Product* from =
        catalog_.FindProduct(from_system_, sub_.product_id);
    if (from == nullptr) {
      plan_.mutable_source_product()->set_system(from_system_);
      plan_.mutable_source_product()->set_product_id(sub_.product_id);
      Note(v1::PLAN_OUTCOME_REFUSED_UNKNOWN_PRODUCT,
           absl::StrCat("product ", sub_.product_id,
                        " is not in the catalog (refresh the catalog)"));
      return Finish();
    }
    *plan_.mutable_source_product() = RefOf(*from);
    const v1::Mapping* mapping = nullptr;
    const v1::Product* to = Destination(*from, &mapping);
    if (to == nullptr) return Finish();
    *plan_.mutable_target_product() = RefOf(*to);
    if (mapping != nullptr) plan_.set_mapping_version(mapping->version());
    const bool overuse =
        catalog_.OveruseAllowed(mapping == nullptr ? v1::OVERUSE_POLICY_INHERIT
                                                   : mapping->overuse_policy());
    plan_.set_overuse_policy(overuse ? v1::OVERUSE_POLICY_ALLOW
                                     : v1::OVERUSE_POLICY_DENY);
    PlanResources(*from, *to, overuse);
    PlanParameters(*from, *to);
    if (from->spec().contract_pool() != to->spec().contract_pool()) {
      Note(v1::PLAN_OUTCOME_REFUSED_CONTRACT_POOL,
           absl::StrCat("contract pool differs (",
                        PoolName(from->spec().contract_pool()), " vs ",
                        PoolName(to->spec().contract_pool()), ")"));
    }
    for (const BillingSubscription* addon : addons) PlanAddon(*addon, *to);
    return Finish();
  }

 private:
  void Note(v1::PlanOutcome outcome, std::string text) {
    outcomes_.insert(outcome);
    messages_->push_back({outcome, text});
    plan_.add_messages(std::move(text));
  }

  v1::SubscriptionPlan Finish() {
    if (outcomes_.empty()) outcomes_.insert(v1::PLAN_OUTCOME_MOVES_CLEANLY);
    bool can_move = true;
    for (v1::PlanOutcome outcome : outcomes_) {
      plan_.add_outcomes(outcome);
      if (IsRefusal(outcome)) can_move = false;
    }
    plan_.set_can_move(can_move);
    return plan_;
  }

  // For a rollback: the product a subscription had on the source (kept
  // there), or 0.
  int64_t KeptProduct(int64_t subscription_id) const {
    int64_t product_id = 0;
    if (!rollback_ || input_.kept_on_source == nullptr) return 0;
    for (const BillingSubscription& kept :
         input_.kept_on_source->subscriptions) {
      if (kept.subscription_id == subscription_id) product_id = kept.product_id;
    }
    return product_id;
  }

  // The product the subscription goes to, and the mapping that says so;
  // nullptr (with the refusal noted) when there is none.
  const v1::Product* Destination(const v1::Product& from,
                                 const v1::Mapping** mapping) {
    int64_t to_id = 0;
    if (!rollback_) {
      *mapping = catalog_.FindMapping(from.product_id());
      if (*mapping == nullptr) {
        Note(v1::PLAN_OUTCOME_REFUSED_NO_MAPPING,
             absl::StrCat("product ", from.spec().code(), " has no mapping"));
        return nullptr;
      }
      to_id = (*mapping)->target_product_id();
    } else {
      to_id = KeptProduct(sub_.subscription_id);
      if (to_id == 0) {
        std::vector<int64_t> sources =
            catalog_.SourcesMappedOnto(from.product_id());
        if (sources.size() != 1) {
          Note(v1::PLAN_OUTCOME_REFUSED_NO_MAPPING,
               absl::StrCat("no single source product to go back to (",
                            sources.size(), " mapped onto ", from.spec().code(),
                            ")"));
          return nullptr;
        }
        to_id = sources.front();
      }
      *mapping = catalog_.FindMapping(to_id);
    }
    const v1::Product* to = catalog_.FindProduct(to_system_, to_id);
    if (to == nullptr) {
      Note(v1::PLAN_OUTCOME_REFUSED_NO_MAPPING,
           absl::StrCat("product ", from.spec().code(), " goes to product ",
                        to_id, ", which the ", rollback_ ? "source" : "target",
                        " no longer has"));
    }
    return to;
  }

  int64_t UsageOf(const std::string& code) const {
    auto it = sub_.usage.find(code);
    return it == sub_.usage.end() ? 0 : it->second;
  }

  // Resources: usage of every source type landing on one target type adds
  // up before it is held against that type's limit.
  void PlanResources(const v1::Product& from, const v1::Product& to,
                     bool overuse) {
    const std::vector<const v1::ResourceType*> types = TypesByCode(from.spec());
    std::vector<Landing> landings;
    std::map<std::string, int64_t> landed_usage;
    for (const v1::ResourceType* type : types) {
      landings.push_back(Land(*type, to.spec()));
      if (landings.back().target != nullptr) {
        landed_usage[landings.back().target->code()] += UsageOf(type->code());
      }
    }
    std::set<std::string> overuse_reported;
    for (size_t i = 0; i < types.size(); ++i) {
      PlanResource(*types[i], landings[i], to, overuse, landed_usage,
                   overuse_reported);
    }
  }

  void PlanResource(const v1::ResourceType& type, const Landing& landing,
                    const v1::Product& to, bool overuse,
                    std::map<std::string, int64_t>& landed_usage,
                    std::set<std::string>& overuse_reported) {
    v1::ResourcePlan* resource = plan_.add_resources();
    resource->set_source_resource_type(type.code());
    resource->set_resource_class(type.resource_class());
    resource->set_unit(type.unit());
    const int64_t usage = UsageOf(type.code());
    resource->set_usage(usage);
    resource->set_source_limit(type.limit());
    std::set<v1::PlanOutcome> outcomes;
    auto note = [&](v1::PlanOutcome outcome, std::string text) {
      outcomes.insert(outcome);
      Note(outcome, std::move(text));
    };
    const std::string& to_code = to.spec().code();
    if (landing.comparison == v1::RESOURCE_COMPARISON_MISSING) {
      note(v1::PLAN_OUTCOME_RESOURCE_UNPROVISIONED,
           absl::StrCat("resource type ", type.code(),
                        " missing on target product ", to_code, ": ",
                        Lost(usage, type)));
    } else if (landing.comparison == v1::RESOURCE_COMPARISON_LIMIT_ZERO) {
      note(v1::PLAN_OUTCOME_RESOURCE_UNPROVISIONED,
           absl::StrCat("resource ", type.code(),
                        " unprovisioned (limit 0 on target product ", to_code,
                        "): ", Lost(usage, type)));
    } else {
      const v1::ResourceType& target = *landing.target;
      resource->set_target_resource_type(target.code());
      resource->set_target_limit(target.limit());
      if (landing.comparison == v1::RESOURCE_COMPARISON_TAKEN_OVER) {
        note(v1::PLAN_OUTCOME_RESOURCE_TAKEN_OVER,
             absl::StrCat("resource ", type.code(), " taken over by ",
                          target.code(), " (class ", type.resource_class(),
                          ")"));
      }
      const int64_t total = landed_usage[target.code()];
      if (target.limit() == 0 && total > 0) {
        resource->clear_target_resource_type();
        note(v1::PLAN_OUTCOME_RESOURCE_UNPROVISIONED,
             absl::StrCat("resource ", target.code(),
                          " unprovisioned (limit 0 on target product ", to_code,
                          "): ", Lost(usage, type)));
      } else if (total > target.limit() &&
                 overuse_reported.insert(target.code()).second) {
        note(overuse ? v1::PLAN_OUTCOME_MOVES_WITH_OVERUSE
                     : v1::PLAN_OUTCOME_REFUSED_OVERUSE,
             absl::StrCat(overuse ? "resource overuse allowed: "
                                  : "resource overusage: ",
                          target.code(), " (usage ", total, ", limit ",
                          target.limit(), ")"));
      }
    }
    if (outcomes.empty()) outcomes.insert(v1::PLAN_OUTCOME_MOVES_CLEANLY);
    for (v1::PlanOutcome outcome : outcomes) resource->add_outcomes(outcome);
  }

  void PlanParameters(const v1::Product& from, const v1::Product& to) {
    std::vector<v1::ParameterChange> changes =
        ParameterChanges(from.spec(), to.spec());
    if (changes.empty()) return;
    std::string text = "activation parameters rewritten:";
    for (size_t i = 0; i < changes.size(); ++i) {
      const v1::ParameterChange& c = changes[i];
      absl::StrAppend(&text, i == 0 ? " " : ", ", c.name(), " ",
                      c.added() ? "(none)" : c.old_value(), " -> ",
                      c.removed() ? "(none)" : c.new_value());
      *plan_.add_parameter_changes() = c;
    }
    Note(v1::PLAN_OUTCOME_ACTIVATION_PARAMETERS_REWRITTEN, text);
  }

  void PlanAddon(const BillingSubscription& addon, const v1::Product& to) {
    v1::AddonPlan* addon_plan = plan_.add_addons();
    const v1::Product* addon_from =
        catalog_.FindProduct(from_system_, addon.product_id);
    if (addon_from == nullptr) {
      addon_plan->mutable_source_addon()->set_system(from_system_);
      addon_plan->mutable_source_addon()->set_product_id(addon.product_id);
      addon_plan->set_reason("not in the catalog");
    } else {
      *addon_plan->mutable_source_addon() = RefOf(*addon_from);
      int64_t addon_to_id = KeptProduct(addon.subscription_id);
      if (addon_to_id == 0) {
        addon_to_id =
            Counterpart(catalog_, input_.direction, addon_from->product_id());
      }
      const v1::Product* addon_to =
          addon_to_id == 0 ? nullptr
                           : catalog_.FindProduct(to_system_, addon_to_id);
      if (addon_to == nullptr) {
        addon_plan->set_reason("no mapping");
      } else if (!Offers(to.spec(), addon_to->product_id())) {
        addon_plan->set_reason(
            absl::StrCat("not an add-on of target product ", to.spec().code()));
      } else {
        *addon_plan->mutable_target_addon() = RefOf(*addon_to);
        addon_plan->set_carried(true);
      }
    }
    if (!addon_plan->carried()) {
      Note(v1::PLAN_OUTCOME_ADDONS_NOT_CARRIED,
           absl::StrCat("add-on ",
                        addon_plan->source_addon().code().empty()
                            ? absl::StrCat(addon.product_id)
                            : addon_plan->source_addon().code(),
                        " will not be carried: ", addon_plan->reason()));
    }
  }

  const CatalogSnapshot& catalog_;
  const PlanInput& input_;
  const BillingSubscription& sub_;
  std::vector<Message>* const messages_;
  const bool rollback_;
  const System from_system_;
  const System to_system_;
  v1::SubscriptionPlan plan_;
  std::set<v1::PlanOutcome> outcomes_;
};

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
        SubscriptionPlanner(catalog, input, sub, &messages).Plan(addons);
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
