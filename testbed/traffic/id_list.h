// Parses customer id lists such as "1-2000" or "5,7,100-120".
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tandem::testbed {

// Ids in the order given; INVALID_ARGUMENT for anything but positive ids
// and ascending ranges, or more than 10 million ids.
absl::StatusOr<std::vector<int64_t>> ParseIdList(absl::string_view list);

}  // namespace tandem::testbed
