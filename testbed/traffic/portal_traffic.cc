#include "testbed/traffic/portal_traffic.h"

#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "testbed/base/json.h"
#include "testbed/base/model.h"
#include "testbed/traffic/http_client.h"
#include "testbed/traffic/pacer.h"

namespace tandem::testbed {

PortalVisit PlanVisit(uint64_t seed, int64_t k,
                      const std::vector<int64_t>& customers) {
  Rng rng(seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(k) * 7919 + 1);
  static const char* kLanguages[] = {"en", "de", "fr", "cs", "es"};
  PortalVisit v;
  v.customer_id = customers[rng.Below(customers.size())];
  v.form_login = rng.Chance(0.5);
  v.account_pick = rng.Next();
  v.edit_settings = rng.Chance(0.3);
  v.language = kLanguages[rng.Below(5)];
  v.top_up = rng.Chance(0.2);
  v.amount = absl::StrCat(rng.Range(1, 50), ".", rng.Range(10, 99));
  return v;
}

namespace {

class Worker {
 public:
  Worker(const PortalTrafficOptions& o, Pacer* pacer,
         std::atomic<int64_t>* visits)
      : o_(o), pacer_(pacer), visits_(visits), client_(o.host, o.port) {}

  TrafficReport Run() {
    report_.kind = "portal";
    while (!done_)
      Visit(PlanVisit(o_.seed, visits_->fetch_add(1), o_.customers));
    return std::move(report_);
  }

 private:
  // Sends one paced request; nullopt when the run is over or it failed.
  std::optional<ClientResponse> Send(
      const char* operation, absl::string_view method,
      const std::string& target,
      std::vector<std::pair<std::string, std::string>> headers,
      absl::string_view body = "") {
    if (done_ || !pacer_->Next()) {
      done_ = true;
      return std::nullopt;
    }
    absl::Time start = absl::Now();
    absl::StatusOr<ClientResponse> r =
        client_.Send(method, target, headers, body);
    report_.latencies_us.push_back(
        absl::ToInt64Microseconds(absl::Now() - start));
    ++report_.requests;
    ++report_.by_operation[operation];
    if (!r.ok()) {
      ++report_.by_status["transport_error"];
      return std::nullopt;
    }
    ++report_.by_status[absl::StrCat(r->status)];
    std::string system = r->Header("X-Billing-Version");
    ++report_.by_system[system.empty() ? "none" : system];
    return *std::move(r);
  }

  void Visit(const PortalVisit& v) {
    std::optional<ClientResponse> login;
    if (v.form_login) {
      login = Send("login", "POST", "/api/login",
                   {{"Content-Type", "application/x-www-form-urlencoded"}},
                   absl::StrCat("login=", DemoLogin(v.customer_id),
                                "&password=", DemoPassword(v.customer_id)));
    } else {
      JsonWriter w;
      w.BeginObject()
          .Field("login", DemoLogin(v.customer_id))
          .Field("password", DemoPassword(v.customer_id))
          .EndObject();
      login = Send("login", "POST", "/api/login",
                   {{"Content-Type", "application/json"}}, w.str());
    }
    if (!login || login->status != 200) return;
    std::string cookie = login->Header("Set-Cookie");
    cookie = cookie.substr(0, cookie.find(';'));
    std::vector<std::pair<std::string, std::string>> auth = {
        {"Cookie", cookie}};
    Send("me", "GET", "/api/me", auth);
    std::optional<ClientResponse> accounts =
        Send("accounts", "GET", "/api/accounts?page_size=20", auth);
    std::string account;
    if (accounts && accounts->status == 200) {
      absl::StatusOr<JsonValue> body = JsonValue::Parse(accounts->body);
      if (body.ok() && body->Find("accounts") != nullptr &&
          !body->Find("accounts")->elements().empty()) {
        const auto& list = body->Find("accounts")->elements();
        const JsonValue* id =
            list[v.account_pick % list.size()].Find("account_id");
        if (id != nullptr) account = id->text();
      }
    }
    if (!account.empty()) {
      Send("xdrs", "GET",
           absl::StrCat("/api/accounts/", account, "/xdrs?page_size=20"), auth);
      if (v.edit_settings) {
        auto with_json = auth;
        with_json.emplace_back("Content-Type", "application/json");
        Send("settings", "PATCH",
             absl::StrCat("/api/accounts/", account, "/settings"), with_json,
             absl::StrCat(R"({"language":")", v.language, R"("})"));
      }
    }
    if (v.top_up) {
      auto with_json = auth;
      with_json.emplace_back("Content-Type", "application/json");
      Send("topup", "POST", "/api/topup", with_json,
           absl::StrCat(R"({"amount":")", v.amount, R"("})"));
    }
    Send("invoices", "GET", "/api/invoices?page_size=5", auth);
    Send("logout", "POST", "/api/logout", auth);
  }

  const PortalTrafficOptions& o_;
  Pacer* pacer_;
  std::atomic<int64_t>* visits_;
  HttpClient client_;
  TrafficReport report_;
  bool done_ = false;
};

}  // namespace

absl::StatusOr<TrafficReport> RunPortalTraffic(const PortalTrafficOptions& o) {
  if (o.customers.empty() || o.connections < 1) {
    return absl::InvalidArgumentError(
        "need at least one customer and one connection");
  }
  Pacer pacer(o.rate, o.duration, o.max_requests);
  std::atomic<int64_t> visits{0};
  std::vector<TrafficReport> reports(o.connections);
  std::vector<std::thread> threads;
  for (int i = 0; i < o.connections; ++i) {
    threads.emplace_back([&, i] {
      Worker worker(o, &pacer, &visits);
      reports[i] = worker.Run();
    });
  }
  for (std::thread& t : threads) t.join();
  TrafficReport total;
  total.kind = "portal";
  for (TrafficReport& r : reports) total.Merge(std::move(r));
  total.elapsed = absl::Now() - pacer.start();
  total.Finish();
  return total;
}

}  // namespace tandem::testbed
