// Decodes a chunked message body (RFC 9112 §7.1) incrementally, from
// whatever part of it has arrived, without copying: chunk data comes back
// as views into the input. Used for request bodies from clients and for
// response bodies from the billing systems.
//
// Strict, like http_head.h: chunk sizes are hex digits only (no sign, no
// "0x"), at most 2^64 - 1 and within the body limit; extensions must be
// well-formed (and are dropped); every line ends in CRLF (a bare LF or CR is
// an error); chunk data must be followed by CRLF at once; trailer fields
// are checked like header fields and dropped. The proxy re-frames what it
// decoded, so that what it forwards is exactly what it parsed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "portal-proxy/http_head.h"

namespace tandem::proxy {

class ChunkedDecoder {
 public:
  // The longest chunk-size line (with extensions) and trailer section.
  static constexpr size_t kMaxLineBytes = 4096;
  static constexpr size_t kMaxTrailerBytes = 8192;

  enum class Status {
    // `in` ended within the framing: call again with more input, starting
    // with what was not consumed.
    kNeedMore,
    // `data` is a piece of chunk data (a view into the input).
    kData,
    // The body (with its trailer section) is complete.
    kDone,
    // Malformed (400) or over the body limit (413): see error().
    kError,
  };
  struct Step {
    Status status = Status::kNeedMore;
    // Bytes of the input this step used (framing and data).
    size_t consumed = 0;
    std::string_view data;
  };

  explicit ChunkedDecoder(uint64_t max_body_bytes = ~uint64_t{0})
      : max_body_bytes_(max_body_bytes) {}

  // Starts over, for the next body.
  void Reset(uint64_t max_body_bytes);

  // Decodes from the start of `in`; returns after the first piece of chunk
  // data, at the end of the body, when more input is needed, or at an
  // error. The caller drops `consumed` bytes of its input (after using
  // `data`, which points into them) and calls again.
  Step Next(std::string_view in);

  bool done() const { return state_ == State::kDone; }
  const HttpError& error() const { return error_; }
  // Chunk data decoded so far.
  uint64_t body_bytes() const { return total_; }

 private:
  enum class State { kSize, kData, kDataEnd, kTrailer, kDone, kFailed };
  Step Fail(const HttpError& error, size_t consumed);
  // Parses one chunk-size line (without CRLF).
  bool ParseSizeLine(std::string_view line, uint64_t* size);
  // Finds the line at `in[pos..]`; returns npos when it is not complete
  // (or is malformed, with the decoder failed).
  size_t FindLine(std::string_view in, size_t pos, size_t limit);

  uint64_t max_body_bytes_;
  State state_ = State::kSize;
  uint64_t remaining_ = 0;
  uint64_t total_ = 0;
  size_t trailer_bytes_ = 0;
  HttpError error_;
};

}  // namespace tandem::proxy
