#include "migrator/engine/values.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace tandem::migrator {
namespace {

using int128 = __int128;

struct Decimal {
  bool negative = false;
  int128 digits = 0;  // the value is digits * 10^-fraction
  int fraction = 0;
};

absl::StatusOr<Decimal> ParseDecimal(absl::string_view text) {
  Decimal d;
  absl::string_view s = absl::StripAsciiWhitespace(text);
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    d.negative = s[0] == '-';
    s.remove_prefix(1);
  }
  bool any = false, point = false;
  int significant = 0;
  for (char c : s) {
    if (c == '.' && !point) {
      point = true;
      continue;
    }
    if (c < '0' || c > '9') {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", text, "\" is not a decimal number"));
    }
    any = true;
    if (d.digits != 0 || c != '0') ++significant;
    if (significant > 30) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", text, "\" has too many digits"));
    }
    d.digits = d.digits * 10 + (c - '0');
    if (point) ++d.fraction;
  }
  if (!any) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" is not a decimal number"));
  }
  return d;
}

int128 Pow10(int n) {
  int128 p = 1;
  for (int i = 0; i < n; ++i) p *= 10;
  return p;
}

std::string Format(bool negative, int128 digits, int scale) {
  // The digits, least significant first; 64-bit division once the value
  // fits (128-bit division is a library call per digit).
  char reversed[80];
  size_t n = 0;
  while (digits > static_cast<int128>(UINT64_MAX)) {
    reversed[n++] = static_cast<char>('0' + static_cast<int>(digits % 10));
    digits /= 10;
  }
  for (uint64_t d = static_cast<uint64_t>(digits); d > 0; d /= 10) {
    reversed[n++] = static_cast<char>('0' + static_cast<int>(d % 10));
  }
  const bool zero = n == 0;
  const size_t fraction = scale > 0 ? static_cast<size_t>(scale) : 0;
  const size_t shown = std::max(n, fraction + 1);
  std::string s;
  s.reserve(shown + 2);
  if (negative && !zero) s.push_back('-');
  for (size_t i = shown; i-- > 0;) {
    s.push_back(i < n ? reversed[i] : '0');
    if (fraction > 0 && i == fraction) s.push_back('.');
  }
  return s;
}

// True when `text` is already what Rescale(text, 0, scale) gives: an
// optional minus (not of zero), no leading zeros, exactly `scale` decimals,
// at most 18 digits.
bool IsCanonical(absl::string_view text, int scale) {
  size_t i = 0;
  const bool negative = !text.empty() && text[0] == '-';
  if (negative) ++i;
  const size_t start = i;
  bool nonzero = false;
  while (i < text.size() && absl::ascii_isdigit(text[i])) {
    nonzero = nonzero || text[i] != '0';
    ++i;
  }
  const size_t whole = i - start;
  if (whole == 0 || (whole > 1 && text[start] == '0')) return false;
  size_t decimals = 0;
  if (scale > 0) {
    if (i == text.size() || text[i] != '.') return false;
    ++i;
    const size_t from = i;
    while (i < text.size() && absl::ascii_isdigit(text[i])) {
      nonzero = nonzero || text[i] != '0';
      ++i;
    }
    decimals = i - from;
    if (decimals != static_cast<size_t>(scale)) return false;
  }
  return i == text.size() && whole + decimals <= 18 && (nonzero || !negative);
}

}  // namespace

int Log10(int64_t power_of_ten) {
  int n = 0;
  while (power_of_ten >= 10) {
    power_of_ten /= 10;
    ++n;
  }
  return n;
}

absl::StatusOr<Rescaled> Rescale(absl::string_view decimal, int shift,
                                 int target_scale) {
  absl::StatusOr<Decimal> d = ParseDecimal(decimal);
  if (!d.ok()) return d.status();
  // value = digits * 10^(shift - fraction); wanted: n * 10^-target_scale.
  const int exponent = shift - d->fraction + target_scale;
  Rescaled out;
  int128 n;
  if (exponent >= 0) {
    n = d->digits * Pow10(exponent);
    out.exact_text = Format(d->negative, n, target_scale);
  } else {
    const int128 divisor = Pow10(-exponent);
    n = d->digits / divisor;
    const int128 remainder = d->digits % divisor;
    out.exact = remainder == 0;
    // The exact value needs -exponent more decimals.
    out.exact_text = Format(d->negative, d->digits, target_scale - exponent);
    if (remainder * 2 >= divisor) ++n;  // half away from zero
  }
  if (n >= Pow10(18)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", decimal, "\" scaled by 10^", shift, " does not fit"));
  }
  out.text = Format(d->negative, n, target_scale);
  return out;
}

absl::StatusOr<std::string> DecimalDifference(absl::string_view a,
                                              absl::string_view b) {
  absl::StatusOr<Decimal> x = ParseDecimal(a);
  if (!x.ok()) return x.status();
  absl::StatusOr<Decimal> y = ParseDecimal(b);
  if (!y.ok()) return y.status();
  const int scale = std::max(x->fraction, y->fraction);
  int128 xv = x->digits * Pow10(scale - x->fraction);
  int128 yv = y->digits * Pow10(scale - y->fraction);
  if (x->negative) xv = -xv;
  if (y->negative) yv = -yv;
  int128 d = xv - yv;
  const bool negative = d < 0;
  return Format(negative, negative ? -d : d, scale);
}

absl::StatusOr<std::string> DecimalSum(absl::string_view a,
                                       absl::string_view b) {
  absl::string_view digits = absl::StripAsciiWhitespace(b);
  std::string negated =
      !digits.empty() && digits[0] == '-'
          ? std::string(digits.substr(1))
          : absl::StrCat("-", digits.empty() || digits[0] != '+'
                                  ? digits
                                  : digits.substr(1));
  return DecimalDifference(a, negated);
}

bool IsZeroDecimal(absl::string_view decimal) {
  absl::StatusOr<Decimal> d = ParseDecimal(decimal);
  return d.ok() && d->digits == 0;
}

absl::StatusOr<std::string> Canonical(const ColumnInfo& column,
                                      const std::string& value) {
  if (!column.IsNumeric()) return value;
  const int scale = column.IsDecimal() ? column.scale : 0;
  // Most values arrive canonical already (read from the database, or just
  // rescaled): checking is much cheaper than parsing and formatting.
  if (IsCanonical(value, scale)) return value;
  absl::StatusOr<Rescaled> r = Rescale(value, 0, scale);
  if (!r.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        column.name, " (", column.column_type, "): ", r.status().message()));
  }
  if (!r->exact) {
    return absl::InvalidArgumentError(
        absl::StrCat(column.name, " (", column.column_type, ") cannot hold ",
                     value, " exactly"));
  }
  return r->text;
}

namespace {

// Collects the top-level scalar members of an object, keeping the source
// text of non-integer numbers (an integer's text is its decimal form).
class SplitHandler final : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::map<std::string, std::string> members;
  bool top_is_object = false;

  bool null() override { return Drop(); }
  bool boolean(bool v) override { return Take(v ? "true" : "false"); }
  bool number_integer(number_integer_t v) override {
    return Take(std::to_string(v));
  }
  bool number_unsigned(number_unsigned_t v) override {
    return Take(std::to_string(v));
  }
  bool number_float(number_float_t, const string_t& s) override {
    return Take(s);
  }
  bool string(string_t& v) override { return Take(v); }
  bool binary(binary_t&) override { return Drop(); }
  bool start_object(std::size_t) override {
    if (depth_ == 0) top_is_object = true;
    if (depth_ == 1) Drop();
    ++depth_;
    return true;
  }
  bool key(string_t& k) override {
    if (depth_ == 1) key_ = k;
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    if (depth_ == 0) return false;
    if (depth_ == 1) Drop();
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  // A later member of the same name replaces an earlier one, as MariaDB's
  // JSON functions read it; a dropped value removes it.
  bool Drop() {
    if (depth_ == 1) members.erase(key_);
    return true;
  }
  bool Take(const std::string& v) {
    if (depth_ == 0) return false;
    if (depth_ == 1) members[key_] = v;
    return true;
  }
  int depth_ = 0;
  std::string key_;
};

}  // namespace

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> SplitJson(
    absl::string_view json) {
  SplitHandler handler;
  std::string text(json);
  if (!nlohmann::json::sax_parse(text, &handler) || !handler.top_is_object) {
    return absl::InvalidArgumentError("the value is not a JSON object");
  }
  return std::vector<std::pair<std::string, std::string>>(
      handler.members.begin(), handler.members.end());
}

std::string CollectJson(
    const std::vector<std::pair<std::string, std::string>>& members) {
  std::string out = "{";
  for (size_t i = 0; i < members.size(); ++i) {
    if (i > 0) out += ", ";
    out += nlohmann::json(members[i].first).dump();
    out += ": ";
    out += nlohmann::json(members[i].second).dump();
  }
  out += "}";
  return out;
}

}  // namespace tandem::migrator
