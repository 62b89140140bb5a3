// A small, strict HTTP/1.x message-head parser for the proxy's hot path.
//
// Beast's parser is general and allocates a node per header field; most
// portal requests are simple (no body, a dozen headers), and parsing their
// heads in place, as views into the connection's buffer, is a large part of
// what makes the proxy as cheap per request as nginx. The parser accepts
// only the plain form of HTTP/1.0 and 1.1 heads (CRLF line ends, no
// obs-fold, at most kMaxHeaderFields fields, at most one Content-Length);
// anything else is kUnsupported, and the caller hands the same bytes to
// Beast, which decides (and answers 400 for what is really malformed).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tandem::proxy {

inline constexpr size_t kMaxHeaderFields = 64;

enum class HeadParse {
  // A complete head was parsed into the output.
  kComplete,
  // No end of head ("\r\n\r\n") in the data yet.
  kIncomplete,
  // A complete head this parser does not handle; let Beast parse it.
  kUnsupported,
};

struct HeaderField {
  std::string_view name;
  std::string_view value;  // without surrounding whitespace
};

// The fields both kinds of head share, and what the proxy derives from them.
struct HeadCommon {
  // 10 or 11.
  int version = 11;
  // Bytes from the start of the data to the end of the blank line.
  size_t head_bytes = 0;
  std::array<HeaderField, kMaxHeaderFields> fields;
  size_t field_count = 0;
  bool has_content_length = false;
  uint64_t content_length = 0;
  bool has_transfer_encoding = false;
  // Transfer-Encoding ends in "chunked".
  bool chunked = false;
  // Whether the connection persists after this message (HTTP/1.1 unless
  // "Connection: close"; HTTP/1.0 only with "Connection: keep-alive").
  bool keep_alive = true;
  bool has_upgrade = false;

  // The first field named `name` (ASCII case-insensitive), or "".
  std::string_view Find(std::string_view name) const;
};

struct RequestHead : HeadCommon {
  std::string_view method;
  std::string_view target;
};

struct ResponseHead : HeadCommon {
  int status = 0;
  std::string_view reason;
};

// Parses the request head at the start of `data`. The output's views point
// into `data`.
HeadParse ParseRequestHead(std::string_view data, RequestHead* head);

// Parses the response head at the start of `data`.
HeadParse ParseResponseHead(std::string_view data, ResponseHead* head);

// ASCII case-insensitive equality, for header names.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace tandem::proxy
