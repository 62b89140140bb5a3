// Internal to PortalService (portal_service.cc): the HTTP and JSON helpers
// its routes share — responses, query strings and cookies, page tokens, the
// API's JSON shapes, and the validation of request bodies. Not an interface
// of the billing simulator.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "testbed/base/json.h"
#include "testbed/sim/billing_store.h"
#include "testbed/sim/http_types.h"
#include "testbed/sim/portal_service.h"

namespace tandem::testbed::portal_http {

constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 1000;

// A response of `status` with the JSON `body`.
HttpResponse Json(int status, std::string body);

// A response of `status` whose JSON body is {"error": message}.
HttpResponse Error(int status, absl::string_view message);

// 405, naming the methods the path answers in the Allow header.
HttpResponse MethodNotAllowed(absl::string_view allow);

// A customer marked exported: the body and header a dispatcher (the
// portal-proxy) recognises to re-send the request to the system the customer
// moved to.
HttpResponse Exported();

// Maps a store error to the response a client can act on.
HttpResponse FromStatus(const absl::Status& s);

// "YYYY-MM-DD HH:MM:SS" -> "YYYY-MM-DDTHH:MM:SSZ".
std::string ApiTime(const std::string& sql_time);

// Decodes %XX escapes (and `+` as a space when `plus`); nullopt for a
// malformed escape.
std::optional<std::string> PercentDecode(absl::string_view in, bool plus);

using Params = std::vector<std::pair<std::string, std::string>>;

// Parses `a=b&c=d` (query strings and form bodies).
std::optional<Params> ParseParams(absl::string_view s);

// The first value of `name` in `params`; null when absent.
const std::string* Param(const Params& params, absl::string_view name);

// The value of cookie `name` in a Cookie `header`; empty when absent.
std::string CookieValue(absl::string_view header, absl::string_view name);

// Compares secrets in time that does not depend on where they differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// `s` as an id (a positive integer); nullopt otherwise.
std::optional<int64_t> PositiveId(absl::string_view s);

// page_size: absent or 0 = default, 1..1000, larger values are clamped.
std::optional<int> PageSize(const Params& q);

// A page token's opaque, URL-safe form of `raw` ("<kind>:<payload>").
std::string EncodeToken(absl::string_view raw);

// Decodes a page token "<kind>:<payload>" of the expected kind.
std::optional<std::string> DecodeToken(const Params& q, char kind);

// The API's JSON shapes of settings, an account and a product, written
// to `w` (the same on both versions: the API is the contract).
void WriteSettings(JsonWriter& w, const Settings& settings);

void WriteAccount(JsonWriter& w, const Account& a);

void WriteProduct(JsonWriter& w, const Product& p);

// True when the request says its body is JSON.
bool IsJson(const HttpRequest& r);

// Parses a JSON object body; nullopt + *error on failure.
std::optional<JsonValue> ObjectBody(const HttpRequest& r, HttpResponse* error);

// A money amount (a JSON string or number) in micro units; nullopt when
// not one.
std::optional<int64_t> MoneyField(const JsonValue& v);

// A JSON object of strings -> canonical JSON text; nullopt if not one.
std::optional<std::string> StringObject(const JsonValue& v);

// A product's resources, [{"type": ..., "limit": n >= 0}]; nullopt when
// malformed.
std::optional<std::vector<ResourceLimit>> Resources(const JsonValue& v);

// An array of strings; nullopt when not one.
std::optional<std::vector<std::string>> Codes(const JsonValue& v);

// Setting names: 1-64 of [a-z0-9_]. Product codes: 1-64 of [A-Z0-9_-].
bool ValidSettingName(absl::string_view s);

bool ValidProductCode(absl::string_view s);

}  // namespace tandem::testbed::portal_http
