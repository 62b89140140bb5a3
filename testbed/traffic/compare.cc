#include "testbed/traffic/compare.h"

#include <fstream>
#include <functional>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "testbed/base/json.h"
#include "testbed/base/model.h"
#include "testbed/traffic/http_client.h"

namespace tandem::testbed {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

// The id member that keys elements of each array the API returns.
const char* IdMemberOf(const std::string& array) {
  if (array == "accounts") return "account_id";
  if (array == "xdrs") return "xdr_id";
  if (array == "invoices") return "invoice_id";
  return nullptr;
}

// Flattens `v` under `prefix` into `out`.
void Flatten(const JsonValue& v, const std::string& prefix,
             std::map<std::string, std::string>& out) {
  switch (v.type()) {
    case JsonValue::Type::kObject:
      for (const auto& [name, member] : v.members()) {
        if (name == "next_page_token") continue;
        const char* id = IdMemberOf(name);
        if (id != nullptr && member.is_array()) {
          for (const JsonValue& e : member.elements()) {
            const JsonValue* key = e.Find(id);
            Flatten(
                e,
                absl::StrCat(prefix, name, "[", key ? key->text() : "?", "]."),
                out);
          }
        } else {
          Flatten(member, absl::StrCat(prefix, name, "."), out);
        }
      }
      break;
    case JsonValue::Type::kArray:
      for (size_t i = 0; i < v.elements().size(); ++i) {
        Flatten(v.elements()[i], absl::StrCat(prefix, i, "."), out);
      }
      break;
    default: {
      std::string key = prefix;
      if (!key.empty() && key.back() == '.') key.pop_back();
      out[key] = v.is_null()   ? "null"
                 : v.is_bool() ? (v.bool_value() ? "true" : "false")
                               : v.text();
    }
  }
}

class Fetcher {
 public:
  Fetcher(const CompareOptions& o, int64_t customer)
      : o_(o), customer_(customer), client_(o.host, o.port) {}

  absl::StatusOr<CustomerView> Fetch() {
    JsonWriter login;
    login.BeginObject()
        .Field("login", DemoLogin(customer_))
        .Field("password", DemoPassword(customer_))
        .EndObject();
    TANDEM_ASSIGN_OR_RETURN(
        ClientResponse r,
        Get("POST", "/api/login", {{"Content-Type", "application/json"}},
            login.str()));
    // Every cookie the answer sets goes back (the billing system's session,
    // and the proxy's routing cookie when there is one), as a browser would.
    std::string cookies;
    for (const auto& [name, value] : r.headers) {
      if (!absl::EqualsIgnoreCase(name, "Set-Cookie")) continue;
      if (!cookies.empty()) cookies += "; ";
      cookies += value.substr(0, value.find(';'));
    }
    auth_ = {{"Cookie", cookies}};
    TANDEM_ASSIGN_OR_RETURN(JsonValue me, GetJson("/api/me"));
    Flatten(me, "me.", view_.values);
    std::vector<std::string> accounts;
    TANDEM_RETURN_IF_ERROR(
        AllPages("/api/accounts", [&](const JsonValue& page) {
          Flatten(page, "", view_.values);
          for (const JsonValue& a : page.Find("accounts")->elements()) {
            accounts.push_back(a.Find("account_id")->text());
          }
        }));
    for (const std::string& a : accounts) {
      TANDEM_ASSIGN_OR_RETURN(
          JsonValue settings,
          GetJson(absl::StrCat("/api/accounts/", a, "/settings")));
      if (const JsonValue* s = settings.Find("service_settings")) {
        Flatten(*s, absl::StrCat("settings[", a, "]."), view_.values);
      }
      TANDEM_RETURN_IF_ERROR(
          AllPages(absl::StrCat("/api/accounts/", a, "/xdrs"),
                   [&](const JsonValue& page) {
                     for (const JsonValue& x : page.Find("xdrs")->elements()) {
                       Flatten(x,
                               absl::StrCat("xdrs[", a, "][",
                                            x.Find("xdr_id")->text(), "]."),
                               view_.values);
                     }
                   }));
    }
    return std::move(view_);
  }

 private:
  absl::StatusOr<ClientResponse> Get(const std::string& method,
                                     const std::string& path,
                                     const Headers& headers,
                                     const std::string& body = "") {
    absl::StatusOr<ClientResponse> r =
        client_.Send(method, path, headers, body);
    if (!r.ok()) {
      return absl::Status(r.status().code(),
                          absl::StrCat(o_.host, ":", o_.port, path, ": ",
                                       r.status().message()));
    }
    if (r->status != 200) {
      return absl::FailedPreconditionError(
          absl::StrCat("customer ", customer_, ": ", method, " ", path,
                       " answered ", r->status, " ", r->body));
    }
    const std::string version = r->Header("X-Billing-Version");
    if (view_.served_by.find(version) == std::string::npos) {
      absl::StrAppend(&view_.served_by, view_.served_by.empty() ? "" : "+",
                      version);
    }
    return r;
  }

  absl::StatusOr<JsonValue> GetJson(const std::string& path) {
    TANDEM_ASSIGN_OR_RETURN(ClientResponse r, Get("GET", path, auth_));
    absl::StatusOr<JsonValue> v = JsonValue::Parse(r.body);
    if (!v.ok() || !v->is_object()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "customer ", customer_, ": ", path, " is not a JSON object"));
    }
    return v;
  }

  absl::Status AllPages(const std::string& path,
                        const std::function<void(const JsonValue&)>& page) {
    std::string token;
    do {
      TANDEM_ASSIGN_OR_RETURN(
          JsonValue v,
          GetJson(absl::StrCat(path, "?page_size=", o_.page_size,
                               token.empty() ? "" : "&page_token=", token)));
      const JsonValue* next = v.Find("next_page_token");
      token = next != nullptr ? next->text() : "";
      page(v);
    } while (!token.empty());
    return absl::OkStatus();
  }

  const CompareOptions& o_;
  const int64_t customer_;
  HttpClient client_;
  Headers auth_;
  CustomerView view_;
};

}  // namespace

absl::StatusOr<CustomerViews> FetchCustomerViews(const CompareOptions& o) {
  CustomerViews out;
  for (int64_t c : o.customers) {
    TANDEM_ASSIGN_OR_RETURN(out[c], Fetcher(o, c).Fetch());
  }
  return out;
}

absl::Status SaveSnapshot(const CustomerViews& views, const std::string& path) {
  JsonWriter w;
  w.BeginObject().Field("tandem_snapshot", 1).Key("customers").BeginObject();
  for (const auto& [c, view] : views) {
    w.Key(absl::StrCat(c)).BeginObject().Field("served_by", view.served_by);
    w.Key("values").BeginObject();
    for (const auto& [k, v] : view.values) w.Field(k, v);
    w.EndObject().EndObject();
  }
  w.EndObject().EndObject();
  std::ofstream out(path);
  out << w.str() << "\n";
  out.close();
  if (!out) {
    return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<CustomerViews> LoadSnapshot(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<JsonValue> v = JsonValue::Parse(text.str());
  const JsonValue* customers =
      v.ok() && v->Find("tandem_snapshot") ? v->Find("customers") : nullptr;
  if (customers == nullptr || !customers->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a tandem-traffic compare snapshot"));
  }
  CustomerViews out;
  for (const auto& [id, view] : customers->members()) {
    int64_t c = 0;
    const JsonValue* values = view.Find("values");
    const JsonValue* served = view.Find("served_by");
    if (!absl::SimpleAtoi(id, &c) || values == nullptr ||
        !values->is_object() || served == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": bad entry for customer '", id, "'"));
    }
    out[c].served_by = served->text();
    for (const auto& [k, value] : values->members()) {
      out[c].values[k] = value.text();
    }
  }
  return out;
}

CompareResult CompareViews(const CustomerViews& before,
                           const CustomerViews& now) {
  CompareResult r;
  for (const auto& [c, old] : before) {
    ++r.customers;
    auto it = now.find(c);
    if (it == now.end()) {
      r.differences.push_back(
          absl::StrCat("customer ", c, ": not fetched now"));
      continue;
    }
    const CustomerView& cur = it->second;
    r.moves[c] = absl::StrCat(old.served_by, " -> ", cur.served_by);
    for (const auto& [k, v] : old.values) {
      ++r.values;
      auto n = cur.values.find(k);
      if (n == cur.values.end()) {
        r.differences.push_back(
            absl::StrCat("customer ", c, ": ", k, ": '", v, "' missing now"));
      } else if (n->second != v) {
        r.differences.push_back(absl::StrCat("customer ", c, ": ", k, ": '", v,
                                             "' -> '", n->second, "'"));
      }
    }
    for (const auto& [k, v] : cur.values) {
      if (!old.values.count(k)) {
        r.differences.push_back(
            absl::StrCat("customer ", c, ": ", k, ": new '", v, "'"));
      }
    }
  }
  for (const auto& [c, view] : now) {
    if (!before.count(c)) {
      r.differences.push_back(
          absl::StrCat("customer ", c, ": not in the snapshot"));
    }
  }
  return r;
}

std::string CompareResult::ToText() const {
  std::string out;
  for (const auto& [c, move] : moves) {
    absl::StrAppend(&out, "customer ", c, ": served by ", move, "\n");
  }
  for (const std::string& d : differences) absl::StrAppend(&out, d, "\n");
  absl::StrAppend(&out, "compared ", values, " values of ", customers,
                  " customers: ", differences.size(), " differences\n");
  return out;
}

}  // namespace tandem::testbed
