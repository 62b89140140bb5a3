#include "portal-proxy/path_normalizer.h"

#include <vector>

#include "portal-proxy/request_framing.h"

namespace tandem::proxy {
namespace {

constexpr HttpError kBadTarget{400, "bad_target", "malformed request target"};
constexpr HttpError kBadScheme{400, "bad_target",
                               "only http and https absolute targets"};
constexpr HttpError kBadAuthority{400, "bad_target",
                                  "malformed authority in the request target"};

enum : uint8_t { kUnreserved = 1, kPathChar = 2, kQueryChar = 4 };

struct Classes {
  uint8_t of[256] = {};
  constexpr Classes() {
    for (int c = 0; c < 256; ++c) {
      const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9');
      bool unreserved = alnum || c == '-' || c == '.' || c == '_' || c == '~';
      bool path = unreserved || c == '/' || c == ':' || c == '@';
      for (const char* p = "!$&'()*+,;="; *p != '\0'; ++p) {
        path = path || c == *p;
      }
      if (unreserved) of[c] |= kUnreserved;
      if (path) of[c] |= kPathChar;
      // Queries are kept as sent: any visible character but '#'.
      if (c >= 0x21 && c <= 0x7e && c != '#') of[c] |= kQueryChar;
    }
  }
};
constexpr Classes kClasses;

bool Is(char c, uint8_t cls) {
  return (kClasses.of[static_cast<unsigned char>(c)] & cls) != 0;
}

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char Lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

// Removes dot segments and empty segments from `path` (which starts with
// '/'), appending the result to `out`; a trailing slash stays.
void RemoveDotSegments(std::string_view path, std::string* out) {
  // Segments are views into `path` (only paths that were not already in
  // normal form come here).
  std::vector<std::string_view> stack;
  stack.reserve(16);
  bool trailing = false;
  size_t pos = 1;
  for (;;) {
    size_t next = path.find('/', pos);
    const bool last = next == std::string_view::npos;
    std::string_view segment =
        path.substr(pos, last ? std::string_view::npos : next - pos);
    if (segment.empty() || segment == ".") {
      trailing = last;
    } else if (segment == "..") {
      if (!stack.empty()) stack.pop_back();
      trailing = last;
    } else {
      stack.push_back(segment);
      trailing = false;
    }
    if (last) break;
    pos = next + 1;
  }
  out->push_back('/');
  for (size_t i = 0; i < stack.size(); ++i) {
    if (i > 0) out->push_back('/');
    out->append(stack[i]);
  }
  if (trailing && !stack.empty()) out->push_back('/');
}

// Whether `path` is already in normal form: path characters only, no
// percent sign, no empty or dot segment.
bool AlreadyNormal(std::string_view path) {
  char previous = '\0';
  for (char c : path) {
    if (!Is(c, kPathChar) || c == '%') return false;
    if (previous == '/' && (c == '/' || c == '.')) return false;
    previous = c;
  }
  return true;
}

// Decodes unreserved percent-encodings of `path` into `out` and
// upper-cases the hex digits of the others; false for a character outside
// the path's grammar or a bad encoding.
bool DecodePath(std::string_view path, std::string* out) {
  static constexpr char kHexDigits[] = "0123456789ABCDEF";
  out->clear();
  for (size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c != '%') {
      if (!Is(c, kPathChar)) return false;
      out->push_back(c);
      continue;
    }
    if (i + 2 >= path.size()) return false;
    const int high = Hex(path[i + 1]);
    const int low = Hex(path[i + 2]);
    if (high < 0 || low < 0) return false;
    const int value = high * 16 + low;
    if (value < 0x20 || value == 0x7f) return false;
    if (Is(static_cast<char>(value), kUnreserved)) {
      out->push_back(static_cast<char>(value));
    } else {
      out->push_back('%');
      out->push_back(kHexDigits[high]);
      out->push_back(kHexDigits[low]);
    }
    i += 2;
  }
  return true;
}

// Splits an absolute-form target into its authority and the rest; false
// when it is not a valid http(s) URI.
bool SplitAbsolute(std::string_view raw, std::string_view* authority,
                   std::string_view* rest, HttpError* error) {
  const size_t sep = raw.find("://");
  std::string_view scheme = raw.substr(0, sep);
  if (!EqualsIgnoreCase(scheme, "http") && !EqualsIgnoreCase(scheme, "https")) {
    *error = kBadScheme;
    return false;
  }
  std::string_view after = raw.substr(sep + 3);
  const size_t end = after.find_first_of("/?");
  *authority = after.substr(0, end);
  *rest =
      end == std::string_view::npos ? std::string_view() : after.substr(end);
  if (authority->find('@') != std::string_view::npos ||
      !ValidHost(*authority)) {
    *error = kBadAuthority;
    return false;
  }
  return true;
}

}  // namespace

bool NormalizeTarget(std::string_view raw, NormalTarget* out,
                     HttpError* error) {
  out->target.clear();
  out->authority.clear();
  out->path_size = 0;
  if (raw == "*") {
    out->target = "*";
    out->path_size = 1;
    return true;
  }
  std::string_view rest = raw;
  if (raw.empty() || raw.front() != '/') {
    if (raw.find("://") == std::string_view::npos) {
      *error = kBadTarget;
      return false;
    }
    std::string_view authority;
    if (!SplitAbsolute(raw, &authority, &rest, error)) return false;
    out->authority.assign(authority);
  }
  const size_t question = rest.find('?');
  std::string_view path = rest.substr(0, question);
  std::string_view query = question == std::string_view::npos
                               ? std::string_view()
                               : rest.substr(question);
  for (size_t i = 1; i < query.size(); ++i) {
    if (!Is(query[i], kQueryChar)) {
      *error = kBadTarget;
      return false;
    }
  }
  if (path.empty()) {
    out->target.push_back('/');
  } else if (AlreadyNormal(path) && path.front() == '/') {
    out->target.append(path);
  } else {
    if (path.front() != '/' || !DecodePath(path, &out->scratch)) {
      *error = kBadTarget;
      return false;
    }
    RemoveDotSegments(out->scratch, &out->target);
  }
  out->path_size = out->target.size();
  out->target.append(query);
  return true;
}

void FreezeMatchPath(std::string_view path, std::string* out) {
  std::string folded;
  folded.reserve(path.size());
  bool in_params = false;
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '%' && i + 2 < path.size()) {
      const int value = Hex(path[i + 1]) * 16 + Hex(path[i + 2]);
      if (Hex(path[i + 1]) >= 0 && Hex(path[i + 2]) >= 0 &&
          (value == '/' || value == '\\')) {
        c = '/';
        i += 2;
      }
    } else if (c == '\\') {
      c = '/';
    }
    if (c == '/') {
      in_params = false;
    } else if (c == ';') {
      in_params = true;
    }
    if (!in_params) folded.push_back(Lower(c));
  }
  out->clear();
  if (folded.empty() || folded.front() != '/') folded.insert(0, 1, '/');
  RemoveDotSegments(folded, out);
}

}  // namespace tandem::proxy
