#include "portal-proxy/http_head.h"

#include <cstring>

namespace tandem::proxy {
namespace {

inline char Lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

// RFC 9110 tchar.
bool IsToken(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
      (c >= '0' && c <= '9')) {
    return true;
  }
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool ContainsTokenIgnoreCase(std::string_view list, std::string_view token) {
  // A comma-separated list; compare each trimmed element.
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) {
      item.remove_prefix(1);
    }
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) {
      item.remove_suffix(1);
    }
    if (EqualsIgnoreCase(item, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// Parses "HTTP/1.x"; returns 10, 11 or 0.
int ParseVersion(std::string_view v) {
  if (v == "HTTP/1.1") return 11;
  if (v == "HTTP/1.0") return 10;
  return 0;
}

// Parses the field lines of `lines` (each ending in CRLF, the blank line
// excluded) into `head`.
HeadParse ParseFields(std::string_view lines, HeadCommon* head) {
  head->field_count = 0;
  std::string_view connection;
  while (!lines.empty()) {
    size_t eol = lines.find("\r\n");
    // `lines` always ends in CRLF, so a line is found.
    std::string_view line = lines.substr(0, eol);
    lines.remove_prefix(eol + 2);
    if (line.empty() || line.front() == ' ' || line.front() == '\t') {
      return HeadParse::kUnsupported;  // obs-fold
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return HeadParse::kUnsupported;
    }
    std::string_view name = line.substr(0, colon);
    for (char c : name) {
      if (!IsToken(c)) return HeadParse::kUnsupported;
    }
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
      value.remove_suffix(1);
    }
    for (char c : value) {
      const unsigned char u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7f) return HeadParse::kUnsupported;
    }
    if (head->field_count == kMaxHeaderFields) {
      return HeadParse::kUnsupported;
    }
    head->fields[head->field_count++] = HeaderField{name, value};
    switch (Lower(name.front())) {
      case 'c':
        if (EqualsIgnoreCase(name, "content-length")) {
          if (head->has_content_length || value.empty() || value.size() > 18) {
            return HeadParse::kUnsupported;
          }
          uint64_t n = 0;
          for (char c : value) {
            if (c < '0' || c > '9') return HeadParse::kUnsupported;
            n = n * 10 + static_cast<uint64_t>(c - '0');
          }
          head->has_content_length = true;
          head->content_length = n;
        } else if (EqualsIgnoreCase(name, "connection")) {
          if (!connection.empty()) return HeadParse::kUnsupported;
          connection = value;
        }
        break;
      case 't':
        if (EqualsIgnoreCase(name, "transfer-encoding")) {
          head->has_transfer_encoding = true;
          std::string_view last =
              value.substr(value.rfind(',') == std::string_view::npos
                               ? 0
                               : value.rfind(',') + 1);
          while (!last.empty() && last.front() == ' ') last.remove_prefix(1);
          head->chunked = EqualsIgnoreCase(last, "chunked");
        }
        break;
      case 'u':
        if (EqualsIgnoreCase(name, "upgrade")) head->has_upgrade = true;
        break;
      default:
        break;
    }
  }
  if (head->version == 11) {
    head->keep_alive = !ContainsTokenIgnoreCase(connection, "close");
  } else {
    head->keep_alive = ContainsTokenIgnoreCase(connection, "keep-alive");
  }
  return HeadParse::kComplete;
}

// Splits `data` into the start line and the field lines; kIncomplete
// without a blank line yet.
HeadParse SplitHead(std::string_view data, std::string_view* start_line,
                    std::string_view* lines, HeadCommon* head) {
  size_t end = data.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    return HeadParse::kIncomplete;
  }
  head->head_bytes = end + 4;
  size_t first = data.find("\r\n");
  *start_line = data.substr(0, first);
  *lines = first == end ? std::string_view()
                        : data.substr(first + 2, end + 2 - (first + 2));
  head->has_content_length = false;
  head->content_length = 0;
  head->has_transfer_encoding = false;
  head->chunked = false;
  head->has_upgrade = false;
  return HeadParse::kComplete;
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::string_view HeadCommon::Find(std::string_view name) const {
  for (size_t i = 0; i < field_count; ++i) {
    if (EqualsIgnoreCase(fields[i].name, name)) return fields[i].value;
  }
  return {};
}

HeadParse ParseRequestHead(std::string_view data, RequestHead* head) {
  std::string_view start;
  std::string_view lines;
  HeadParse split = SplitHead(data, &start, &lines, head);
  if (split != HeadParse::kComplete) return split;
  size_t sp1 = start.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : start.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos ||
      sp1 == 0 || sp2 == sp1 + 1) {
    return HeadParse::kUnsupported;
  }
  head->method = start.substr(0, sp1);
  for (char c : head->method) {
    if (!IsToken(c)) return HeadParse::kUnsupported;
  }
  head->target = start.substr(sp1 + 1, sp2 - sp1 - 1);
  for (char c : head->target) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return HeadParse::kUnsupported;
  }
  head->version = ParseVersion(start.substr(sp2 + 1));
  if (head->version == 0) return HeadParse::kUnsupported;
  return ParseFields(lines, head);
}

HeadParse ParseResponseHead(std::string_view data, ResponseHead* head) {
  std::string_view start;
  std::string_view lines;
  HeadParse split = SplitHead(data, &start, &lines, head);
  if (split != HeadParse::kComplete) return split;
  // "HTTP/1.1 200 OK" (the reason may be empty, with or without its space).
  if (start.size() < 12 || start[8] != ' ') return HeadParse::kUnsupported;
  head->version = ParseVersion(start.substr(0, 8));
  if (head->version == 0) return HeadParse::kUnsupported;
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (start[i] < '0' || start[i] > '9') return HeadParse::kUnsupported;
    status = status * 10 + (start[i] - '0');
  }
  if (status < 100) return HeadParse::kUnsupported;
  head->status = status;
  if (start.size() > 12) {
    if (start[12] != ' ') return HeadParse::kUnsupported;
    head->reason = start.substr(13);
  } else {
    head->reason = {};
  }
  return ParseFields(lines, head);
}

}  // namespace tandem::proxy
