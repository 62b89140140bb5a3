// Case-insensitive matching of HTTP header values, shared by the resolver
// and the server. Abseil 20220623 has StartsWithIgnoreCase but no
// contains-ignoring-case.
#pragma once

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"

namespace tandem::proxy {

// True when `needle` occurs in `haystack`, comparing ASCII letters without
// regard to case. An empty needle is always found.
inline bool ContainsIgnoreCase(absl::string_view haystack,
                               absl::string_view needle) {
  if (needle.size() > haystack.size()) {
    return false;
  }
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    size_t j = 0;
    while (j < needle.size() && absl::ascii_tolower(haystack[i + j]) ==
                                    absl::ascii_tolower(needle[j])) {
      ++j;
    }
    if (j == needle.size()) {
      return true;
    }
  }
  return false;
}

}  // namespace tandem::proxy
