// The chunked decoder, fed the same input whole and cut into pieces (the
// first input byte chooses the piece size): both must agree on the outcome,
// the decoded body and where the body ends, and the decoded size never
// passes the limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "portal-proxy/chunked_decoder.h"

namespace {

using tandem::proxy::ChunkedDecoder;

struct Outcome {
  ChunkedDecoder::Status status;
  std::string body;
  size_t end = 0;  // bytes of the input the body took, when done
};

constexpr uint64_t kLimit = 1 << 16;

Outcome Decode(std::string_view in, size_t step) {
  ChunkedDecoder decoder(kLimit);
  Outcome out;
  std::string buffer;
  size_t fed = 0;
  size_t consumed_total = 0;
  for (;;) {
    const ChunkedDecoder::Step s = decoder.Next(buffer);
    if (s.consumed > buffer.size()) std::abort();
    if (s.status == ChunkedDecoder::Status::kData) {
      if (s.data.empty() || s.data.data() < buffer.data() ||
          s.data.data() + s.data.size() > buffer.data() + buffer.size()) {
        std::abort();
      }
      out.body.append(s.data);
    }
    buffer.erase(0, s.consumed);
    consumed_total += s.consumed;
    if (s.status == ChunkedDecoder::Status::kData) continue;
    if (s.status != ChunkedDecoder::Status::kNeedMore || fed == in.size()) {
      out.status = s.status;
      out.end = consumed_total;
      if (decoder.body_bytes() != out.body.size()) std::abort();
      if (out.body.size() > kLimit) std::abort();
      return out;
    }
    const size_t n = std::min(step, in.size() - fed);
    buffer.append(in.substr(fed, n));
    fed += n;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t step = 1 + data[0] % 16;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Outcome whole = Decode(in, in.size() + 1);
  const Outcome pieces = Decode(in, step);
  // An error may be found earlier with less input, but never the other way:
  // whatever completes whole completes in pieces, identically.
  if (whole.status == ChunkedDecoder::Status::kDone) {
    if (pieces.status != ChunkedDecoder::Status::kDone ||
        pieces.body != whole.body || pieces.end != whole.end) {
      std::abort();
    }
  }
  if (pieces.status == ChunkedDecoder::Status::kDone &&
      whole.status != ChunkedDecoder::Status::kDone) {
    std::abort();
  }
  return 0;
}
