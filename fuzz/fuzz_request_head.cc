// The request-head parser and what the parse stage derives from a head: the
// framing decision and the normal target. Invariants: nothing reads outside
// the input; a complete head's length is within it and ends in CRLFCRLF;
// its views point into it; every accepted target is in normal form
// (normalising it again changes nothing).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "portal-proxy/http_head.h"
#include "portal-proxy/path_normalizer.h"
#include "portal-proxy/request_framing.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

bool Within(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() &&
          part.data() + part.size() <= whole.data() + whole.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tandem::proxy;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  RequestHead head;
  HttpError error;
  const HeadParse parsed = ParseRequestHead(in, &head, &error);
  if (parsed == HeadParse::kError) {
    Check(error.status >= 400 && error.status < 600 && error.reason != nullptr);
    return 0;
  }
  if (parsed == HeadParse::kIncomplete) return 0;
  Check(head.head_bytes >= 4 && head.head_bytes <= size);
  Check(in.substr(head.head_bytes - 4, 4) == "\r\n\r\n");
  Check(head.version == 10 || head.version == 11);
  Check(Within(head.method, in) && Within(head.target, in));
  for (size_t i = 0; i < head.field_count; ++i) {
    Check(Within(head.fields[i].name, in) && Within(head.fields[i].value, in));
    Check(!head.fields[i].name.empty());
  }
  BodyFraming framing;
  if (DecideRequestFraming(head, 1 << 20, &framing, &error)) {
    Check(head.host_count == 1 && ValidHost(head.host));
    Check(framing.kind != BodyFraming::Kind::kChunked ||
          (head.content_length_count == 0 && head.version == 11));
  }
  NormalTarget target;
  if (NormalizeTarget(head.target, &target, &error)) {
    NormalTarget again;
    Check(NormalizeTarget(target.target, &again, &error));
    Check(again.target == target.target && again.authority.empty());
    std::string freeze;
    FreezeMatchPath(target.path(), &freeze);
  }
  return 0;
}
