#include "catalog/billing_values.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tandem::catalog {
namespace {

using ::tandem::catalog::v1::ActivationParameter;
using ::tandem::catalog::v1::ProductKind;
using ::tandem::catalog::v1::ProductSpec;
using ::tandem::catalog::v1::ResourceType;

constexpr int64_t kMicrosPerUnit = 1000000;
// DECIMAL(13,5): eight integer digits.
constexpr int64_t kV1FeeLimitMicros = 100000000 * kMicrosPerUnit;

// Characters (code points) of UTF-8 text, as VARCHAR(n) counts them.
size_t Utf8Length(absl::string_view text) {
  return std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  });
}

}  // namespace

// Parses DECIMAL text such as "-12.34567" into micro-units, exactly.
absl::StatusOr<int64_t> DecimalToMicros(absl::string_view text) {
  const bool negative = !text.empty() && text.front() == '-';
  if (negative) {
    text.remove_prefix(1);
  }
  absl::string_view whole = text;
  absl::string_view fraction;
  if (size_t dot = text.find('.'); dot != absl::string_view::npos) {
    whole = text.substr(0, dot);
    fraction = text.substr(dot + 1);
  }
  auto all_digits = [](absl::string_view s) {
    return std::all_of(s.begin(), s.end(), absl::ascii_isdigit);
  };
  if (whole.empty() || whole.size() > 12 || fraction.size() > 6 ||
      !all_digits(whole) || !all_digits(fraction)) {
    return absl::InternalError(
        absl::StrCat("`", text, "` is not a DECIMAL(13,5) amount"));
  }
  int64_t micros = 0;
  for (char c : whole) {
    micros = micros * 10 + (c - '0');
  }
  micros *= kMicrosPerUnit;
  int64_t scale = kMicrosPerUnit / 10;
  for (char c : fraction) {
    micros += (c - '0') * scale;
    scale /= 10;
  }
  return negative ? -micros : micros;
}

// Formats micro-units for a DECIMAL(13,5) column, or says why it cannot.
absl::StatusOr<std::string> MicrosToDecimal(int64_t micros) {
  if (micros % 10 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "monthly fee of ", micros,
        " micros has more than 5 decimal places, which the v1 schema "
        "cannot hold"));
  }
  if (micros >= kV1FeeLimitMicros || micros <= -kV1FeeLimitMicros) {
    return absl::InvalidArgumentError(
        absl::StrCat("monthly fee of ", micros,
                     " micros is too large for the v1 schema's "
                     "DECIMAL(13,5)"));
  }
  const int64_t abs = std::llabs(micros);
  return absl::StrFormat("%s%d.%05d", micros < 0 ? "-" : "",
                         abs / kMicrosPerUnit, (abs % kMicrosPerUnit) / 10);
}

// Reads an activation_params column: a JSON object whose members are the
// parameters. Non-string values (the schema promises strings, but the column
// is free JSON) become their JSON text rather than failing the whole read.
absl::Status ParseActivationParameters(const std::string& json,
                                       ProductSpec* spec) {
  google::protobuf::Struct object;
  google::protobuf::util::Status parsed =
      google::protobuf::util::JsonStringToMessage(json, &object);
  if (!parsed.ok()) {
    return absl::InternalError(absl::StrCat(
        "activation_params is not a JSON object: ", parsed.ToString()));
  }
  std::vector<ActivationParameter> params;
  params.reserve(object.fields_size());
  for (const auto& [name, value] : object.fields()) {
    ActivationParameter& param = params.emplace_back();
    param.set_name(name);
    if (value.kind_case() == google::protobuf::Value::kStringValue) {
      param.set_value(value.string_value());
    } else {
      std::string text;
      google::protobuf::util::Status printed =
          google::protobuf::util::MessageToJsonString(value, &text);
      if (!printed.ok()) {
        return absl::InternalError(
            absl::StrCat("activation parameter `", name,
                         "` cannot be printed: ", printed.ToString()));
      }
      param.set_value(text);
    }
  }
  // Byte order, not the database collation's: the interface promises a
  // sort the caller can reproduce.
  std::sort(params.begin(), params.end(),
            [](const ActivationParameter& a, const ActivationParameter& b) {
              return a.name() < b.name();
            });
  for (ActivationParameter& param : params) {
    *spec->add_activation_parameters() = std::move(param);
  }
  return absl::OkStatus();
}

// Writes the parameters as a JSON object of strings. The protobuf JSON
// printer escapes quotes, backslashes and control characters.
absl::StatusOr<std::string> ActivationParametersJson(const ProductSpec& spec) {
  google::protobuf::Struct object;
  for (const ActivationParameter& param : spec.activation_parameters()) {
    (*object.mutable_fields())[param.name()].set_string_value(param.value());
  }
  std::string json;
  google::protobuf::util::Status printed =
      google::protobuf::util::MessageToJsonString(object, &json);
  if (!printed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "activation parameters cannot be written as JSON (is every name and "
        "value UTF-8?): ",
        printed.ToString()));
  }
  return json;
}

// Checks what can be checked without the database: the spec fits the
// schema's columns and is a consistent product.
absl::Status CheckFitsSchema(const ProductSpec& spec) {
  struct Field {
    const char* name;
    const std::string& value;
    size_t max;
  };
  for (const Field& f :
       {Field{"code", spec.code(), 64}, Field{"name", spec.name(), 128},
        Field{"category", spec.category(), 32},
        Field{"contract_pool", spec.contract_pool(), 64},
        Field{"currency", spec.pricing().currency(), 3}}) {
    if (Utf8Length(f.value) > f.max) {
      return absl::InvalidArgumentError(absl::StrCat(
          "product ", f.name, " `", f.value,
          "` is longer than the billing schema's ", f.max, " characters"));
    }
  }
  if (spec.kind() != ProductKind::PRODUCT_KIND_MAIN &&
      spec.kind() != ProductKind::PRODUCT_KIND_ADDON) {
    return absl::InvalidArgumentError("product kind is required");
  }
  if (spec.kind() == ProductKind::PRODUCT_KIND_ADDON &&
      spec.addon_product_ids_size() > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "add-on product `", spec.code(), "` cannot itself carry add-ons"));
  }
  std::set<std::string> codes;
  for (const ResourceType& type : spec.resource_types()) {
    if (!codes.insert(type.code()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("resource type `", type.code(), "` appears twice"));
    }
    if (type.limit() < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "resource type `", type.code(), "` has a negative limit"));
    }
  }
  if (spec.pricing().monthly_fee_micros() < 0) {
    return absl::InvalidArgumentError("monthly fee is negative");
  }
  return absl::OkStatus();
}

}  // namespace tandem::catalog
