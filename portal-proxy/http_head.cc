#include "portal-proxy/http_head.h"

#include <cstring>

namespace tandem::proxy {
namespace {

inline char Lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

// Character classes, one table lookup each.
enum : uint8_t { kToken = 1, kFieldValue = 2 };

struct Classes {
  uint8_t of[256] = {};
  constexpr Classes() {
    for (int c = 0; c < 256; ++c) {
      const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9');
      bool token = alnum;
      for (const char* p = "!#$%&'*+-.^_`|~"; *p != '\0'; ++p) {
        token = token || c == *p;
      }
      if (token) of[c] |= kToken;
      // VCHAR, obs-text, SP and HTAB (RFC 9110 §5.5).
      if ((c >= 0x21 && c <= 0x7e) || c >= 0x80 || c == ' ' || c == '\t') {
        of[c] |= kFieldValue;
      }
    }
  }
};
constexpr Classes kClasses;

inline bool Is(char c, uint8_t cls) {
  return (kClasses.of[static_cast<unsigned char>(c)] & cls) != 0;
}

constexpr HttpError kBareLf{400, "bare_lf",
                            "line ends must be CRLF, not a bare LF"};
constexpr HttpError kBareCr{400, "bare_cr", "a bare CR in the message head"};
constexpr HttpError kBadRequestLine{400, "bad_request_line",
                                    "malformed request line"};
constexpr HttpError kBadStatusLine{502, "bad_status_line",
                                   "malformed status line"};
constexpr HttpError kBadField{400, "bad_header_field",
                              "malformed header field"};
constexpr HttpError kObsFold{400, "obs_fold",
                             "folded header lines are not accepted"};
constexpr HttpError kTooManyFields{431, "too_many_header_fields",
                                   "too many header fields"};
constexpr HttpError kVersion{505, "http_version",
                             "only HTTP/1.0 and HTTP/1.1 are supported"};

constexpr HttpError kBadConnection{400, "bad_connection",
                                   "malformed Connection header"};

// Sets the derived flags for the field just added; false for a Connection
// header that is not a list of tokens (a parser reading it differently
// could keep or drop different fields).
bool Derive(const HeaderField& field, HeadCommon* head, HttpError* error) {
  const std::string_view name = field.name;
  switch (name.size()) {
    case 4:
      if (EqualsIgnoreCase(name, "host")) {
        if (head->host_count++ == 0) head->host = field.value;
      }
      break;
    case 6:
      if (EqualsIgnoreCase(name, "expect")) {
        head->expect_continue = EqualsIgnoreCase(field.value, "100-continue");
      }
      break;
    case 7:
      if (EqualsIgnoreCase(name, "upgrade")) head->has_upgrade = true;
      break;
    case 10:
      if (EqualsIgnoreCase(name, "connection")) {
        const bool tokens =
            ForEachListElement(field.value, [head](std::string_view token) {
              for (char c : token) {
                if (!IsTokenChar(c)) return false;
              }
              if (EqualsIgnoreCase(token, "close")) {
                head->connection_close = true;
              } else if (EqualsIgnoreCase(token, "keep-alive")) {
                head->connection_keep_alive = true;
              } else if (EqualsIgnoreCase(token, "upgrade")) {
                head->connection_upgrade = true;
              } else {
                head->connection_lists_fields = true;
              }
              return true;
            });
        if (!tokens || !HasNoEmptyListElement(field.value)) {
          *error = kBadConnection;
          return false;
        }
      }
      break;
    case 14:
      if (EqualsIgnoreCase(name, "content-length")) {
        if (head->content_length_count++ == 0) {
          head->content_length = field.value;
        }
      }
      break;
    case 17:
      if (EqualsIgnoreCase(name, "transfer-encoding")) {
        if (head->transfer_encoding_count++ == 0) {
          head->transfer_encoding = field.value;
        }
      }
      break;
    default:
      break;
  }
  return true;
}

// Parses one field line (without its CRLF) into `head`.
bool ParseField(std::string_view line, HeadCommon* head, HttpError* error) {
  if (line.front() == ' ' || line.front() == '\t') {
    *error = kObsFold;
    return false;
  }
  size_t colon = 0;
  while (colon < line.size() && Is(line[colon], kToken)) ++colon;
  // A name of token characters, then the colon at once (no whitespace
  // before it, RFC 9112 §5.1).
  if (colon == 0 || colon == line.size() || line[colon] != ':') {
    *error = kBadField;
    return false;
  }
  std::string_view value = line.substr(colon + 1);
  for (char c : value) {
    if (!Is(c, kFieldValue)) {
      *error = kBadField;
      return false;
    }
  }
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
    value.remove_prefix(1);
  }
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
    value.remove_suffix(1);
  }
  if (head->field_count == kMaxHeaderFields) {
    *error = kTooManyFields;
    return false;
  }
  HeaderField& field = head->fields[head->field_count++];
  field = HeaderField{line.substr(0, colon), value};
  return Derive(field, head, error);
}

void ResetCommon(HeadCommon* head) {
  head->version = 11;
  head->head_bytes = 0;
  head->field_count = 0;
  head->content_length_count = 0;
  head->content_length = {};
  head->transfer_encoding_count = 0;
  head->transfer_encoding = {};
  head->host_count = 0;
  head->host = {};
  head->has_upgrade = false;
  head->connection_close = false;
  head->connection_keep_alive = false;
  head->connection_upgrade = false;
  head->connection_lists_fields = false;
  head->expect_continue = false;
}

// "HTTP/1.1" -> 11, "HTTP/1.0" -> 10; another "HTTP/d.d" -> -1 (505);
// anything else 0.
int ParseVersion(std::string_view v) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[6] != '.' || v[5] < '0' ||
      v[5] > '9' || v[7] < '0' || v[7] > '9') {
    return 0;
  }
  if (v[5] == '1' && v[7] == '1') return 11;
  if (v[5] == '1' && v[7] == '0') return 10;
  return -1;
}

bool ParseRequestLine(std::string_view line, RequestHead* head,
                      HttpError* error) {
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos ||
      sp1 == 0 || sp2 == sp1 + 1) {
    *error = kBadRequestLine;
    return false;
  }
  head->method = line.substr(0, sp1);
  for (char c : head->method) {
    if (!Is(c, kToken)) {
      *error = kBadRequestLine;
      return false;
    }
  }
  head->target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  for (char c : head->target) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      *error = kBadRequestLine;
      return false;
    }
  }
  const int version = ParseVersion(line.substr(sp2 + 1));
  if (version <= 0) {
    *error = version < 0 ? kVersion : kBadRequestLine;
    return false;
  }
  head->version = version;
  return true;
}

bool ParseStatusLine(std::string_view line, ResponseHead* head,
                     HttpError* error) {
  // "HTTP/1.1 200 OK" (the reason may be empty, with or without its space).
  if (line.size() < 12 || line[8] != ' ' ||
      ParseVersion(line.substr(0, 8)) <= 0) {
    *error = kBadStatusLine;
    return false;
  }
  head->version = ParseVersion(line.substr(0, 8));
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') {
      *error = kBadStatusLine;
      return false;
    }
    status = status * 10 + (line[i] - '0');
  }
  if (status < 100 || (line.size() > 12 && line[12] != ' ')) {
    *error = kBadStatusLine;
    return false;
  }
  head->status = status;
  head->reason = line.size() > 12 ? line.substr(13) : std::string_view();
  for (char c : head->reason) {
    if (!Is(c, kFieldValue)) {
      *error = kBadStatusLine;
      return false;
    }
  }
  return true;
}

// True when `data` has a CR that is followed by something other than LF.
bool HasBareCr(std::string_view data) {
  for (size_t at = data.find('\r'); at != std::string_view::npos;
       at = data.find('\r', at + 1)) {
    if (at + 1 < data.size() && data[at + 1] != '\n') return true;
  }
  return false;
}

// Splits `data` (from `pos`) into lines and hands each to `line_of`, the
// first as the start line. Every line must end in CRLF.
template <typename StartLine>
HeadParse ParseLines(std::string_view data, size_t pos, HeadCommon* head,
                     HttpError* error, StartLine start_line) {
  bool first = true;
  for (;;) {
    const void* found = pos < data.size() ? std::memchr(data.data() + pos, '\n',
                                                        data.size() - pos)
                                          : nullptr;
    if (found == nullptr) {
      if (HasBareCr(data.substr(pos))) {
        *error = kBareCr;
        return HeadParse::kError;
      }
      return HeadParse::kIncomplete;
    }
    const size_t nl = static_cast<const char*>(found) - data.data();
    if (nl == pos || data[nl - 1] != '\r') {
      *error = kBareLf;
      return HeadParse::kError;
    }
    std::string_view line = data.substr(pos, nl - 1 - pos);
    if (line.find('\r') != std::string_view::npos) {
      *error = kBareCr;
      return HeadParse::kError;
    }
    pos = nl + 1;
    if (first) {
      if (!start_line(line)) return HeadParse::kError;
      first = false;
    } else if (line.empty()) {
      head->head_bytes = pos;
      return HeadParse::kComplete;
    } else if (!ParseField(line, head, error)) {
      return HeadParse::kError;
    }
  }
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

bool IsTokenChar(char c) { return Is(c, kToken); }

bool HasNoEmptyListElement(std::string_view list) {
  for (;;) {
    const size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) {
      item.remove_prefix(1);
    }
    if (item.empty()) return false;
    if (comma == std::string_view::npos) return true;
    list.remove_prefix(comma + 1);
  }
}

std::string_view HeadCommon::Find(std::string_view name) const {
  for (size_t i = 0; i < field_count; ++i) {
    if (EqualsIgnoreCase(fields[i].name, name)) return fields[i].value;
  }
  return {};
}

HeadParse ParseRequestHead(std::string_view data, RequestHead* head,
                           HttpError* error) {
  ResetCommon(head);
  size_t pos = 0;
  for (size_t skipped = 0; data.substr(pos, 2) == "\r\n"; ++skipped) {
    if (skipped == kMaxEmptyLines) {
      *error = kBadRequestLine;
      return HeadParse::kError;
    }
    pos += 2;
  }
  return ParseLines(data, pos, head, error, [&](std::string_view line) {
    return ParseRequestLine(line, head, error);
  });
}

HeadParse ParseResponseHead(std::string_view data, ResponseHead* head,
                            HttpError* error) {
  ResetCommon(head);
  return ParseLines(data, 0, head, error, [&](std::string_view line) {
    return ParseStatusLine(line, head, error);
  });
}

}  // namespace tandem::proxy
