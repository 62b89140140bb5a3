// Checks and small helpers every room of the catalog shares: request ids,
// systems, page sizes, the clock, and the names used in messages.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "catalog/catalog_store.h"
#include "common/request_log.h"  // ValidateRequestId
#include "google/protobuf/message.h"
#include "tandem/common/v1/types.pb.h"

namespace tandem::catalog {

inline constexpr ::tandem::common::v1::System kSource =
    ::tandem::common::v1::SYSTEM_SOURCE;
inline constexpr ::tandem::common::v1::System kTarget =
    ::tandem::common::v1::SYSTEM_TARGET;
// The page size of list methods when the request says 0, and the largest.
inline constexpr int kDefaultPageSize = 100;
inline constexpr int kMaxPageSize = 1000;
// The actor of what the catalog does by itself (the automatic lift).
inline constexpr char kSelfActor[] = "tandem-catalog";

// INVALID_ARGUMENT unless `system` is SOURCE or TARGET.
absl::Status ValidateSystem(::tandem::common::v1::System system);

// The page size for `requested`: the default for 0, at most kMaxPageSize;
// INVALID_ARGUMENT when negative.
absl::StatusOr<int> PageSize(int32_t requested);

// "source" or "target".
std::string SystemName(::tandem::common::v1::System system);

// Records `response` under `request_id` (in a transaction of its own)
// unless a response is recorded already; nothing for an empty id. For
// methods whose answer is completed after their change commits.
absl::Status RecordResponse(CatalogStore& store, const std::string& request_id,
                            const std::string& method,
                            const google::protobuf::Message& response);

// The wall clock in Unix milliseconds (stamps and audit entries).
int64_t NowMs();

}  // namespace tandem::catalog
