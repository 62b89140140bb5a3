#include "migrator/engine/lookups.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tandem::migrator {

void IdMap::Add(const std::string& space, const std::string& target_id,
                const std::string& source_id) {
  to_source_[{space, target_id}] = source_id;
  to_target_[{space, source_id}] = target_id;
}

std::string IdMap::ToTarget(const std::string& space,
                            const std::string& source_id) const {
  auto it = to_target_.find({space, source_id});
  return it == to_target_.end() ? source_id : it->second;
}

std::optional<std::string> IdMap::ToSource(const std::string& space,
                                           const std::string& target_id) const {
  auto it = to_source_.find({space, target_id});
  if (it != to_source_.end()) return it->second;
  int64_t id = 0;
  if (!absl::SimpleAtoi(target_id, &id) || id < native_id_start_) {
    return target_id;
  }
  return std::nullopt;
}

std::optional<std::string> IdMap::Find(const std::string& space,
                                       const std::string& target_id) const {
  auto it = to_source_.find({space, target_id});
  if (it == to_source_.end()) return std::nullopt;
  return it->second;
}

std::string NewIdPlaceholder(const std::string& space,
                             const std::string& target_id) {
  return absl::StrCat("@new:", space, ":", target_id);
}

std::optional<std::pair<std::string, std::string>> ParseNewIdPlaceholder(
    const std::string& value) {
  if (!absl::StartsWith(value, "@new:")) return std::nullopt;
  const size_t colon = value.rfind(':');
  if (colon <= 5) return std::nullopt;
  return std::make_pair(value.substr(5, colon - 5), value.substr(colon + 1));
}

}  // namespace tandem::migrator
