// The path normaliser: an accepted target's normal form is a fixed point
// (normalising it again changes nothing), has no empty or dot segment and
// starts with '/'; the freeze form is a fixed point too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "portal-proxy/path_normalizer.h"

namespace {
void Check(bool condition) {
  if (!condition) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tandem::proxy;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  NormalTarget target;
  HttpError error;
  if (!NormalizeTarget(in, &target, &error)) return 0;
  if (target.target == "*") return 0;
  const std::string_view path = target.path();
  Check(!path.empty() && path.front() == '/');
  Check(path.find("//") == std::string_view::npos);
  Check(path.find("/./") == std::string_view::npos);
  Check(path.find("/../") == std::string_view::npos);
  Check(path.size() < 2 || path.substr(path.size() - 2) != "/.");
  Check(path.size() < 3 || path.substr(path.size() - 3) != "/..");
  NormalTarget again;
  Check(NormalizeTarget(target.target, &again, &error));
  Check(again.target == target.target);
  std::string freeze, freeze_again;
  FreezeMatchPath(path, &freeze);
  FreezeMatchPath(freeze, &freeze_again);
  Check(freeze == freeze_again);
  Check(freeze.find("//") == std::string::npos);
  return 0;
}
