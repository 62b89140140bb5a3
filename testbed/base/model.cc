#include "testbed/base/model.h"

#include <array>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "testbed/base/crypto.h"

namespace tandem::testbed {

const char* VersionName(SchemaVersion version) {
  return version == SchemaVersion::kV1 ? "v1" : "v2";
}

absl::StatusOr<SchemaVersion> ParseVersion(absl::string_view name) {
  if (name == "v1") return SchemaVersion::kV1;
  if (name == "v2") return SchemaVersion::kV2;
  return absl::InvalidArgumentError(
      absl::StrCat("schema version must be v1 or v2, got '", name, "'"));
}

absl::StatusOr<int64_t> DecimalToMicros(absl::string_view decimal) {
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("not a money amount: '", decimal, "'"));
  };
  absl::string_view s = decimal;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  size_t dot = s.find('.');
  absl::string_view whole = s.substr(0, dot);
  absl::string_view frac =
      dot == absl::string_view::npos ? absl::string_view() : s.substr(dot + 1);
  if (whole.empty() || whole.size() > 12) return bad();
  if (dot != absl::string_view::npos && (frac.empty() || frac.size() > 6)) {
    return bad();
  }
  int64_t value = 0;
  for (char c : whole) {
    if (!absl::ascii_isdigit(c)) return bad();
    value = value * 10 + (c - '0');
  }
  int64_t fraction = 0;
  for (size_t i = 0; i < 6; ++i) {
    int digit = 0;
    if (i < frac.size()) {
      if (!absl::ascii_isdigit(frac[i])) return bad();
      digit = frac[i] - '0';
    }
    fraction = fraction * 10 + digit;
  }
  int64_t micros = value * 1000000 + fraction;
  return negative ? -micros : micros;
}

std::string MicrosToDecimal(int64_t micros) {
  uint64_t magnitude = micros < 0 ? -static_cast<uint64_t>(micros)
                                  : static_cast<uint64_t>(micros);
  std::string frac = absl::StrFormat("%06d", magnitude % 1000000);
  while (frac.size() > 2 && frac.back() == '0') frac.pop_back();
  return absl::StrCat(micros < 0 ? "-" : "", magnitude / 1000000, ".", frac);
}

absl::StatusOr<std::string> MicrosToV1Decimal(int64_t micros) {
  if (micros % 10 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        micros, " micro-units do not fit a v1 DECIMAL(13,5) exactly"));
  }
  uint64_t magnitude = micros < 0 ? -static_cast<uint64_t>(micros)
                                  : static_cast<uint64_t>(micros);
  return absl::StrFormat("%s%d.%05d", micros < 0 ? "-" : "",
                         magnitude / 1000000, (magnitude % 1000000) / 10);
}

namespace {
constexpr char kExportedPayload[] = "tandem.testbed/customer-exported";
}  // namespace

absl::Status CustomerExportedError() {
  absl::Status s = absl::FailedPreconditionError("customer exported");
  s.SetPayload(kExportedPayload, absl::Cord("1"));
  return s;
}

bool IsCustomerExported(const absl::Status& status) {
  return status.GetPayload(kExportedPayload).has_value();
}

namespace {

struct StatusTable {
  StatusKind kind;
  std::array<const char*, 4> names;  // code = index + 1; nullptr = unused
};

constexpr StatusTable kStatusTables[] = {
    {StatusKind::kCustomer, {"open", "suspended", "closed", "exported"}},
    {StatusKind::kAccount, {"active", "blocked", "closed", nullptr}},
    {StatusKind::kSubscription, {"active", "pending", "closed", nullptr}},
    {StatusKind::kInvoice, {"open", "paid", "overdue", "void"}},
};

const StatusTable& TableFor(StatusKind kind) {
  for (const StatusTable& t : kStatusTables) {
    if (t.kind == kind) return t;
  }
  std::abort();  // every kind has a table
}

}  // namespace

std::optional<int> StatusCode(StatusKind kind, absl::string_view name) {
  const StatusTable& t = TableFor(kind);
  for (size_t i = 0; i < t.names.size(); ++i) {
    if (t.names[i] != nullptr && name == t.names[i]) {
      return static_cast<int>(i + 1);
    }
  }
  return std::nullopt;
}

std::optional<std::string> StatusName(StatusKind kind, int code) {
  const StatusTable& t = TableFor(kind);
  if (code < 1 || code > static_cast<int>(t.names.size()) ||
      t.names[code - 1] == nullptr) {
    return std::nullopt;
  }
  return std::string(t.names[code - 1]);
}

std::string DemoLogin(int64_t customer_id) {
  // A few logins outside ASCII (Latin with diacritics, Cyrillic, CJK), so
  // that every key, cookie and comparison must keep UTF-8 intact.
  switch (customer_id % 100) {
    case 17:
      return absl::StrCat("jürgen.müller", customer_id);
    case 53:
      return absl::StrCat("анна.", customer_id);
    case 89:
      return absl::StrCat("美咲", customer_id);
    default:
      return absl::StrCat("cust", customer_id);
  }
}

std::string DemoPassword(int64_t customer_id) {
  return absl::StrCat(
      "pw-", Sha256Hex(absl::StrCat("tandem-demo-password/", customer_id))
                 .substr(0, 12));
}

std::string DemoApiToken(int64_t customer_id) {
  return absl::StrCat(
      "tk_", customer_id, "_",
      Sha256Hex(absl::StrCat("tandem-demo-token/", customer_id)).substr(0, 32));
}

namespace {
std::optional<int64_t> LeadingId(absl::string_view s, char separator) {
  size_t end = s.find(separator);
  if (end == absl::string_view::npos || end == 0 || end > 19) {
    return std::nullopt;
  }
  int64_t id;
  if (!absl::SimpleAtoi(s.substr(0, end), &id) || id <= 0) return std::nullopt;
  return id;
}
}  // namespace

std::optional<int64_t> CustomerIdFromSession(absl::string_view session) {
  return LeadingId(session, '.');
}

std::optional<int64_t> CustomerIdFromToken(absl::string_view token) {
  if (!absl::ConsumePrefix(&token, "tk_")) return std::nullopt;
  return LeadingId(token, '_');
}

uint64_t Rng::Next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t Rng::Below(uint64_t n) {
  // Lemire's multiply-shift; the tiny bias is irrelevant for test data.
  return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >>
                               64);
}

int64_t Rng::Range(int64_t lo, int64_t hi) {
  return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo) + 1));
}

double Rng::Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

bool Rng::Chance(double p) { return Unit() < p; }

}  // namespace tandem::testbed
