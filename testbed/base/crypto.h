// Hashing for the testbed's credentials: PBKDF2-SHA256 password hashes and
// SHA-256 digests of session cookies and API tokens (only digests are
// stored, so a database dump reveals no usable credential).
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace tandem::testbed {

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(absl::string_view data);

// "pbkdf2-sha256$<iterations>$<salt>$<hex digest>".
std::string HashPassword(absl::string_view password, absl::string_view salt,
                         int iterations);

// True when `password` matches `stored` (a HashPassword result); compares
// in constant time. False for a malformed `stored`.
bool VerifyPassword(absl::string_view password, absl::string_view stored);

// `bytes` random bytes from the OpenSSL CSPRNG, as lower-case hex.
std::string RandomHex(int bytes);

}  // namespace tandem::testbed
