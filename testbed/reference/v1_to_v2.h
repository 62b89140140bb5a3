// The reference v1 -> v2 transform of one customer, written straight from
// testbed/MAPPING.md. It is what the migrator's declarative mapping file
// must reproduce, and tests use it as ground truth (e.g. to prove that both
// simulator versions serve a customer identically). It is not a migrator:
// no change capture, no throttling, no rollback.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "common/mysql_pool.h"
#include "tandem/catalog/v1/catalog.pb.h"

namespace tandem::testbed {

// Copies customer `customer_id` with everything it owns (contacts,
// accounts, service settings, subscriptions and usage, xDRs, balance
// transactions, invoices, payment methods, portal sessions, API tokens)
// from the v1 database of `source` to the v2 database of `target`, in one
// target transaction. Ids are kept. Products, add-ons and resource usage
// follow the plan rules of conversion_plan.h (DefaultPlan: products by code
// or else name, resource types by code or else class and unit, usage of a
// type the target product does not provide dropped, add-ons the target
// product does not offer not copied).
//
// NOT_FOUND if the customer does not exist; FAILED_PRECONDITION if one of
// its products has no v2 counterpart; INVALID_ARGUMENT for a value that has
// no v2 form (an unknown status: a conversion error, never a silent 0);
// ALREADY_EXISTS if the target holds it already.
absl::Status CopyCustomerV1ToV2(MysqlPool& source, MysqlPool& target,
                                int64_t customer_id);

// The same, following the catalog's plan of the customer (PlanCustomer,
// direction MOVE): each subscription's target product and resource
// landings, and its add-ons carried or not, as the plan says; the rules
// above for what the plan does not cover (closed subscriptions).
// FAILED_PRECONDITION when the plan refuses the customer.
absl::Status CopyCustomerV1ToV2(
    MysqlPool& source, MysqlPool& target,
    const ::tandem::catalog::v1::CustomerPlan& plan);

}  // namespace tandem::testbed
