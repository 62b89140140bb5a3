// Values between the proto and the billing schemas, checked and converted
// without a database: v1's DECIMAL(13,5) money, the activation_params JSON
// column, and whether a spec fits the schemas' columns. Pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tandem/catalog/v1/catalog.pb.h"

namespace tandem::catalog {

// Parses DECIMAL text such as "-12.34567" into micro-units, exactly;
// INTERNAL for text that is not a DECIMAL(13,5) amount.
absl::StatusOr<int64_t> DecimalToMicros(absl::string_view text);

// Formats micro-units for a DECIMAL(13,5) column; INVALID_ARGUMENT with the
// reason when it cannot hold them.
absl::StatusOr<std::string> MicrosToDecimal(int64_t micros);

// Reads an activation_params column (a JSON object) into `spec`'s
// parameters, sorted by name; non-string values become their JSON text.
absl::Status ParseActivationParameters(
    const std::string& json, ::tandem::catalog::v1::ProductSpec* spec);

// Writes the parameters as a JSON object of strings.
absl::StatusOr<std::string> ActivationParametersJson(
    const ::tandem::catalog::v1::ProductSpec& spec);

// Checks what can be checked without the database: the spec fits the
// schema's columns and is a consistent product (INVALID_ARGUMENT naming
// what does not).
absl::Status CheckFitsSchema(const ::tandem::catalog::v1::ProductSpec& spec);

}  // namespace tandem::catalog
