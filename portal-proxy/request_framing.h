// How a request's body is delimited, decided from its parsed head by the
// rules of RFC 9112 §6 and §3.2, strictly: whatever the proxy cannot be
// sure every backend reads the same way is refused, so that no request can
// hide another (request smuggling).
//
//   - Transfer-Encoding must be exactly "chunked" (one field, one coding):
//     an unknown or unsupported coding ("gzip", "xchunked", "identity") is
//     501; "chunked" applied twice or not last ("chunked, chunked",
//     "chunked, identity") is 400; so is Transfer-Encoding on HTTP/1.0, or
//     together with Content-Length.
//   - Content-Length must come once, as digits only; over `max_body_bytes`
//     it is 413.
//   - Host must come exactly once, non-empty, as host[:port].
//   - The request target must be origin-form ("/path"), absolute-form
//     ("http://host/path"), or "*" with OPTIONS; CONNECT is 501.
#pragma once

#include <cstdint>
#include <string_view>

#include "portal-proxy/http_head.h"

namespace tandem::proxy {

struct BodyFraming {
  enum class Kind { kNone, kLength, kChunked };
  Kind kind = Kind::kNone;
  // The length for kLength (may be 0).
  uint64_t length = 0;
};

// Decides `head`'s framing; false with `error` set when the head must be
// refused.
bool DecideRequestFraming(const RequestHead& head, uint64_t max_body_bytes,
                          BodyFraming* framing, HttpError* error);

// How a backend's response body is delimited (RFC 9112 §6.3): none for a
// HEAD request, 1xx, 204 and 304; chunked when Transfer-Encoding is exactly
// "chunked"; the Content-Length; otherwise up to the close of the
// connection (kNone with `until_close`). False for framing the proxy will
// not relay (another transfer coding, both headers, a malformed or
// repeated length): the proxy answers 502.
bool DecideResponseFraming(const ResponseHead& head, bool head_request,
                           BodyFraming* framing, bool* until_close);

// Parses a Content-Length value: 1 to 19 digits, nothing else.
bool ParseContentLength(std::string_view value, uint64_t* length);

// Whether `host` is a valid, non-empty Host value: reg-name, IPv4 address
// or bracketed IP literal, with an optional port (RFC 9110 §7.2).
bool ValidHost(std::string_view host);

}  // namespace tandem::proxy
