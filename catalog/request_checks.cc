#include "catalog/request_checks.h"

#include <algorithm>
#include <memory>

#include "absl/time/clock.h"

namespace tandem::catalog {

absl::Status ValidateSystem(::tandem::common::v1::System system) {
  if (system != kSource && system != kTarget) {
    return absl::InvalidArgumentError(
        "system must be SYSTEM_SOURCE or SYSTEM_TARGET");
  }
  return absl::OkStatus();
}

absl::StatusOr<int> PageSize(int32_t requested) {
  if (requested < 0) {
    return absl::InvalidArgumentError("page_size must not be negative");
  }
  if (requested == 0) return kDefaultPageSize;
  return std::min<int>(requested, kMaxPageSize);
}

std::string SystemName(::tandem::common::v1::System system) {
  return system == kSource ? "source" : "target";
}

absl::Status RecordResponse(CatalogStore& store, const std::string& request_id,
                            const std::string& method,
                            const google::protobuf::Message& response) {
  if (request_id.empty()) return absl::OkStatus();
  return store.RunTransaction(
      "record request", [&](CatalogTxn& txn) -> absl::Status {
        std::unique_ptr<google::protobuf::Message> recorded(response.New());
        absl::StatusOr<bool> replayed =
            txn.FindRequest(request_id, method, recorded.get());
        if (!replayed.ok()) return replayed.status();
        if (*replayed) return absl::OkStatus();
        return txn.SaveRequest(request_id, method, response);
      });
}

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

}  // namespace tandem::catalog
