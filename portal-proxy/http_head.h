// The proxy's one HTTP/1.x message-head parser (RFC 9112), for requests
// from clients and responses from the billing systems alike.
//
// Strict by design, because what the proxy forwards must be exactly what
// it parsed: lines end in CRLF (a bare LF or a bare CR is an error at once,
// without waiting for the rest of the head), no whitespace between a field
// name and its colon, no obs-fold, no control characters in values, the
// start line's parts separated by exactly one space. Up to kMaxEmptyLines
// empty lines before a request line are skipped (RFC 9112 §2.2). The head is
// parsed in place: the output's views point into the caller's data, and
// nothing is allocated.
//
// The framing rules that need more than one field (Transfer-Encoding against
// Content-Length and Host, RFC 9112 §6) are request_framing.h's.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tandem::proxy {

inline constexpr size_t kMaxHeaderFields = 64;
inline constexpr size_t kMaxEmptyLines = 4;

// Why a message was refused: the status the proxy answers (400, 413, 431,
// 501, 505; a backend's broken response becomes 502), a label for
// tandem_proxy_client_errors_total{reason} and the message of the JSON body.
// The strings are literals.
struct HttpError {
  int status = 400;
  const char* reason = "malformed";
  const char* message = "malformed request";
};

enum class HeadParse {
  // A complete head was parsed into the output.
  kComplete,
  // No end of head yet, and nothing wrong in what came so far.
  kIncomplete,
  // The head is malformed; the error says how.
  kError,
};

struct HeaderField {
  std::string_view name;
  std::string_view value;  // without surrounding whitespace
};

// The fields both kinds of head share, and what the proxy derives from them.
struct HeadCommon {
  // 10 or 11.
  int version = 11;
  // Bytes from the start of the data to the end of the blank line (with
  // the empty lines skipped before a request line).
  size_t head_bytes = 0;
  std::array<HeaderField, kMaxHeaderFields> fields;
  size_t field_count = 0;
  // The fields that decide framing and routing: how many times each came,
  // and the first one's value.
  int content_length_count = 0;
  std::string_view content_length;
  int transfer_encoding_count = 0;
  std::string_view transfer_encoding;
  int host_count = 0;
  std::string_view host;
  bool has_upgrade = false;
  // Connection tokens (over every Connection field).
  bool connection_close = false;
  bool connection_keep_alive = false;
  bool connection_upgrade = false;
  // A Connection token other than close, keep-alive and upgrade: the
  // fields it names are hop-by-hop too (RFC 9110 §7.6.1).
  bool connection_lists_fields = false;
  // "Expect: 100-continue".
  bool expect_continue = false;

  // Whether the connection persists after this message: HTTP/1.1 unless
  // "Connection: close"; HTTP/1.0 only with "Connection: keep-alive".
  bool keep_alive() const {
    return version == 11 ? !connection_close
                         : connection_keep_alive && !connection_close;
  }

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
// into `data`. On kError, `error` says why (400; 431 for more than
// kMaxHeaderFields fields; 505 for an HTTP version other than 1.0 and 1.1).
HeadParse ParseRequestHead(std::string_view data, RequestHead* head,
                           HttpError* error);

// Parses the response head at the start of `data`.
HeadParse ParseResponseHead(std::string_view data, ResponseHead* head,
                            HttpError* error);

// ASCII case-insensitive equality, for header names and tokens.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// RFC 9110 tchar.
bool IsTokenChar(char c);

// Calls `visit(token)` for each element of a comma-separated list value
// (RFC 9110 §5.6.1), trimmed of optional whitespace; empty elements are
// skipped. Stops early when `visit` returns false; returns whether it ran
// to the end.
template <typename Visit>
bool ForEachListElement(std::string_view list, Visit visit) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) {
      item.remove_prefix(1);
    }
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) {
      item.remove_suffix(1);
    }
    if (!item.empty() && !visit(item)) return false;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return true;
}

// Whether the list value has no empty element ("a,,b", "a,", ", a"): the
// proxy refuses such lists where parsers are known to disagree on them
// (Transfer-Encoding, Connection).
bool HasNoEmptyListElement(std::string_view list);

}  // namespace tandem::proxy
