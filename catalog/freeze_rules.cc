#include "catalog/freeze_rules.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"

namespace tandem::catalog {
namespace {

namespace v1 = ::tandem::catalog::v1;
using ::tandem::common::v1::System;

ChangeDecision Refuse(const v1::Freeze& freeze, v1::ChangeRefusal refusal,
                      absl::string_view what) {
  ChangeDecision decision;
  decision.allowed = false;
  decision.refusal = refusal;
  std::string since =
      freeze.stamp().at_unix_ms() > 0
          ? absl::StrCat(" since ",
                         absl::FormatTime(
                             "%Y-%m-%dT%H:%M:%SZ",
                             absl::FromUnixMillis(freeze.stamp().at_unix_ms()),
                             absl::UTCTimeZone()))
          : std::string();
  decision.reason = absl::StrCat("catalog frozen", since, " (",
                                 FreezeStateName(freeze.state()), "): ", what);
  return decision;
}

}  // namespace

std::string FreezeStateName(v1::FreezeState state) {
  return std::string(
      absl::StripPrefix(v1::FreezeState_Name(state), "FREEZE_STATE_"));
}

bool IsLegalTransition(v1::FreezeState from, v1::FreezeState to) {
  switch (from) {
    case v1::FREEZE_STATE_OPEN:
      return to == v1::FREEZE_STATE_FROZEN;
    case v1::FREEZE_STATE_FROZEN:
      return to == v1::FREEZE_STATE_FROZEN_TARGET_OPEN ||
             to == v1::FREEZE_STATE_OPEN;
    case v1::FREEZE_STATE_FROZEN_TARGET_OPEN:
      return to == v1::FREEZE_STATE_LIFTED;
    default:
      return false;
  }
}

bool IsProductFrozen(v1::FreezeState state, System system,
                     const ProductFacts& facts) {
  if (state == v1::FREEZE_STATE_FROZEN) return true;
  if (state != v1::FREEZE_STATE_FROZEN_TARGET_OPEN) return false;
  if (system == ::tandem::common::v1::SYSTEM_SOURCE) return true;
  return !facts.known || facts.mapping_target ||
         !facts.created_after_switchover;
}

ChangeDecision DecideChange(const v1::Freeze& freeze, System system,
                            v1::ChangeKind kind, const ProductFacts& facts) {
  const v1::FreezeState state = freeze.state();
  if (state != v1::FREEZE_STATE_FROZEN &&
      state != v1::FREEZE_STATE_FROZEN_TARGET_OPEN) {
    return ChangeDecision{};
  }
  const bool source = system == ::tandem::common::v1::SYSTEM_SOURCE;
  if (kind == v1::CHANGE_KIND_CREATE) {
    if (source) {
      return Refuse(freeze, v1::CHANGE_REFUSAL_SOURCE_CLOSED,
                    "no new products on the source system");
    }
    if (state == v1::FREEZE_STATE_FROZEN) {
      return Refuse(freeze, v1::CHANGE_REFUSAL_TARGET_NOT_OPEN,
                    "new products on the target only after the switchover "
                    "(FROZEN_TARGET_OPEN)");
    }
    return ChangeDecision{};
  }
  if (source || state == v1::FREEZE_STATE_FROZEN) {
    return Refuse(freeze, v1::CHANGE_REFUSAL_CATALOG_FROZEN,
                  "existing products cannot change");
  }
  if (!facts.known) {
    return Refuse(freeze, v1::CHANGE_REFUSAL_UNKNOWN_PRODUCT,
                  "the catalog does not know this target product; refresh "
                  "the catalog if it was created after the switchover");
  }
  if (facts.mapping_target) {
    return Refuse(freeze, v1::CHANGE_REFUSAL_MAPPING_TARGET,
                  "a mapping points at this target product: customers move "
                  "onto it");
  }
  if (!facts.created_after_switchover) {
    return Refuse(freeze, v1::CHANGE_REFUSAL_CATALOG_FROZEN,
                  "existing products cannot change");
  }
  return ChangeDecision{};
}

}  // namespace tandem::catalog
