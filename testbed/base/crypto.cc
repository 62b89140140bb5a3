#include "testbed/base/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstdlib>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tandem::testbed {
namespace {

std::string ToHex(const unsigned char* data, size_t n) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(data), n));
}

std::string Pbkdf2Hex(absl::string_view password, absl::string_view salt,
                      int iterations) {
  unsigned char out[32];
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), iterations, EVP_sha256(),
                        sizeof(out), out) != 1) {
    std::abort();  // only fails on allocation failure
  }
  return ToHex(out, sizeof(out));
}

}  // namespace

std::string Sha256Hex(absl::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         digest);
  return ToHex(digest, sizeof(digest));
}

std::string HashPassword(absl::string_view password, absl::string_view salt,
                         int iterations) {
  return absl::StrCat("pbkdf2-sha256$", iterations, "$", salt, "$",
                      Pbkdf2Hex(password, salt, iterations));
}

bool VerifyPassword(absl::string_view password, absl::string_view stored) {
  std::vector<absl::string_view> parts = absl::StrSplit(stored, '$');
  int iterations;
  if (parts.size() != 4 || parts[0] != "pbkdf2-sha256" ||
      !absl::SimpleAtoi(parts[1], &iterations) || iterations < 1 ||
      iterations > 10000000) {
    return false;
  }
  std::string actual = Pbkdf2Hex(password, parts[2], iterations);
  return actual.size() == parts[3].size() &&
         CRYPTO_memcmp(actual.data(), parts[3].data(), actual.size()) == 0;
}

std::string RandomHex(int bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), bytes) != 1) std::abort();
  return ToHex(buf.data(), buf.size());
}

}  // namespace tandem::testbed
