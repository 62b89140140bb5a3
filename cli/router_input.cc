#include "cli/router_input.h"

#include <map>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tandem::cli {
namespace {

namespace v1 = ::tandem::router::v1;
using ::tandem::common::v1::System;

constexpr size_t kMaxKeyValue = 255;

// Upper-cases `name` and puts `prefix` in front unless it is already there.
std::string EnumName(absl::string_view prefix, absl::string_view name) {
  std::string upper = absl::AsciiStrToUpper(name);
  if (!absl::StartsWith(upper, prefix)) {
    upper = absl::StrCat(prefix, upper);
  }
  return upper;
}

}  // namespace

absl::StatusOr<v1::KeyKind> ParseKeyKind(absl::string_view name) {
  v1::KeyKind kind = v1::KEY_KIND_UNSPECIFIED;
  if (name.empty() || !v1::KeyKind_Parse(EnumName("KEY_KIND_", name), &kind) ||
      kind == v1::KEY_KIND_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown key kind `", name,
                     "`; want customer_id, login, account_id or api_token"));
  }
  return kind;
}

std::string KeyKindName(v1::KeyKind kind) {
  const std::string& full = v1::KeyKind_Name(kind);
  absl::string_view name = full;
  absl::ConsumePrefix(&name, "KEY_KIND_");
  return absl::AsciiStrToLower(name);
}

absl::StatusOr<v1::Key> ParseStoredKey(absl::string_view spec) {
  std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(spec, absl::MaxSplits(':', 1));
  if (!absl::StrContains(spec, ':')) {
    return absl::InvalidArgumentError(
        absl::StrCat("key `", spec, "` is not kind:value"));
  }
  absl::StatusOr<v1::KeyKind> kind = ParseKeyKind(parts.first);
  if (!kind.ok()) {
    return kind.status();
  }
  if (*kind == v1::KEY_KIND_CUSTOMER_ID) {
    return absl::InvalidArgumentError(
        "customer_id keys are implicit and cannot be stored; use login, "
        "account_id or api_token");
  }
  if (parts.second.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("key `", spec, "` has an empty value"));
  }
  if (parts.second.size() > kMaxKeyValue) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key value of `", parts.first, "` is longer than 255 bytes"));
  }
  v1::Key key;
  key.set_kind(*kind);
  key.set_value(std::string(parts.second));
  return key;
}

std::string FormatKey(const v1::Key& key) {
  return absl::StrCat(KeyKindName(key.kind()), ":", key.value());
}

absl::StatusOr<System> ParseSystem(absl::string_view name) {
  System system = ::tandem::common::v1::SYSTEM_UNSPECIFIED;
  if (name.empty() ||
      !::tandem::common::v1::System_Parse(EnumName("SYSTEM_", name), &system) ||
      system == ::tandem::common::v1::SYSTEM_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown system `", name, "`; want source or target"));
  }
  return system;
}

std::string SystemName(System system) {
  if (system == ::tandem::common::v1::SYSTEM_UNSPECIFIED ||
      !::tandem::common::v1::System_IsValid(system)) {
    return "-";
  }
  const std::string& full = ::tandem::common::v1::System_Name(system);
  absl::string_view name = full;
  absl::ConsumePrefix(&name, "SYSTEM_");
  return std::string(name);
}

absl::StatusOr<v1::RouteState> ParseRouteState(absl::string_view name) {
  v1::RouteState state = v1::ROUTE_STATE_UNSPECIFIED;
  if (name.empty() ||
      !v1::RouteState_Parse(EnumName("ROUTE_STATE_", name), &state) ||
      state == v1::ROUTE_STATE_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown route state `", name, "`; want stable or migrating"));
  }
  return state;
}

std::string RouteStateName(v1::RouteState state) {
  if (state == v1::ROUTE_STATE_UNSPECIFIED || !v1::RouteState_IsValid(state)) {
    return "-";
  }
  const std::string& full = v1::RouteState_Name(state);
  absl::string_view name = full;
  absl::ConsumePrefix(&name, "ROUTE_STATE_");
  return std::string(name);
}

absl::StatusOr<int64_t> ParseCustomerId(absl::string_view text) {
  int64_t id = 0;
  if (!absl::SimpleAtoi(text, &id) || id <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "customer id `", text, "` is not a positive decimal integer"));
  }
  return id;
}

absl::StatusOr<CustomersFile> ParseCustomersCsv(absl::string_view contents) {
  CustomersFile file;
  // Where each customer sits in `file.customers`, and the keys it has.
  std::map<int64_t, size_t> index;
  std::set<std::pair<int64_t, std::string>> keys_of_customer;
  // Which customer (and line) each key was first given to.
  std::map<std::pair<int, std::string>, std::pair<int64_t, int>> owner;
  int line_number = 0;
  bool first_content_line = true;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') {
      continue;
    }
    std::vector<absl::string_view> fields = absl::StrSplit(line, ',');
    for (absl::string_view& field : fields) {
      field = absl::StripAsciiWhitespace(field);
    }
    if (first_content_line) {
      first_content_line = false;
      if (absl::AsciiStrToLower(fields.front()) == "customer_id") {
        continue;
      }
    }
    auto error = [line_number](absl::string_view message) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": ", message));
    };
    absl::StatusOr<int64_t> id = ParseCustomerId(fields.front());
    if (!id.ok()) {
      return error(id.status().message());
    }
    auto [it, inserted] = index.emplace(*id, file.customers.size());
    if (inserted) {
      file.customers.emplace_back().set_customer_id(*id);
    }
    v1::ImportedCustomer& customer = file.customers[it->second];
    for (size_t i = 1; i < fields.size(); ++i) {
      if (fields[i].empty() && i + 1 == fields.size()) {
        continue;  // A trailing comma.
      }
      absl::StatusOr<v1::Key> key = ParseStoredKey(fields[i]);
      if (!key.ok()) {
        return error(key.status().message());
      }
      auto [previous, fresh] = owner.emplace(
          std::make_pair(static_cast<int>(key->kind()), key->value()),
          std::make_pair(*id, line_number));
      if (!fresh && previous->second.first != *id) {
        return error(absl::StrCat(
            "key ", FormatKey(*key), " is also given to customer ",
            previous->second.first, " on line ", previous->second.second));
      }
      if (keys_of_customer.emplace(*id, FormatKey(*key)).second) {
        *customer.add_keys() = *std::move(key);
        ++file.keys;
      }
    }
  }
  return file;
}

}  // namespace tandem::cli
