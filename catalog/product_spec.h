// Checks and comparisons of product specs, shared by the catalog's product
// methods, its refresh and its clones. Pure functions; no I/O.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "tandem/catalog/v1/catalog.pb.h"
#include "tandem/common/v1/types.pb.h"

namespace tandem::catalog {

// Returns OK when `spec` is well formed for `system` (see ProductSpec in
// catalog.proto), or INVALID_ARGUMENT naming the first field that is not.
// The source system stores fees with five decimals, so a source fee must be
// a multiple of 10 micros.
absl::Status ValidateProductSpec(const ::tandem::catalog::v1::ProductSpec& spec,
                                 ::tandem::common::v1::System system);

// Returns `spec` in canonical order: resource types by code, activation
// parameters by name, add-on ids ascending. Resource type names, classes and
// units are kept.
::tandem::catalog::v1::ProductSpec CanonicalSpec(
    ::tandem::catalog::v1::ProductSpec spec);

// What changes between two specs of one product.
struct SpecDifference {
  bool price = false;          // fee or currency
  bool configuration = false;  // anything else an operator writes
  // The names of the fields that differ, comma-separated (for audit
  // details), for example "pricing, resource_types".
  std::string fields;

  bool any() const { return price || configuration; }
};

// Compares what an operator writes: resource types by code and limit only
// (their names, classes and units belong to the system), everything in
// canonical order.
SpecDifference DiffSpecs(const ::tandem::catalog::v1::ProductSpec& before,
                         const ::tandem::catalog::v1::ProductSpec& after);

}  // namespace tandem::catalog
