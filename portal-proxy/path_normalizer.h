// The request target in its normal form, before anything matches on it:
// the freeze's product-admin prefixes, the login paths, the path patterns
// that name a customer. The proxy forwards the normal form, so that the
// path the billing system sees is the path the proxy judged.
//
// Normalising (RFC 3986 §6.2.2, plus two rules of this proxy):
//   - absolute-form ("http://host:port/path?q") becomes origin-form, and
//     its authority replaces the Host header (RFC 9112 §3.2.2);
//   - percent-encoded unreserved characters are decoded ("%61" -> "a"),
//     other percent-encodings get upper-case hex digits ("%2f" -> "%2F");
//   - dot segments are removed ("/./a/../b" -> "/b", after decoding, so
//     "%2e%2e" is a dot segment too);
//   - runs of slashes become one ("//a///b" -> "/a/b").
// The query is checked but kept as sent. Refused with 400: characters
// outside RFC 3986's path and query (a backslash, a space, '"', '<', '>',
// '^', '`', '{', '|', '}', controls, non-ASCII), a malformed or
// control-character percent-encoding ("%zz", "%00"), a fragment, userinfo
// in the authority, a scheme other than http and https.
//
// FreezeMatchPath gives the form the product-admin prefixes are matched
// against: the normal path, further folded the ways a lenient backend might
// read it (ASCII lower case, "%2F" and "%5C" as '/', ";params" dropped from
// each segment), so that no spelling a backend would map to a product path
// escapes the freeze. It over-matches on purpose: refusing a strange path is
// safe, forwarding a product change is not.
#pragma once

#include <string>
#include <string_view>

#include "portal-proxy/http_head.h"

namespace tandem::proxy {

// The normal form of a request target. `target` is "*" for OPTIONS *;
// otherwise the normalised path followed by "?query" when there is one.
// `authority` is the absolute-form's authority (empty for origin-form).
struct NormalTarget {
  std::string target;
  std::string authority;
  // The length of the path within `target`.
  size_t path_size = 0;
  // Working space of NormalizeTarget, kept for its capacity.
  std::string scratch;
  std::string_view path() const {
    return std::string_view(target).substr(0, path_size);
  }
};

// Normalises `raw` into `out` (reusing its strings' capacity); false with
// `error` set when the target must be refused.
bool NormalizeTarget(std::string_view raw, NormalTarget* out, HttpError* error);

// The form of the normal path `path` that the freeze matches on (see the
// file comment), into `out`.
void FreezeMatchPath(std::string_view path, std::string* out);

}  // namespace tandem::proxy
