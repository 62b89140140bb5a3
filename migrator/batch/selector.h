// A batch's selector: checked on its own (ValidateSelector, no database),
// then resolved once into the customers the batch takes (ResolveSelector),
// which CreateBatch stores, so the batch is reproducible whatever changes
// later.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "migrator/batch/batch_store.h"
#include "migrator/engine/billing_db.h"
#include "migrator/mapping/mapping.h"
#include "migrator/move/clients.h"
#include "tandem/migrator/v1/migrator.pb.h"

namespace tandem::migrator {

inline constexpr int kMaxSelectorProducts = 1000;
inline constexpr int kMaxSelectorPaymentSystems = 100;
inline constexpr int kMaxSelectorCustomers = 100000;

// INVALID_ARGUMENT, naming the field and what is wrong, for a selector that
// cannot be right whatever the databases hold (see BatchSelector).
absl::Status ValidateSelector(
    const ::tandem::migrator::v1::BatchSelector& selector);

struct SelectorDeps {
  const Mapping* mapping = nullptr;
  BillingDb* dbs[2] = {nullptr, nullptr};  // by SchemaSide
  RouteClient* router = nullptr;
  BatchStore* store = nullptr;
};

// Resolves a valid selector for `direction`: reads the side the batch reads
// (products, payment systems, account counts), the items of `from_batch_id`,
// and the routes. INVALID_ARGUMENT for an unknown product or payment system
// name, NOT_FOUND for an unknown `from_batch_id`, FAILED_PRECONDITION when
// the mapping has no selectors for a criterion used, UNAVAILABLE when a
// database or the router cannot be reached.
absl::StatusOr<Selection> ResolveSelector(
    const SelectorDeps& deps,
    const ::tandem::migrator::v1::BatchSelector& selector, Direction direction);

}  // namespace tandem::migrator
