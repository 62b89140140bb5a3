#include "testbed/sim/portal_http.h"

#include <openssl/crypto.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tandem::testbed::portal_http {

HttpResponse Json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse Error(int status, absl::string_view message) {
  HttpResponse r = Json(status, JsonError(message));
  if (status == 401) {
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"billing\"");
  }
  return r;
}

HttpResponse MethodNotAllowed(absl::string_view allow) {
  HttpResponse r = Error(405, "method not allowed");
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

// A customer marked exported: the body and header a dispatcher (the
// portal-proxy) recognises to re-send the request to the system the customer
// moved to.
HttpResponse Exported() {
  HttpResponse r = Json(409, JsonError("customer exported"));
  r.headers.emplace_back(kExportedHeader, "1");
  return r;
}

// Maps a store error to the response a client can act on.
HttpResponse FromStatus(const absl::Status& s) {
  if (IsCustomerExported(s)) return Exported();
  switch (s.code()) {
    case absl::StatusCode::kNotFound:
      return Error(404, s.message());
    case absl::StatusCode::kInvalidArgument:
      return Error(400, s.message());
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
      return Error(409, s.message());
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kDeadlineExceeded: {
      HttpResponse r = Error(503, "billing database unavailable");
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    default:
      return Error(500, "internal error");
  }
}

// "YYYY-MM-DD HH:MM:SS" -> "YYYY-MM-DDTHH:MM:SSZ".
std::string ApiTime(const std::string& sql_time) {
  if (sql_time.size() != 19) return sql_time;
  std::string out = sql_time;
  out[10] = 'T';
  out.push_back('Z');
  return out;
}

std::optional<std::string> PercentDecode(absl::string_view in, bool plus) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+' && plus) {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      int value = 0;
      for (int k = 1; k <= 2; ++k) {
        char h = in[i + k];
        value <<= 4;
        if (h >= '0' && h <= '9') {
          value |= h - '0';
        } else if (h >= 'a' && h <= 'f') {
          value |= h - 'a' + 10;
        } else if (h >= 'A' && h <= 'F') {
          value |= h - 'A' + 10;
        } else {
          return std::nullopt;
        }
      }
      out.push_back(static_cast<char>(value));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Parses `a=b&c=d` (query strings and form bodies).
std::optional<Params> ParseParams(absl::string_view s) {
  Params out;
  if (s.empty()) return out;
  for (absl::string_view part : absl::StrSplit(s, '&')) {
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::optional<std::string> key = PercentDecode(part.substr(0, eq), true);
    std::optional<std::string> value =
        PercentDecode(eq == absl::string_view::npos ? absl::string_view()
                                                    : part.substr(eq + 1),
                      true);
    if (!key || !value) return std::nullopt;
    out.emplace_back(std::move(*key), std::move(*value));
  }
  return out;
}

const std::string* Param(const Params& params, absl::string_view name) {
  for (const auto& [k, v] : params) {
    if (k == name) return &v;
  }
  return nullptr;
}

std::string CookieValue(absl::string_view header, absl::string_view name) {
  for (absl::string_view part : absl::StrSplit(header, ';')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, name) && absl::ConsumePrefix(&part, "=")) {
      return std::string(part);
    }
  }
  return "";
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() &&
         CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<int64_t> PositiveId(absl::string_view s) {
  int64_t id;
  if (s.empty() || s.size() > 19 ||
      !std::all_of(s.begin(), s.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(s, &id) || id <= 0) {
    return std::nullopt;
  }
  return id;
}

// page_size: absent or 0 = default, 1..1000, larger values are clamped.
std::optional<int> PageSize(const Params& q) {
  const std::string* s = Param(q, "page_size");
  if (s == nullptr) return kDefaultPageSize;
  int n;
  if (!absl::SimpleAtoi(*s, &n) || n < 0) return std::nullopt;
  if (n == 0) return kDefaultPageSize;
  return std::min(n, kMaxPageSize);
}

std::string EncodeToken(absl::string_view raw) {
  std::string out;
  absl::WebSafeBase64Escape(raw, &out);
  return out;
}

// Decodes a page token "<kind>:<payload>" of the expected kind.
std::optional<std::string> DecodeToken(const Params& q, char kind) {
  const std::string* s = Param(q, "page_token");
  if (s == nullptr || s->empty()) return std::string();
  std::string raw;
  if (!absl::WebSafeBase64Unescape(*s, &raw) || raw.size() < 3 ||
      raw[0] != kind || raw[1] != ':') {
    return std::nullopt;
  }
  return raw.substr(2);
}

void WriteSettings(JsonWriter& w, const Settings& settings) {
  w.BeginObject();
  for (const auto& [k, v] : settings) w.Field(k, v);
  w.EndObject();
}

void WriteAccount(JsonWriter& w, const Account& a) {
  w.BeginObject()
      .Field("account_id", a.id)
      .Field("phone_number", a.phone_number)
      .Key("product")
      .BeginObject()
      .Field("code", a.product_code)
      .Field("name", a.product_name)
      .EndObject()
      .Field("balance", MicrosToDecimal(a.balance_micros))
      .Field("status", a.status)
      .Key("service_settings");
  WriteSettings(w, a.settings);
  w.Field("created_at", ApiTime(a.created_at)).EndObject();
}

void WriteProduct(JsonWriter& w, const Product& p) {
  w.BeginObject()
      .Field("product_id", p.id)
      .Field("code", p.code)
      .Field("name", p.name)
      .Field("category", p.category)
      .Field("contract_pool", p.contract_pool)
      .Field("is_addon", p.is_addon)
      .Field("monthly_fee", MicrosToDecimal(p.monthly_fee_micros))
      .Field("currency", p.currency)
      .Key("activation_params");
  Settings params;
  absl::StatusOr<JsonValue> parsed = JsonValue::Parse(p.activation_params);
  if (parsed.ok() && parsed->is_object()) {
    for (const auto& [k, v] : parsed->members()) {
      params.emplace_back(k, v.is_string() || v.is_number() ? v.text() : "");
    }
  }
  std::sort(params.begin(), params.end());
  WriteSettings(w, params);
  w.Key("resources").BeginArray();
  for (const ResourceLimit& r : p.resources) {
    w.BeginObject().Field("type", r.type_code).Field("limit", r.limit);
    w.EndObject();
  }
  w.EndArray().Key("addons").BeginArray();
  for (const std::string& code : p.addon_codes) w.String(code);
  w.EndArray();
  w.Field("updated_at", ApiTime(p.updated_at.substr(0, 19))).EndObject();
}

bool IsJson(const HttpRequest& r) {
  return absl::StartsWithIgnoreCase(r.Header("Content-Type"),
                                    "application/json");
}

// Parses a JSON object body; nullopt + *error on failure.
std::optional<JsonValue> ObjectBody(const HttpRequest& r, HttpResponse* error) {
  if (!IsJson(r)) {
    *error = Error(415, "expected Content-Type: application/json");
    return std::nullopt;
  }
  absl::StatusOr<JsonValue> body = JsonValue::Parse(r.body);
  if (!body.ok()) {
    *error = Error(400, body.status().message());
    return std::nullopt;
  }
  if (!body->is_object()) {
    *error = Error(400, "the body must be a JSON object");
    return std::nullopt;
  }
  return *std::move(body);
}

std::optional<int64_t> MoneyField(const JsonValue& v) {
  if (!v.is_string() && !v.is_number()) return std::nullopt;
  absl::StatusOr<int64_t> micros = DecimalToMicros(v.text());
  if (!micros.ok()) return std::nullopt;
  return *micros;
}

// A JSON object of strings -> canonical JSON text; nullopt if not one.
std::optional<std::string> StringObject(const JsonValue& v) {
  if (!v.is_object()) return std::nullopt;
  JsonWriter w;
  w.BeginObject();
  for (const auto& [k, value] : v.members()) {
    if (!value.is_string()) return std::nullopt;
    w.Field(k, value.text());
  }
  w.EndObject();
  return w.Release();
}

std::optional<std::vector<ResourceLimit>> Resources(const JsonValue& v) {
  if (!v.is_array()) return std::nullopt;
  std::vector<ResourceLimit> out;
  for (const JsonValue& e : v.elements()) {
    const JsonValue* type = e.Find("type");
    const JsonValue* limit = e.Find("limit");
    int64_t n;
    if (!e.is_object() || e.members().size() != 2 || type == nullptr ||
        !type->is_string() || limit == nullptr || !limit->is_number() ||
        !absl::SimpleAtoi(limit->text(), &n) || n < 0) {
      return std::nullopt;
    }
    out.push_back({type->text(), n});
  }
  return out;
}

std::optional<std::vector<std::string>> Codes(const JsonValue& v) {
  if (!v.is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const JsonValue& e : v.elements()) {
    if (!e.is_string()) return std::nullopt;
    out.push_back(e.text());
  }
  return out;
}

bool ValidSettingName(absl::string_view s) {
  return !s.empty() && s.size() <= 64 &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_';
         });
}

bool ValidProductCode(absl::string_view s) {
  return !s.empty() && s.size() <= 64 &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return absl::ascii_isupper(c) || absl::ascii_isdigit(c) ||
                  c == '-' || c == '_';
         });
}

}  // namespace tandem::testbed::portal_http
