// The rules of the catalog freeze (DESIGN.md, "The freeze"): which
// transitions are legal and which product changes each state allows. Pure
// functions; the catalog and its tests share them, and the portal-proxy's
// answers come from them through CheckChange.
#pragma once

#include <string>

#include "tandem/catalog/v1/catalog.pb.h"
#include "tandem/common/v1/types.pb.h"

namespace tandem::catalog {

// What the freeze needs to know about the product a change is about.
struct ProductFacts {
  // The catalog knows the product.
  bool known = false;
  // A target product first seen (created or refreshed) while the freeze was
  // FROZEN_TARGET_OPEN: new after the switchover.
  bool created_after_switchover = false;
  // A mapping points at the product (customers will move onto it).
  bool mapping_target = false;
};

// The freeze's decision on one change.
struct ChangeDecision {
  bool allowed = true;
  ::tandem::catalog::v1::ChangeRefusal refusal =
      ::tandem::catalog::v1::CHANGE_REFUSAL_UNSPECIFIED;
  // A sentence for a person; empty when allowed.
  std::string reason;
};

// True when `to` may follow `from` (OPEN->FROZEN, FROZEN->FROZEN_TARGET_OPEN,
// FROZEN_TARGET_OPEN->LIFTED, FROZEN->OPEN). The route preconditions of
// LIFTED and of FROZEN->OPEN are checked by the caller.
bool IsLegalTransition(::tandem::catalog::v1::FreezeState from,
                       ::tandem::catalog::v1::FreezeState to);

// Decides whether the freeze allows `kind` on a product of `system`.
// `facts` matters only for updates and deletes. The reason names the state
// and since when it holds (from `freeze.stamp`).
ChangeDecision DecideChange(const ::tandem::catalog::v1::Freeze& freeze,
                            ::tandem::common::v1::System system,
                            ::tandem::catalog::v1::ChangeKind kind,
                            const ProductFacts& facts);

// True when the freeze protects an existing product: every update or delete
// of it is refused.
bool IsProductFrozen(::tandem::catalog::v1::FreezeState state,
                     ::tandem::common::v1::System system,
                     const ProductFacts& facts);

// "FROZEN", "FROZEN_TARGET_OPEN"... without the enum prefix.
std::string FreezeStateName(::tandem::catalog::v1::FreezeState state);

}  // namespace tandem::catalog
