// What operators type for the router commands, turned into request values:
// key kinds, `kind:value` keys, systems, states, customer ids, and the
// customers CSV file of `route import --file`.
//
// Names are the RouterService enum names without their prefix, lower case:
// the same names router/import_source.h's KeyKindFromName accepts (derived
// here from the proto enums, so tandemctl need not link the router server).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tandem/common/v1/types.pb.h"
#include "tandem/router/v1/router.pb.h"

namespace tandem::cli {

// "customer_id", "login", "account_id" or "api_token" (any case) to a kind;
// anything else is INVALID_ARGUMENT listing the accepted names.
absl::StatusOr<::tandem::router::v1::KeyKind> ParseKeyKind(
    absl::string_view name);

// The lower-case name of `kind` ("account_id"), for tables.
std::string KeyKindName(::tandem::router::v1::KeyKind kind);

// "login:alice" to a key that may be stored: the kind is login, account_id
// or api_token, the value (everything after the first ':') is 1..255 bytes.
// Otherwise INVALID_ARGUMENT saying what is wrong.
absl::StatusOr<::tandem::router::v1::Key> ParseStoredKey(
    absl::string_view spec);

// "login:alice" for tables and messages.
std::string FormatKey(const ::tandem::router::v1::Key& key);

// "source" or "target" (any case, SYSTEM_ prefix allowed); otherwise
// INVALID_ARGUMENT.
absl::StatusOr<::tandem::common::v1::System> ParseSystem(
    absl::string_view name);

// "SOURCE", "TARGET", or "-" for unspecified.
std::string SystemName(::tandem::common::v1::System system);

// "stable" or "migrating" (any case, ROUTE_STATE_ prefix allowed);
// otherwise INVALID_ARGUMENT.
absl::StatusOr<::tandem::router::v1::RouteState> ParseRouteState(
    absl::string_view name);

// "STABLE", "MIGRATING", or "-" for unspecified.
std::string RouteStateName(::tandem::router::v1::RouteState state);

// A positive decimal customer id; otherwise INVALID_ARGUMENT.
absl::StatusOr<int64_t> ParseCustomerId(absl::string_view text);

// The contents of a customers CSV file, validated.
struct CustomersFile {
  // One entry per customer, in order of first appearance; keys in file
  // order without duplicates.
  std::vector<::tandem::router::v1::ImportedCustomer> customers;
  int64_t keys = 0;
};

// Parses lines of `customer_id,kind:value,kind:value...`. Blank lines and
// lines starting with '#' are skipped, and so is a first line starting with
// `customer_id,` or equal to `customer_id` (a header). Fields are trimmed;
// values cannot contain commas. A customer on several lines gets the keys of
// all of them. Every error is INVALID_ARGUMENT starting with "line N: ": a
// bad customer id, a bad key, or a key given to two different customers.
absl::StatusOr<CustomersFile> ParseCustomersCsv(absl::string_view contents);

}  // namespace tandem::cli
