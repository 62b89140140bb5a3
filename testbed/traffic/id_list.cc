#include "testbed/traffic/id_list.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tandem::testbed {

absl::StatusOr<std::vector<int64_t>> ParseIdList(absl::string_view list) {
  std::vector<int64_t> out;
  if (list.empty()) return out;
  for (absl::string_view part : absl::StrSplit(list, ',')) {
    std::vector<absl::string_view> range = absl::StrSplit(part, '-');
    int64_t lo, hi;
    if (range.size() > 2 || !absl::SimpleAtoi(range[0], &lo) ||
        !absl::SimpleAtoi(range.back(), &hi) || lo < 1 || hi < lo ||
        static_cast<int64_t>(out.size()) + (hi - lo) >= 10000000) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad id list element '", part, "'"));
    }
    for (int64_t id = lo; id <= hi; ++id) out.push_back(id);
  }
  return out;
}

}  // namespace tandem::testbed
