// The login name in a login request's body, read exactly as the billing
// systems read it (testbed/sim/portal_service.cc), so that the proxy and
// the system it forwards to always agree on who logs in:
//   - Content-Type starting with "application/json" (any case): a JSON
//     object (RFC 8259; nesting up to 64, no duplicate member names) whose
//     top-level member `field` is a string, escapes (\uXXXX and surrogate
//     pairs too) decoded;
//   - Content-Type starting with "application/x-www-form-urlencoded": the
//     first pair named `field`, '+' and %XX decoded; a malformed %-escape
//     anywhere makes the whole form malformed;
//   - any other Content-Type: no login (the billing system answers 415).
#pragma once

#include <string>
#include <string_view>

namespace tandem::proxy {

enum class LoginBody {
  // `login` holds the decoded name.
  kFound,
  // A well-formed body without the field (the billing system answers 400
  // wherever it goes), or a content type that carries no login.
  kAbsent,
  // The body cannot be read as its content type says: the proxy cannot tell
  // who logs in.
  kMalformed,
};

// Reads the login name of `body` (see the file comment).
LoginBody ExtractLogin(std::string_view content_type, std::string_view body,
                       std::string_view field, std::string* login);

}  // namespace tandem::proxy
