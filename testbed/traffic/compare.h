// The operator's dual-entry check (the go-live seed's advice): what a set of
// customers see through the one URL - profile (/api/me), accounts
// (/api/accounts, all pages), each account's settings and xDRs (all pages) -
// saved before a move and compared after it. The simulators answer in the
// same shape on both versions, so any difference is a difference in data.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tandem::testbed {

struct CompareOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  // Customers to fetch, logging in with their demo credentials.
  std::vector<int64_t> customers;
  int page_size = 1000;
};

// One customer's view, flattened: a path such as "me.balance",
// "accounts[1234].status", "settings[1234].language" or
// "xdrs[1234][98765].charged" to the value's JSON text (strings unquoted).
// Array elements are keyed by their id, so an added or removed row shows as
// such rather than shifting every index. "served_by" holds the
// X-Billing-Version of the answers (not compared).
struct CustomerView {
  std::string served_by;
  std::map<std::string, std::string> values;
};

using CustomerViews = std::map<int64_t, CustomerView>;

// Logs each customer in through host:port and fetches its view.
// UNAVAILABLE when the URL does not answer; FAILED_PRECONDITION naming the
// customer and the request when an answer is not 200 (a customer that
// cannot log in cannot be compared).
absl::StatusOr<CustomerViews> FetchCustomerViews(const CompareOptions& options);

// Writes / reads a snapshot file (JSON). Errors: PERMISSION_DENIED or
// NOT_FOUND for the file, INVALID_ARGUMENT for a file that is not a
// snapshot.
absl::Status SaveSnapshot(const CustomerViews& views, const std::string& path);
absl::StatusOr<CustomerViews> LoadSnapshot(const std::string& path);

struct CompareResult {
  int64_t customers = 0;
  int64_t values = 0;  // compared
  // One line per difference: "customer 42: xdrs[7][99].charged: '1.20' ->
  // '1.19'", "... missing now", "... new".
  std::vector<std::string> differences;
  // Per customer, where it was served before and now ("v1 -> v2").
  std::map<int64_t, std::string> moves;

  std::string ToText() const;
};

// Every difference between `before` and `now`.
CompareResult CompareViews(const CustomerViews& before,
                           const CustomerViews& now);

}  // namespace tandem::testbed
