// PortalService over a fake BillingStore and an injected clock: session
// expiry, database outages and paging, without sockets or a database.
#include "testbed/sim/portal_service.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "testbed/base/crypto.h"
#include "testbed/base/json.h"

namespace tandem::testbed {
namespace {

// One customer (id 7) with three accounts; sessions in memory.
class FakeBillingStore final : public BillingStore {
 public:
  absl::Status down;  // when not OK, every call fails with it

  SchemaVersion version() const override { return SchemaVersion::kV2; }
  absl::Status Ping() override { return down; }
  absl::StatusOr<LoginRecord> FindLogin(const std::string& login) override {
    if (!down.ok()) return down;
    if (login != "cust7") return absl::NotFoundError("no");
    return LoginRecord{7, HashPassword("pw", "salt", 10), "open"};
  }
  absl::Status CreateSession(const std::string& hash, int64_t customer,
                             absl::Time, absl::Time expires) override {
    sessions_[hash] = {customer, expires};
    return down;
  }
  absl::StatusOr<Principal> ResolveSession(const std::string& hash,
                                           absl::Time now) override {
    if (!down.ok()) return down;
    auto it = sessions_.find(hash);
    if (it == sessions_.end() || it->second.second <= now) {
      return absl::NotFoundError("no session");
    }
    return Principal{it->second.first, "open"};
  }
  absl::Status DeleteSession(int64_t, const std::string& hash) override {
    sessions_.erase(hash);
    return down;
  }
  absl::Status CreateApiToken(const std::string&, int64_t, const std::string&,
                              absl::Time) override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<Principal> ResolveApiToken(const std::string&,
                                            absl::Time) override {
    return absl::NotFoundError("fake");
  }
  absl::StatusOr<Customer> GetCustomer(int64_t id) override {
    if (!down.ok()) return down;
    Customer c;
    c.id = id;
    c.balance_micros = 1234560;
    return c;
  }
  absl::StatusOr<std::vector<Account>> ListAccounts(int64_t, int64_t after,
                                                    int limit) override {
    std::vector<Account> out;
    for (int64_t id = after + 1;
         id <= 3 && static_cast<int>(out.size()) < limit; ++id) {
      Account a;
      a.id = id;
      out.push_back(a);
    }
    return out;
  }
  absl::StatusOr<Account> GetAccount(int64_t, int64_t) override {
    return absl::NotFoundError("fake");
  }
  absl::StatusOr<Account> UpdateSettings(int64_t, int64_t,
                                         const SettingsChanges&,
                                         bool) override {
    return absl::NotFoundError("fake");
  }
  absl::StatusOr<std::vector<Xdr>> ListXdrs(int64_t, int64_t,
                                            const std::optional<XdrCursor>&,
                                            int) override {
    return absl::NotFoundError("fake");
  }
  absl::StatusOr<std::vector<Invoice>> ListInvoices(int64_t, int64_t,
                                                    int) override {
    return std::vector<Invoice>();
  }
  absl::StatusOr<std::vector<PaymentMethod>> ListPaymentMethods(
      int64_t) override {
    return std::vector<PaymentMethod>();
  }
  absl::StatusOr<TopUpResult> TopUp(int64_t, std::optional<int64_t>, int64_t,
                                    absl::Time) override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<std::vector<Product>> ListProducts() override {
    return std::vector<Product>();
  }
  absl::StatusOr<Product> GetProduct(int64_t) override {
    return absl::NotFoundError("fake");
  }
  absl::StatusOr<Product> CreateProduct(const Product&) override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<Product> UpdateProduct(int64_t, const ProductPatch&) override {
    return absl::UnimplementedError("fake");
  }
  absl::Status DeleteProduct(int64_t) override {
    return absl::UnimplementedError("fake");
  }

 private:
  std::map<std::string, std::pair<int64_t, absl::Time>> sessions_;
};

class PortalServiceTest : public ::testing::Test {
 protected:
  PortalServiceTest()
      : now_(absl::FromUnixSeconds(1800000000)), portal_(&store_, Options()) {}

  PortalOptions Options() {
    PortalOptions o;
    o.session_ttl = absl::Hours(1);
    o.now = [this] { return now_; };
    return o;
  }

  HttpRequest Request(std::string method, std::string target,
                      std::string cookie = "", std::string body = "") {
    HttpRequest r;
    r.method = std::move(method);
    r.target = std::move(target);
    if (!cookie.empty()) r.headers.emplace_back("Cookie", cookie);
    if (!body.empty()) {
      r.headers.emplace_back("Content-Type", "application/json");
      r.body = std::move(body);
    }
    return r;
  }

  std::string Login() {
    HttpResponse r = portal_.Handle(Request(
        "POST", "/api/login", "", R"({"login":"cust7","password":"pw"})"));
    EXPECT_EQ(r.status, 200) << r.body;
    for (const auto& [k, v] : r.headers) {
      if (k == "Set-Cookie") return v.substr(0, v.find(';'));
    }
    return "";
  }

  FakeBillingStore store_;
  absl::Time now_;
  PortalService portal_;
};

TEST_F(PortalServiceTest, SessionExpiresAfterItsTtl) {
  std::string cookie = Login();
  now_ += absl::Minutes(59);
  EXPECT_EQ(portal_.Handle(Request("GET", "/api/me", cookie)).status, 200);
  now_ += absl::Minutes(2);
  HttpResponse r = portal_.Handle(Request("GET", "/api/me", cookie));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body, R"({"error":"session expired or invalid"})");
}

TEST_F(PortalServiceTest, DatabaseOutageIs503WithRetryAfter) {
  std::string cookie = Login();
  store_.down = absl::UnavailableError("gone");
  for (const HttpRequest& req :
       {Request("GET", "/api/me", cookie),
        Request("POST", "/api/login", "",
                R"({"login":"cust7","password":"pw"})"),
        Request("GET", "/readyz")}) {
    HttpResponse r = portal_.Handle(req);
    EXPECT_EQ(r.status, 503) << req.target;
  }
  HttpResponse r = portal_.Handle(Request("GET", "/api/me", cookie));
  ASSERT_FALSE(r.headers.empty());
  EXPECT_EQ(r.headers[0].first, "Retry-After");
  // Liveness does not depend on the database.
  EXPECT_EQ(portal_.Handle(Request("GET", "/healthz")).status, 200);
  EXPECT_TRUE(PortalService::IsCheap(Request("GET", "/healthz")));
  EXPECT_FALSE(PortalService::IsCheap(Request("GET", "/api/me")));
}

TEST_F(PortalServiceTest, PageTokensWalkAllAccounts) {
  std::string cookie = Login();
  std::vector<std::string> ids;
  std::string token;
  int pages = 0;
  do {
    HttpResponse r = portal_.Handle(
        Request("GET",
                absl::StrCat("/api/accounts?page_size=2",
                             token.empty() ? "" : "&page_token=", token),
                cookie));
    ASSERT_EQ(r.status, 200) << r.body;
    absl::StatusOr<JsonValue> body = JsonValue::Parse(r.body);
    ASSERT_TRUE(body.ok());
    for (const JsonValue& a : body->Find("accounts")->elements()) {
      ids.push_back(a.Find("account_id")->text());
    }
    token = body->Find("next_page_token")->text();
    ++pages;
  } while (!token.empty());
  EXPECT_EQ(ids, (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(pages, 2);
  // A token of another list is refused.
  EXPECT_EQ(
      portal_.Handle(Request("GET", "/api/invoices?page_token=YTo3", cookie))
          .status,
      400);
}

}  // namespace
}  // namespace tandem::testbed
