#include "portal-proxy/freeze_policy.h"

#include <charconv>

#include "absl/strings/str_cat.h"
#include "portal-proxy/http_head.h"

namespace tandem::proxy {

namespace catalog = ::tandem::catalog::v1;

std::optional<ProductChange> ProductAdminApi::Classify(
    std::string_view method, std::string_view target) const {
  if (method == "GET" || method == "HEAD" || method == "OPTIONS") {
    return std::nullopt;
  }
  size_t q = target.find_first_of("?#");
  std::string_view path =
      q == std::string_view::npos ? target : target.substr(0, q);
  while (path.size() > 1 && path.back() == '/') {
    path.remove_suffix(1);
  }
  for (const std::string& prefix : prefixes) {
    if (path.size() < prefix.size() ||
        !EqualsIgnoreCase(path.substr(0, prefix.size()), prefix)) {
      continue;
    }
    std::string_view rest = path.substr(prefix.size());
    ProductChange change;
    change.detail = target;
    if (rest.empty()) {
      if (method != "POST") {
        // A bulk change of the collection: treat as a configuration change
        // of existing products.
        change.kind = catalog::CHANGE_KIND_UPDATE_CONFIGURATION;
        return change;
      }
      change.kind = catalog::CHANGE_KIND_CREATE;
      return change;
    }
    if (rest.front() != '/') {
      continue;  // "/admin/productsX" is another path
    }
    rest.remove_prefix(1);
    std::string_view id = rest.substr(0, rest.find('/'));
    std::string_view sub =
        id.size() < rest.size() ? rest.substr(id.size()) : std::string_view();
    int64_t product_id = 0;
    std::from_chars(id.data(), id.data() + id.size(), product_id);
    change.product_id = product_id > 0 ? product_id : 0;
    if (method == "DELETE" && sub.empty()) {
      change.kind = catalog::CHANGE_KIND_DELETE;
    } else if (sub.find("price") != std::string_view::npos ||
               sub.find("tariff") != std::string_view::npos ||
               sub.find("fee") != std::string_view::npos) {
      change.kind = catalog::CHANGE_KIND_UPDATE_PRICE;
    } else {
      change.kind = catalog::CHANGE_KIND_UPDATE_CONFIGURATION;
    }
    return change;
  }
  return std::nullopt;
}

void CachedFreezePolicy::SetState(FreezeState state, bool connected) {
  state_.store(state);
  connected_.store(connected);
}

FreezeState CachedFreezePolicy::EffectiveState() const {
  FreezeState state = state_.load();
  if (!connected_.load() || state == catalog::FREEZE_STATE_UNSPECIFIED) {
    return catalog::FREEZE_STATE_FROZEN;
  }
  return state;
}

FreezeDecision CachedFreezePolicy::Check(const ProductChange& change) const {
  FreezeState state = state_.load();
  bool fail_closed =
      !connected_.load() || state == catalog::FREEZE_STATE_UNSPECIFIED;
  if (fail_closed) {
    state = catalog::FREEZE_STATE_FROZEN;
  }
  FreezeDecision decision;
  if (state == catalog::FREEZE_STATE_OPEN ||
      state == catalog::FREEZE_STATE_LIFTED) {
    return decision;
  }
  const bool target = change.system == ::tandem::common::v1::SYSTEM_TARGET;
  const std::string state_name =
      fail_closed ? "FROZEN (catalog unreachable, failing closed)"
                  : catalog::FreezeState_Name(state);
  decision.allowed = false;
  if (change.kind == catalog::CHANGE_KIND_CREATE) {
    if (target && state == catalog::FREEZE_STATE_FROZEN_TARGET_OPEN) {
      decision.allowed = true;
      return decision;
    }
    decision.refusal = target ? catalog::CHANGE_REFUSAL_TARGET_NOT_OPEN
                              : catalog::CHANGE_REFUSAL_SOURCE_CLOSED;
    decision.reason = absl::StrCat(
        "catalog is ", state_name, ": new products are not allowed on the ",
        target ? "target until the switchover" : "source");
    return decision;
  }
  // Changes of existing products. In FROZEN_TARGET_OPEN only products created
  // on the target after the switchover may change, which only the catalog
  // knows; without asking it, refuse (fail closed).
  decision.refusal = catalog::CHANGE_REFUSAL_CATALOG_FROZEN;
  decision.reason = absl::StrCat("catalog is ", state_name,
                                 ": existing products cannot change (product ",
                                 change.product_id, ")");
  return decision;
}

}  // namespace tandem::proxy
