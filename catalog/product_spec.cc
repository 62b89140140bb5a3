#include "catalog/product_spec.h"

#include <algorithm>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tandem::catalog {
namespace {

namespace v1 = ::tandem::catalog::v1;
using ::tandem::common::v1::System;

bool IsCodeChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

absl::Status Invalid(absl::string_view message) {
  return absl::InvalidArgumentError(message);
}

}  // namespace

absl::Status ValidateProductSpec(const v1::ProductSpec& spec, System system) {
  if (spec.code().empty() || spec.code().size() > 64 ||
      !std::all_of(spec.code().begin(), spec.code().end(), IsCodeChar)) {
    return Invalid("spec.code must be 1-64 characters of [A-Za-z0-9_.-]");
  }
  if (spec.name().empty() || spec.name().size() > 128) {
    return Invalid("spec.name must be 1-128 bytes");
  }
  if (spec.category().size() > 32) {
    return Invalid("spec.category must be at most 32 bytes");
  }
  if (spec.contract_pool().size() > 64) {
    return Invalid("spec.contract_pool must be at most 64 bytes");
  }
  if (spec.kind() != v1::PRODUCT_KIND_MAIN &&
      spec.kind() != v1::PRODUCT_KIND_ADDON) {
    return Invalid("spec.kind must be PRODUCT_KIND_MAIN or PRODUCT_KIND_ADDON");
  }
  if (!spec.has_pricing()) return Invalid("spec.pricing is required");
  const std::string& currency = spec.pricing().currency();
  if (currency.size() != 3 ||
      !std::all_of(currency.begin(), currency.end(),
                   [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return Invalid("spec.pricing.currency must be three upper-case letters");
  }
  int64_t fee = spec.pricing().monthly_fee_micros();
  // DECIMAL(13,5) on the source; the target's BIGINT holds more, but the
  // same bound keeps a product clonable both ways.
  if (fee < 0 || fee > 99'999'999'999'990) {
    return Invalid(
        "spec.pricing.monthly_fee_micros must be between 0 and "
        "99999999999990");
  }
  if (system == ::tandem::common::v1::SYSTEM_SOURCE && fee % 10 != 0) {
    return Invalid(
        "spec.pricing.monthly_fee_micros must be a multiple of 10 on the "
        "source system (it keeps five decimals)");
  }
  std::set<std::string> codes;
  for (const v1::ResourceType& type : spec.resource_types()) {
    if (type.code().empty() || type.code().size() > 64) {
      return Invalid("spec.resource_types[].code must be 1-64 bytes");
    }
    if (!codes.insert(type.code()).second) {
      return Invalid(absl::StrCat("spec.resource_types: resource type ",
                                  type.code(), " appears twice"));
    }
    if (type.limit() < 0) {
      return Invalid(absl::StrCat("spec.resource_types: limit of ", type.code(),
                                  " is negative"));
    }
  }
  if (spec.kind() == v1::PRODUCT_KIND_ADDON &&
      spec.addon_product_ids_size() > 0) {
    return Invalid("spec.addon_product_ids must be empty for an add-on");
  }
  std::set<int64_t> addons;
  for (int64_t id : spec.addon_product_ids()) {
    if (id <= 0) return Invalid("spec.addon_product_ids must be positive");
    if (!addons.insert(id).second) {
      return Invalid(
          absl::StrCat("spec.addon_product_ids: ", id, " appears twice"));
    }
  }
  std::set<std::string> names;
  for (const v1::ActivationParameter& param : spec.activation_parameters()) {
    if (param.name().empty() || param.name().size() > 64) {
      return Invalid("spec.activation_parameters[].name must be 1-64 bytes");
    }
    if (param.value().size() > 1024) {
      return Invalid(absl::StrCat("spec.activation_parameters: value of ",
                                  param.name(), " exceeds 1,024 bytes"));
    }
    if (!names.insert(param.name()).second) {
      return Invalid(absl::StrCat("spec.activation_parameters: ", param.name(),
                                  " appears twice"));
    }
  }
  return absl::OkStatus();
}

v1::ProductSpec CanonicalSpec(v1::ProductSpec spec) {
  auto* types = spec.mutable_resource_types();
  std::sort(types->begin(), types->end(),
            [](const v1::ResourceType& a, const v1::ResourceType& b) {
              return a.code() < b.code();
            });
  auto* params = spec.mutable_activation_parameters();
  std::sort(
      params->begin(), params->end(),
      [](const v1::ActivationParameter& a, const v1::ActivationParameter& b) {
        return a.name() < b.name();
      });
  auto* addons = spec.mutable_addon_product_ids();
  std::sort(addons->begin(), addons->end());
  return spec;
}

SpecDifference DiffSpecs(const v1::ProductSpec& before_in,
                         const v1::ProductSpec& after_in) {
  v1::ProductSpec before = CanonicalSpec(before_in);
  v1::ProductSpec after = CanonicalSpec(after_in);
  std::vector<std::string> fields;
  SpecDifference diff;
  if (before.pricing().currency() != after.pricing().currency() ||
      before.pricing().monthly_fee_micros() !=
          after.pricing().monthly_fee_micros()) {
    diff.price = true;
    fields.push_back("pricing");
  }
  auto config = [&](bool differs, const char* field) {
    if (differs) {
      diff.configuration = true;
      fields.push_back(field);
    }
  };
  config(before.code() != after.code(), "code");
  config(before.name() != after.name(), "name");
  config(before.category() != after.category(), "category");
  config(before.kind() != after.kind(), "kind");
  config(before.contract_pool() != after.contract_pool(), "contract_pool");
  bool types_differ =
      before.resource_types_size() != after.resource_types_size();
  for (int i = 0; !types_differ && i < before.resource_types_size(); ++i) {
    types_differ =
        before.resource_types(i).code() != after.resource_types(i).code() ||
        before.resource_types(i).limit() != after.resource_types(i).limit();
  }
  config(types_differ, "resource_types");
  config(!std::equal(before.addon_product_ids().begin(),
                     before.addon_product_ids().end(),
                     after.addon_product_ids().begin(),
                     after.addon_product_ids().end()),
         "addon_product_ids");
  bool params_differ =
      before.activation_parameters_size() != after.activation_parameters_size();
  for (int i = 0; !params_differ && i < before.activation_parameters_size();
       ++i) {
    params_differ = before.activation_parameters(i).name() !=
                        after.activation_parameters(i).name() ||
                    before.activation_parameters(i).value() !=
                        after.activation_parameters(i).value();
  }
  config(params_differ, "activation_parameters");
  diff.fields = absl::StrJoin(fields, ", ");
  return diff;
}

}  // namespace tandem::catalog
