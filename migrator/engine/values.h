// Value conversions the mapping names: decimal rescaling in both directions
// (exact, or rounded when the rollback's rounding rule allows it), canonical
// text per column type, and JSON objects split into rows and back.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "migrator/mapping/live_schema.h"

namespace tandem::migrator {

// A decimal value multiplied by 10^shift and written with `target_scale`
// decimals.
struct Rescaled {
  // The value in the target column's form (rounded half away from zero
  // when not exact).
  std::string text;
  // False when the target column cannot hold the value exactly.
  bool exact = true;
  // The exact value, with as many decimals as it needs (for reports).
  std::string exact_text;
};

// Multiplies `decimal` ("-12.345", "7") by 10^`shift` (negative divides) and
// formats it with `target_scale` decimals. INVALID_ARGUMENT for text that is
// not a plain decimal number or a result beyond 18 digits.
absl::StatusOr<Rescaled> Rescale(absl::string_view decimal, int shift,
                                 int target_scale);

// a - b for two decimal numbers, exactly, with as many decimals as the
// longer of the two ("12.50000" - "10" = "2.50000").
absl::StatusOr<std::string> DecimalDifference(absl::string_view a,
                                              absl::string_view b);

// a + b for two decimal numbers, exactly.
absl::StatusOr<std::string> DecimalSum(absl::string_view a,
                                       absl::string_view b);

// True when a decimal number is zero ("0", "-0.000").
bool IsZeroDecimal(absl::string_view decimal);

// The number of decimal digits of a power of ten (1000 -> 3).
int Log10(int64_t power_of_ten);

// `value` in the form the database returns for `column`: integers without
// sign or leading zeros noise, DECIMAL with exactly its scale; other types
// unchanged. INVALID_ARGUMENT when a numeric column gets a non-number or a
// value it cannot hold exactly.
absl::StatusOr<std::string> Canonical(const ColumnInfo& column,
                                      const std::string& value);

// The members of a JSON object as (name, value text) pairs, as the settings
// rows carry them: strings as themselves, numbers as their source text,
// booleans as true/false; null, arrays and objects are not carried.
// INVALID_ARGUMENT when `json` is not a JSON object.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> SplitJson(
    absl::string_view json);

// A JSON object of string members, in the given order, in the form
// {"name": "value", "other": "x"}.
std::string CollectJson(
    const std::vector<std::pair<std::string, std::string>>& members);

}  // namespace tandem::migrator
