#include "portal-proxy/request_framing.h"

namespace tandem::proxy {
namespace {

constexpr HttpError kMissingHost{400, "missing_host",
                                 "a Host header is required"};
constexpr HttpError kDuplicateHost{400, "duplicate_host",
                                   "more than one Host header"};
constexpr HttpError kBadHost{400, "bad_host", "malformed Host header"};
constexpr HttpError kTeOnHttp10{
    400, "transfer_encoding_http10",
    "Transfer-Encoding is not allowed in an HTTP/1.0 request"};
constexpr HttpError kTeAndLength{
    400, "transfer_encoding_and_length",
    "Transfer-Encoding and Content-Length together are not accepted"};
constexpr HttpError kDuplicateTe{400, "duplicate_transfer_encoding",
                                 "more than one Transfer-Encoding header"};
constexpr HttpError kChunkedNotLast{
    400, "bad_transfer_encoding",
    "chunked must be the only transfer coding, applied once"};
constexpr HttpError kUnsupportedCoding{
    501, "unsupported_transfer_coding",
    "only the chunked transfer coding is supported"};
constexpr HttpError kBadLength{400, "bad_content_length",
                               "malformed Content-Length"};
constexpr HttpError kDuplicateLength{400, "duplicate_content_length",
                                     "more than one Content-Length header"};
constexpr HttpError kBodyTooLarge{413, "body_too_large",
                                  "request body larger than the limit"};
constexpr HttpError kBadTarget{400, "bad_target", "malformed request target"};
constexpr HttpError kConnect{501, "connect",
                             "CONNECT is not supported by this server"};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Checks the Transfer-Encoding list; sets `chunked` when it is exactly
// "chunked".
bool CheckCodings(std::string_view value, HttpError* error) {
  int elements = 0;
  int chunked_at = -1;
  int chunked_count = 0;
  bool bad_element = false;
  ForEachListElement(value, [&](std::string_view coding) {
    for (char c : coding) {
      if (!IsTokenChar(c)) bad_element = true;
    }
    if (EqualsIgnoreCase(coding, "chunked")) {
      chunked_at = elements;
      ++chunked_count;
    }
    ++elements;
    return true;
  });
  if (elements == 0 || bad_element || !HasNoEmptyListElement(value)) {
    *error = kChunkedNotLast;
    return false;
  }
  if (chunked_count > 1 || (chunked_count == 1 && chunked_at != elements - 1)) {
    *error = kChunkedNotLast;
    return false;
  }
  if (chunked_count == 0 || elements > 1) {
    *error = kUnsupportedCoding;  // another coding, alone or before chunked
    return false;
  }
  return true;
}

bool ValidTargetForm(const RequestHead& head, HttpError* error) {
  std::string_view target = head.target;
  if (head.method == "CONNECT") {
    *error = kConnect;
    return false;
  }
  if (target == "*") {
    if (head.method != "OPTIONS") {
      *error = kBadTarget;
      return false;
    }
    return true;
  }
  if (!target.empty() && target.front() == '/') return true;
  // absolute-form: a scheme, then "://"; path_normalizer.h checks the rest.
  size_t colon = target.find("://");
  if (colon == std::string_view::npos || colon == 0) {
    *error = kBadTarget;
    return false;
  }
  return true;
}

}  // namespace

bool ParseContentLength(std::string_view value, uint64_t* length) {
  if (value.empty() || value.size() > 19) return false;
  uint64_t n = 0;
  for (char c : value) {
    if (!IsDigit(c)) return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  *length = n;
  return true;
}

bool ValidHost(std::string_view host) {
  if (host.empty()) return false;
  std::string_view name = host;
  std::string_view port;
  if (host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : host.substr(1, close - 1)) {
      const bool ok = IsDigit(c) || (c >= 'a' && c <= 'f') ||
                      (c >= 'A' && c <= 'F') || c == ':' || c == '.';
      if (!ok) return false;
    }
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
      if (port.empty()) return false;
    }
    name = {};
  } else {
    size_t colon = host.rfind(':');
    if (colon != std::string_view::npos) {
      name = host.substr(0, colon);
      port = host.substr(colon + 1);
      if (port.empty()) return false;
    }
    if (name.empty()) return false;
  }
  for (char c : name) {
    // reg-name: unreserved, pct-encoded and sub-delims (RFC 3986 §3.2.2).
    const bool ok =
        IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        std::string_view("-._~%!$&'()*+,;=").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  if (port.size() > 5) return false;
  for (char c : port) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

bool DecideRequestFraming(const RequestHead& head, uint64_t max_body_bytes,
                          BodyFraming* framing, HttpError* error) {
  *framing = BodyFraming();
  if (head.host_count == 0) {
    *error = kMissingHost;
    return false;
  }
  if (head.host_count > 1) {
    *error = kDuplicateHost;
    return false;
  }
  if (!ValidHost(head.host)) {
    *error = kBadHost;
    return false;
  }
  if (!ValidTargetForm(head, error)) return false;
  if (head.transfer_encoding_count > 0) {
    if (head.version == 10) {
      *error = kTeOnHttp10;
      return false;
    }
    if (head.content_length_count > 0) {
      *error = kTeAndLength;
      return false;
    }
    if (head.transfer_encoding_count > 1) {
      *error = kDuplicateTe;
      return false;
    }
    if (!CheckCodings(head.transfer_encoding, error)) return false;
    framing->kind = BodyFraming::Kind::kChunked;
    return true;
  }
  if (head.content_length_count > 1) {
    *error = kDuplicateLength;
    return false;
  }
  if (head.content_length_count == 1) {
    uint64_t length = 0;
    if (!ParseContentLength(head.content_length, &length)) {
      *error = kBadLength;
      return false;
    }
    if (length > max_body_bytes) {
      *error = kBodyTooLarge;
      return false;
    }
    framing->kind = BodyFraming::Kind::kLength;
    framing->length = length;
  }
  return true;
}

bool DecideResponseFraming(const ResponseHead& head, bool head_request,
                           BodyFraming* framing, bool* until_close) {
  *framing = BodyFraming();
  *until_close = false;
  if (head.transfer_encoding_count > 0 && head.content_length_count > 0) {
    return false;
  }
  if (head.content_length_count > 1) return false;
  uint64_t length = 0;
  if (head.content_length_count == 1 &&
      !ParseContentLength(head.content_length, &length)) {
    return false;
  }
  if (head_request || head.status < 200 || head.status == 204 ||
      head.status == 304) {
    return true;
  }
  if (head.transfer_encoding_count > 0) {
    HttpError ignored;
    if (head.transfer_encoding_count > 1 ||
        !CheckCodings(head.transfer_encoding, &ignored)) {
      return false;
    }
    framing->kind = BodyFraming::Kind::kChunked;
    return true;
  }
  if (head.content_length_count == 1) {
    framing->kind = BodyFraming::Kind::kLength;
    framing->length = length;
    return true;
  }
  *until_close = true;
  return true;
}

}  // namespace tandem::proxy
