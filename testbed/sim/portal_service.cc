// PortalService: the portal/API and admin routes of one billing system: one
// function per customer API route (Api<Route>), HandleApi routing and
// authenticating in front of them, and the admin product API last. The
// helpers they share (responses, parameters, tokens, JSON shapes) are in
// portal_http.h.
#include "testbed/sim/portal_service.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "testbed/base/crypto.h"
#include "testbed/base/json.h"
#include "testbed/sim/mysql_billing_store.h"
#include "testbed/sim/portal_http.h"

namespace tandem::testbed {
namespace {

constexpr int64_t kMaxTopUpMicros = 100000LL * 1000000;

using portal_http::ApiTime;
using portal_http::Codes;
using portal_http::ConstantTimeEquals;
using portal_http::CookieValue;
using portal_http::DecodeToken;
using portal_http::EncodeToken;
using portal_http::Error;
using portal_http::Exported;
using portal_http::FromStatus;
using portal_http::IsJson;
using portal_http::Json;
using portal_http::MethodNotAllowed;
using portal_http::MoneyField;
using portal_http::ObjectBody;
using portal_http::PageSize;
using portal_http::Param;
using portal_http::Params;
using portal_http::ParseParams;
using portal_http::PercentDecode;
using portal_http::PositiveId;
using portal_http::Resources;
using portal_http::StringObject;
using portal_http::ValidProductCode;
using portal_http::ValidSettingName;
using portal_http::WriteAccount;
using portal_http::WriteProduct;
using portal_http::WriteSettings;

// The customer API's routes.
enum class ApiRoute {
  kLogin,
  kLogout,
  kTokens,
  kMe,
  kAccounts,
  kAccount,
  kSettings,
  kXdrs,
  kInvoices,
  kPaymentMethods,
  kTopUp
};

// Where a customer API path goes.
struct ApiTarget {
  ApiRoute route;
  // The methods the route answers, as the Allow header lists them.
  const char* allow;
  // The {id} of /accounts/{id}[/...].
  std::optional<int64_t> account_id;
};

// Routes `parts` (the path after /api/, split at '/'). An unknown path is a
// 404 and a malformed account id a 400, put in `error`.
std::optional<ApiTarget> RouteApi(const std::vector<absl::string_view>& parts,
                                  HttpResponse* error) {
  ApiTarget t;
  if (parts.size() == 1 && parts[0] == "login") {
    t.route = ApiRoute::kLogin, t.allow = "POST";
  } else if (parts.size() == 1 && parts[0] == "logout") {
    t.route = ApiRoute::kLogout, t.allow = "POST";
  } else if (parts.size() == 1 && parts[0] == "tokens") {
    t.route = ApiRoute::kTokens, t.allow = "POST";
  } else if (parts.size() == 1 && parts[0] == "me") {
    t.route = ApiRoute::kMe, t.allow = "GET";
  } else if (parts.size() == 1 && parts[0] == "accounts") {
    t.route = ApiRoute::kAccounts, t.allow = "GET";
  } else if (parts.size() == 1 && parts[0] == "invoices") {
    t.route = ApiRoute::kInvoices, t.allow = "GET";
  } else if (parts.size() == 1 && parts[0] == "payment_methods") {
    t.route = ApiRoute::kPaymentMethods, t.allow = "GET";
  } else if (parts.size() == 1 && parts[0] == "topup") {
    t.route = ApiRoute::kTopUp, t.allow = "POST";
  } else if (parts.size() >= 2 && parts.size() <= 3 && parts[0] == "accounts") {
    if (parts.size() == 2) {
      t.route = ApiRoute::kAccount, t.allow = "GET";
    } else if (parts[2] == "settings") {
      t.route = ApiRoute::kSettings, t.allow = "GET, PATCH, PUT";
    } else if (parts[2] == "xdrs") {
      t.route = ApiRoute::kXdrs, t.allow = "GET";
    } else {
      *error = Error(404, "not found");
      return std::nullopt;
    }
    t.account_id = PositiveId(parts[1]);
    if (!t.account_id) {
      *error = Error(400, "account id must be a positive integer");
      return std::nullopt;
    }
  } else {
    *error = Error(404, "not found");
    return std::nullopt;
  }
  return t;
}

// True when `method` is one of `allow` ("GET, PATCH, PUT").
bool MethodAllowed(absl::string_view allow, absl::string_view method) {
  std::vector<absl::string_view> allowed = absl::StrSplit(allow, ", ");
  return std::find(allowed.begin(), allowed.end(), method) != allowed.end();
}

struct Credentials {
  std::string login;
  std::string password;
};

// The login and password of a login request, from a JSON or form body;
// anything else is put in `error` (400, or 415 for another body type).
std::optional<Credentials> LoginCredentials(const HttpRequest& request,
                                            HttpResponse* error) {
  Credentials c;
  if (IsJson(request)) {
    std::optional<JsonValue> body = ObjectBody(request, error);
    if (!body) return std::nullopt;
    const JsonValue* l = body->Find("login");
    const JsonValue* p = body->Find("password");
    if (l == nullptr || p == nullptr || !l->is_string() || !p->is_string()) {
      *error = Error(400, "login and password are required strings");
      return std::nullopt;
    }
    c.login = l->text();
    c.password = p->text();
  } else if (absl::StartsWithIgnoreCase(request.Header("Content-Type"),
                                        "application/x-www-form-urlencoded")) {
    std::optional<Params> form = ParseParams(request.body);
    if (!form) {
      *error = Error(400, "malformed form body");
      return std::nullopt;
    }
    const std::string* l = Param(*form, "login");
    const std::string* p = Param(*form, "password");
    if (l == nullptr || p == nullptr) {
      *error = Error(400, "login and password are required");
      return std::nullopt;
    }
    c.login = *l;
    c.password = *p;
  } else {
    *error = Error(415,
                   "expected application/json or "
                   "application/x-www-form-urlencoded");
    return std::nullopt;
  }
  return c;
}

// POST /api/login: checks the password and opens a session (a cookie).
HttpResponse ApiLogin(BillingStore& store, const PortalOptions& options,
                      const HttpRequest& request, absl::Time now) {
  HttpResponse error;
  std::optional<Credentials> credentials = LoginCredentials(request, &error);
  if (!credentials) return error;
  const std::string& login = credentials->login;
  const std::string& password = credentials->password;
  if (login.empty() || login.size() > 64 || password.size() > 256) {
    return Error(400, "login must be 1-64 and password 0-256 characters");
  }
  absl::StatusOr<LoginRecord> record = store.FindLogin(login);
  if (!record.ok() && record.status().code() != absl::StatusCode::kNotFound) {
    return FromStatus(record.status());
  }
  if (!record.ok() || !VerifyPassword(password, record->password_hash)) {
    return Error(401, "invalid login or password");
  }
  if (record->status == "exported") return Exported();
  if (record->status == "closed") return Error(403, "customer closed");
  std::string session = absl::StrCat(record->customer_id, ".", RandomHex(16));
  absl::Time expires = now + options.session_ttl;
  absl::Status s = store.CreateSession(Sha256Hex(session), record->customer_id,
                                       now, expires);
  if (!s.ok()) return FromStatus(s);
  JsonWriter w;
  w.BeginObject()
      .Field("customer_id", record->customer_id)
      .Field("login", login)
      .Field("expires_at", ApiTime(SqlDatetime(expires)))
      .EndObject();
  HttpResponse r = Json(200, w.Release());
  r.headers.emplace_back(
      "Set-Cookie",
      absl::StrCat(kSessionCookie, "=", session, "; Path=/; Max-Age=",
                   absl::ToInt64Seconds(options.session_ttl),
                   "; HttpOnly; SameSite=Lax"));
  return r;
}

// The customer of a request: by its bearer API token, or else by its
// session cookie (whose value is put in `session`). Missing or unknown
// credentials are a 401 put in `error`.
std::optional<Principal> Authenticate(BillingStore& store,
                                      const HttpRequest& request,
                                      absl::Time now, std::string* session,
                                      HttpResponse* error) {
  absl::string_view auth = request.Header("Authorization");
  absl::StatusOr<Principal> resolved;
  if (!auth.empty()) {
    if (!absl::ConsumePrefix(&auth, "Bearer ") || auth.empty()) {
      *error = Error(401, "Authorization must be a Bearer token");
      return std::nullopt;
    }
    resolved = store.ResolveApiToken(Sha256Hex(auth), now);
    if (resolved.status().code() == absl::StatusCode::kNotFound) {
      *error = Error(401, "invalid API token");
      return std::nullopt;
    }
  } else {
    *session = CookieValue(request.Header("Cookie"), kSessionCookie);
    if (session->empty()) {
      *error = Error(401, "authentication required");
      return std::nullopt;
    }
    resolved = store.ResolveSession(Sha256Hex(*session), now);
    if (resolved.status().code() == absl::StatusCode::kNotFound) {
      *error = Error(401, "session expired or invalid");
      return std::nullopt;
    }
  }
  if (!resolved.ok()) {
    *error = FromStatus(resolved.status());
    return std::nullopt;
  }
  return *resolved;
}

// POST /api/logout: ends the session the request came with.
HttpResponse ApiLogout(BillingStore& store, int64_t customer,
                       const std::string& session) {
  if (session.empty()) return Error(400, "not a session");
  absl::Status s = store.DeleteSession(customer, Sha256Hex(session));
  if (!s.ok()) return FromStatus(s);
  HttpResponse r;
  r.status = 204;
  r.content_type.clear();
  r.headers.emplace_back("Set-Cookie",
                         absl::StrCat(kSessionCookie, "=; Path=/; Max-Age=0"));
  return r;
}

// POST /api/tokens: a new API token for the customer.
HttpResponse ApiNewToken(BillingStore& store, int64_t customer,
                         absl::Time now) {
  std::string token = absl::StrCat("tk_", customer, "_", RandomHex(16));
  absl::Status s =
      store.CreateApiToken(Sha256Hex(token), customer, "portal", now);
  if (!s.ok()) return FromStatus(s);
  JsonWriter w;
  w.BeginObject().Field("token", token).EndObject();
  return Json(201, w.Release());
}

// GET /api/me: the profile and balance.
HttpResponse ApiMe(BillingStore& store, int64_t customer) {
  absl::StatusOr<Customer> c = store.GetCustomer(customer);
  if (!c.ok()) return FromStatus(c.status());
  JsonWriter w;
  w.BeginObject()
      .Field("customer_id", c->id)
      .Field("login", c->login)
      .Key("contact")
      .BeginObject()
      .Field("name", c->name)
      .Field("email", c->email)
      .Field("phone", c->phone)
      .Field("address", c->address)
      .EndObject()
      .Field("balance", MicrosToDecimal(c->balance_micros))
      .Field("credit_limit", MicrosToDecimal(c->credit_limit_micros))
      .Field("currency", c->currency)
      .Field("payment_system", c->payment_system)
      .Field("billing_cycle", c->billing_cycle)
      .Field("status", c->status)
      .Field("created_at", ApiTime(c->created_at))
      .EndObject();
  return Json(200, w.Release());
}

// GET /api/accounts: one page of the customer's accounts.
HttpResponse ApiAccounts(BillingStore& store, int64_t customer,
                         const Params& params) {
  std::optional<int> size = PageSize(params);
  std::optional<std::string> token = DecodeToken(params, 'a');
  int64_t after = 0;
  if (!size) return Error(400, "page_size must be a non-negative integer");
  if (!token || (!token->empty() && !absl::SimpleAtoi(*token, &after))) {
    return Error(400, "malformed page_token");
  }
  absl::StatusOr<std::vector<Account>> accounts =
      store.ListAccounts(customer, after, *size + 1);
  if (!accounts.ok()) return FromStatus(accounts.status());
  bool more = static_cast<int>(accounts->size()) > *size;
  if (more) accounts->pop_back();
  JsonWriter w;
  w.BeginObject().Key("accounts").BeginArray();
  for (const Account& a : *accounts) WriteAccount(w, a);
  w.EndArray().Field(
      "next_page_token",
      more ? EncodeToken(absl::StrCat("a:", accounts->back().id)) : "");
  w.EndObject();
  return Json(200, w.Release());
}

// GET /api/accounts/{id}.
HttpResponse ApiAccount(BillingStore& store, int64_t customer,
                        int64_t account_id) {
  absl::StatusOr<Account> a = store.GetAccount(customer, account_id);
  if (!a.ok()) return FromStatus(a.status());
  JsonWriter w;
  WriteAccount(w, *a);
  return Json(200, w.Release());
}

// GET|PATCH|PUT /api/accounts/{id}/settings: read, merge or replace.
HttpResponse ApiSettings(BillingStore& store, const HttpRequest& request,
                         int64_t customer, int64_t account_id) {
  const std::string& method = request.method;
  absl::StatusOr<Account> a;
  if (method == "GET") {
    a = store.GetAccount(customer, account_id);
  } else {
    HttpResponse error;
    std::optional<JsonValue> body = ObjectBody(request, &error);
    if (!body) return error;
    if (body->members().size() > 50) {
      return Error(400, "at most 50 settings per request");
    }
    SettingsChanges changes;
    for (const auto& [k, v] : body->members()) {
      if (!ValidSettingName(k)) {
        return Error(400, absl::StrCat("bad setting name '", k, "'"));
      }
      if (v.is_null() && method == "PATCH") {
        changes.emplace_back(k, std::nullopt);
      } else if (v.is_string() && v.text().size() <= 255) {
        changes.emplace_back(k, v.text());
      } else {
        return Error(400, absl::StrCat("setting '", k,
                                       "' must be a string of at most "
                                       "255 characters",
                                       method == "PATCH" ? " or null" : ""));
      }
    }
    a = store.UpdateSettings(customer, account_id, changes, method == "PUT");
  }
  if (!a.ok()) return FromStatus(a.status());
  JsonWriter w;
  WriteAccount(w, *a);
  return Json(200, w.Release());
}

// GET /api/accounts/{id}/xdrs: one page, newest first.
HttpResponse ApiXdrs(BillingStore& store, int64_t customer, int64_t account_id,
                     const Params& params) {
  std::optional<int> size = PageSize(params);
  std::optional<std::string> token = DecodeToken(params, 'x');
  if (!size) return Error(400, "page_size must be a non-negative integer");
  std::optional<XdrCursor> cursor;
  if (!token) return Error(400, "malformed page_token");
  if (!token->empty()) {
    std::vector<std::string> p = absl::StrSplit(*token, '|');
    XdrCursor c;
    if (p.size() != 2 || p[0].size() != 19 || !absl::SimpleAtoi(p[1], &c.id)) {
      return Error(400, "malformed page_token");
    }
    c.connect_time = p[0];
    cursor = c;
  }
  absl::StatusOr<std::vector<Xdr>> xdrs =
      store.ListXdrs(customer, account_id, cursor, *size + 1);
  if (!xdrs.ok()) return FromStatus(xdrs.status());
  bool more = static_cast<int>(xdrs->size()) > *size;
  if (more) xdrs->pop_back();
  JsonWriter w;
  w.BeginObject().Key("xdrs").BeginArray();
  for (const Xdr& x : *xdrs) {
    w.BeginObject()
        .Field("xdr_id", x.id)
        .Field("account_id", x.account_id)
        .Field("connect_time", ApiTime(x.connect_time))
        .Field("duration_ms", x.duration_ms)
        .Field("charged", MicrosToDecimal(x.charged_micros))
        .Field("cli", x.cli)
        .Field("cld", x.cld)
        .EndObject();
  }
  w.EndArray().Field(
      "next_page_token",
      more ? EncodeToken(absl::StrCat("x:", xdrs->back().connect_time, "|",
                                      xdrs->back().id))
           : "");
  w.EndObject();
  return Json(200, w.Release());
}

// GET /api/invoices: one page, newest first.
HttpResponse ApiInvoices(BillingStore& store, int64_t customer,
                         const Params& params) {
  std::optional<int> size = PageSize(params);
  std::optional<std::string> token = DecodeToken(params, 'i');
  int64_t before = 0;
  if (!size) return Error(400, "page_size must be a non-negative integer");
  if (!token || (!token->empty() && !absl::SimpleAtoi(*token, &before))) {
    return Error(400, "malformed page_token");
  }
  absl::StatusOr<std::vector<Invoice>> invoices =
      store.ListInvoices(customer, before, *size + 1);
  if (!invoices.ok()) return FromStatus(invoices.status());
  bool more = static_cast<int>(invoices->size()) > *size;
  if (more) invoices->pop_back();
  JsonWriter w;
  w.BeginObject().Key("invoices").BeginArray();
  for (const Invoice& i : *invoices) {
    w.BeginObject()
        .Field("invoice_id", i.id)
        .Field("period_from", i.period_from)
        .Field("period_to", i.period_to)
        .Field("amount_due", MicrosToDecimal(i.amount_due_micros))
        .Field("status", i.status)
        .Field("issued_at", ApiTime(i.issued_at))
        .EndObject();
  }
  w.EndArray().Field(
      "next_page_token",
      more ? EncodeToken(absl::StrCat("i:", invoices->back().id)) : "");
  w.EndObject();
  return Json(200, w.Release());
}

// GET /api/payment_methods.
HttpResponse ApiPaymentMethods(BillingStore& store, int64_t customer) {
  absl::StatusOr<std::vector<PaymentMethod>> methods =
      store.ListPaymentMethods(customer);
  if (!methods.ok()) return FromStatus(methods.status());
  JsonWriter w;
  w.BeginObject().Key("payment_methods").BeginArray();
  for (const PaymentMethod& m : *methods) {
    w.BeginObject()
        .Field("payment_method_id", m.id)
        .Field("method", m.method)
        .Field("masked_number", m.masked_number)
        .Field("expires", m.expires)
        .Field("is_default", m.is_default)
        .EndObject();
  }
  w.EndArray().EndObject();
  return Json(200, w.Release());
}

// POST /api/topup.
HttpResponse ApiTopUp(BillingStore& store, const HttpRequest& request,
                      int64_t customer, absl::Time now) {
  HttpResponse error;
  std::optional<JsonValue> body = ObjectBody(request, &error);
  if (!body) return error;
  const JsonValue* amount = body->Find("amount");
  std::optional<int64_t> micros = amount ? MoneyField(*amount) : std::nullopt;
  if (!micros || *micros <= 0 || *micros > kMaxTopUpMicros ||
      *micros % 10 != 0) {
    return Error(400,
                 "amount must be a positive decimal of at most 100000 "
                 "with at most 5 fraction digits");
  }
  std::optional<int64_t> account;
  if (const JsonValue* a = body->Find("account_id");
      a != nullptr && !a->is_null()) {
    account = a->is_number() ? PositiveId(a->text()) : std::nullopt;
    if (!account) {
      return Error(400, "account_id must be a positive integer");
    }
  }
  absl::StatusOr<TopUpResult> result =
      store.TopUp(customer, account, *micros, now);
  if (!result.ok()) return FromStatus(result.status());
  JsonWriter w;
  w.BeginObject()
      .Field("transaction_id", result->transaction_id)
      .Field("balance", MicrosToDecimal(result->customer_balance_micros));
  if (result->account_balance_micros) {
    w.Field("account_balance",
            MicrosToDecimal(*result->account_balance_micros));
  }
  w.EndObject();
  return Json(200, w.Release());
}

// The product a POST /admin/products body describes; a bad or unknown
// field, or a required one missing, is a 400 put in `error`.
std::optional<Product> NewProduct(const JsonValue& body, HttpResponse* error) {
  Product p;
  p.currency = "EUR";
  p.activation_params = "{}";
  bool has_fee = false;
  for (const auto& [k, v] : body.members()) {
    if (k == "code" && v.is_string() && ValidProductCode(v.text())) {
      p.code = v.text();
    } else if ((k == "name" || k == "category" || k == "contract_pool") &&
               v.is_string() && !v.text().empty() && v.text().size() <= 128) {
      (k == "name"       ? p.name
       : k == "category" ? p.category
                         : p.contract_pool) = v.text();
    } else if (k == "is_addon" && v.is_bool()) {
      p.is_addon = v.bool_value();
    } else if (k == "monthly_fee" && MoneyField(v) && *MoneyField(v) >= 0) {
      p.monthly_fee_micros = *MoneyField(v);
      has_fee = true;
    } else if (k == "currency" && v.is_string() && v.text().size() == 3) {
      p.currency = v.text();
    } else if (k == "activation_params" && StringObject(v)) {
      p.activation_params = *StringObject(v);
    } else if (k == "resources" && Resources(v)) {
      p.resources = *Resources(v);
    } else if (k == "addons" && Codes(v)) {
      p.addon_codes = *Codes(v);
    } else {
      *error = Error(400, absl::StrCat("bad or unknown field '", k, "'"));
      return std::nullopt;
    }
  }
  if (p.code.empty() || p.name.empty() || p.category.empty() ||
      p.contract_pool.empty() || !has_fee) {
    *error = Error(400,
                   "code, name, category, contract_pool and monthly_fee are "
                   "required");
    return std::nullopt;
  }
  return p;
}

// The change a PATCH or PUT /admin/products/{id} body asks for; a bad or
// unknown field is a 400 put in `error`.
std::optional<ProductPatch> ProductChanges(const JsonValue& body,
                                           HttpResponse* error) {
  ProductPatch patch;
  for (const auto& [k, v] : body.members()) {
    if (k == "name" && v.is_string() && !v.text().empty() &&
        v.text().size() <= 128) {
      patch.name = v.text();
    } else if (k == "monthly_fee" && MoneyField(v) && *MoneyField(v) >= 0) {
      patch.monthly_fee_micros = *MoneyField(v);
    } else if (k == "activation_params" && StringObject(v)) {
      patch.activation_params = *StringObject(v);
    } else if (k == "resources" && Resources(v)) {
      patch.resources = *Resources(v);
    } else if (k == "addons" && Codes(v)) {
      patch.addon_codes = *Codes(v);
    } else {
      *error = Error(400, absl::StrCat("bad or unknown field '", k, "'"));
      return std::nullopt;
    }
  }
  return patch;
}

}  // namespace

PortalService::PortalService(BillingStore* store, PortalOptions options)
    : store_(store), options_(std::move(options)) {}

bool PortalService::IsCheap(const HttpRequest& request) {
  return request.target == "/healthz";
}

HttpResponse PortalService::Handle(const HttpRequest& request) {
  absl::string_view target = request.target;
  size_t q = target.find('?');
  absl::string_view path = target.substr(0, q);
  absl::string_view query =
      q == absl::string_view::npos ? absl::string_view() : target.substr(q + 1);
  if (path.empty() || path[0] != '/') return Error(400, "malformed target");
  if (path == "/healthz") {
    if (request.method != "GET" && request.method != "HEAD") {
      return MethodNotAllowed("GET, HEAD");
    }
    HttpResponse r;
    r.content_type = "text/plain";
    r.body = "ok\n";
    return r;
  }
  if (path == "/readyz") {
    if (request.method != "GET") return MethodNotAllowed("GET");
    absl::Status s = store_->Ping();
    if (!s.ok()) return Error(503, "billing database unavailable");
    HttpResponse r;
    r.content_type = "text/plain";
    r.body = "ready\n";
    return r;
  }
  if (absl::StartsWith(path, "/api/")) {
    return HandleApi(request, path.substr(5), query);
  }
  if (absl::StartsWith(path, "/admin/")) {
    return HandleAdmin(request, path.substr(7));
  }
  return Error(404, "not found");
}

HttpResponse PortalService::HandleApi(const HttpRequest& request,
                                      absl::string_view path,
                                      absl::string_view query) {
  std::vector<absl::string_view> parts = absl::StrSplit(path, '/');
  std::optional<Params> params = ParseParams(query);
  if (!params) return Error(400, "malformed query string");
  const absl::Time now = options_.now();

  // Routing first: unknown paths are 404 and wrong methods 405 whoever asks.
  HttpResponse error;
  std::optional<ApiTarget> target = RouteApi(parts, &error);
  if (!target) return error;
  if (!MethodAllowed(target->allow, request.method)) {
    return MethodNotAllowed(target->allow);
  }
  if (target->route == ApiRoute::kLogin) {
    return ApiLogin(*store_, options_, request, now);
  }

  // Everything else needs a customer.
  std::string session;
  std::optional<Principal> principal =
      Authenticate(*store_, request, now, &session, &error);
  if (!principal) return error;
  if (principal->status == "exported") return Exported();
  if (principal->status == "closed") return Error(403, "customer closed");
  const int64_t customer = principal->customer_id;

  BillingStore& store = *store_;
  switch (target->route) {
    case ApiRoute::kLogin:
      break;  // handled above
    case ApiRoute::kLogout:
      return ApiLogout(store, customer, session);
    case ApiRoute::kTokens:
      return ApiNewToken(store, customer, now);
    case ApiRoute::kMe:
      return ApiMe(store, customer);
    case ApiRoute::kAccounts:
      return ApiAccounts(store, customer, *params);
    case ApiRoute::kAccount:
      return ApiAccount(store, customer, *target->account_id);
    case ApiRoute::kSettings:
      return ApiSettings(store, request, customer, *target->account_id);
    case ApiRoute::kXdrs:
      return ApiXdrs(store, customer, *target->account_id, *params);
    case ApiRoute::kInvoices:
      return ApiInvoices(store, customer, *params);
    case ApiRoute::kPaymentMethods:
      return ApiPaymentMethods(store, customer);
    case ApiRoute::kTopUp:
      return ApiTopUp(store, request, customer, now);
  }
  return Error(500, "internal error");
}

HttpResponse PortalService::HandleAdmin(const HttpRequest& request,
                                        absl::string_view path) {
  std::vector<absl::string_view> parts = absl::StrSplit(path, '/');
  if (parts.empty() || parts[0] != "products" || parts.size() > 2) {
    return Error(404, "not found");
  }
  const std::string& method = request.method;
  std::optional<int64_t> id;
  if (parts.size() == 2) {
    if (method != "GET" && method != "PATCH" && method != "PUT" &&
        method != "DELETE") {
      return MethodNotAllowed("GET, PATCH, PUT, DELETE");
    }
    id = PositiveId(parts[1]);
    if (!id) return Error(400, "product id must be a positive integer");
  } else if (method != "GET" && method != "POST") {
    return MethodNotAllowed("GET, POST");
  }
  if (options_.admin_token.empty()) return Error(403, "admin API disabled");
  absl::string_view auth = request.Header("Authorization");
  if (!absl::ConsumePrefix(&auth, "Bearer ") ||
      !ConstantTimeEquals(auth, options_.admin_token)) {
    return Error(401, "admin token required");
  }

  auto product_response = [](int status, const absl::StatusOr<Product>& p) {
    if (!p.ok()) return FromStatus(p.status());
    JsonWriter w;
    WriteProduct(w, *p);
    return Json(status, w.Release());
  };

  if (!id && method == "GET") {
    absl::StatusOr<std::vector<Product>> products = store_->ListProducts();
    if (!products.ok()) return FromStatus(products.status());
    JsonWriter w;
    w.BeginObject().Key("products").BeginArray();
    for (const Product& p : *products) WriteProduct(w, p);
    w.EndArray().EndObject();
    return Json(200, w.Release());
  }
  if (id && method == "GET")
    return product_response(200, store_->GetProduct(*id));
  if (id && method == "DELETE") {
    absl::Status s = store_->DeleteProduct(*id);
    if (!s.ok()) return FromStatus(s);
    HttpResponse r;
    r.status = 204;
    r.content_type.clear();
    return r;
  }

  HttpResponse error;
  std::optional<JsonValue> body = ObjectBody(request, &error);
  if (!body) return error;
  if (!id) {  // POST: create
    std::optional<Product> p = NewProduct(*body, &error);
    if (!p) return error;
    return product_response(201, store_->CreateProduct(*p));
  }
  std::optional<ProductPatch> patch = ProductChanges(*body, &error);
  if (!patch) return error;
  return product_response(200, store_->UpdateProduct(*id, *patch));
}

}  // namespace tandem::testbed
