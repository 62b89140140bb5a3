#include "cli/router_helpers.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/router_input.h"

namespace tandem::cli::router_internal {

using ::tandem::common::v1::System;

absl::Status BadArgument(const absl::Status& status) {
  return UsageError(status.message());
}

std::string RouteName(System system, v1::RouteState state) {
  return absl::StrCat(SystemName(system), "/", RouteStateName(state));
}

std::string JoinKeys(const google::protobuf::RepeatedPtrField<v1::Key>& keys,
                     absl::string_view sign) {
  std::vector<std::string> parts;
  for (const v1::Key& key : keys) {
    parts.push_back(absl::StrCat(sign, FormatKey(key)));
  }
  return parts.empty() ? "-" : absl::StrJoin(parts, ",");
}

void SayDryRun(CommandContext& ctx, absl::string_view method) {
  cli::SayDryRun(ctx, "RouterService", method);
}

}  // namespace tandem::cli::router_internal
