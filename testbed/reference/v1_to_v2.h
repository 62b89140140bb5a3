// The reference v1 -> v2 transform of one customer, written straight from
// testbed/MAPPING.md. It is what the migrator's declarative mapping file
// must reproduce, and tests use it as ground truth (e.g. to prove that both
// simulator versions serve a customer identically). It is not a migrator:
// no change capture, no throttling, no rollback.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "common/mysql_pool.h"

namespace tandem::testbed {

// Copies customer `customer_id` with everything it owns (contacts,
// accounts, service settings, subscriptions and usage, xDRs, balance
// transactions, invoices, payment methods, portal sessions, API tokens)
// from the v1 database of `source` to the v2 database of `target`, in one
// target transaction. Ids are kept; product ids are remapped by product
// code; resource types by code, a type missing on v2 being taken over by a
// v2 type of the same resource class or else dropped. NOT_FOUND if the
// customer does not exist; FAILED_PRECONDITION if one of its products has
// no v2 counterpart; ALREADY_EXISTS if the target holds it already.
absl::Status CopyCustomerV1ToV2(MysqlPool& source, MysqlPool& target,
                                int64_t customer_id);

}  // namespace tandem::testbed
