// The billing-system simulator over real MariaDB schemas and real sockets:
// both versions serve the same customer identically, authentication and
// malformed requests are refused precisely, and the admin product API
// works.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "testbed/base/crypto.h"
#include "testbed/base/json.h"
#include "testbed/reference/v1_to_v2.h"
#include "testbed/sim/sim_server.h"
#include "testbed/traffic/http_client.h"
#include "tests/testbed/testbed_fixture.h"

namespace tandem::testbed {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr char kAdminToken[] = "admin-token-for-tests";

class SimTest : public ::testing::Test {
 protected:
  // Starts the suite's database and simulators once. A failure here must
  // fail every test (an ASSERT in SetUpTestSuite would only skip them), so
  // it is kept and reported by SetUp().
  static void SetUpTestSuite() { setup_ = StartAll(); }

  static absl::Status StartAll() {
    DatagenOptions o;
    o.seed = 7;
    o.customers = 40;
    o.accounts = 300;
    o.xdrs = 3000;
    o.password_iterations = 100;
    absl::StatusOr<TestbedDb> db = StartTestbedDb(o);
    if (!db.ok()) return db.status();
    db_ = new TestbedDb(*std::move(db));
    for (SchemaVersion v : {SchemaVersion::kV1, SchemaVersion::kV2}) {
      SimOptions options;
      options.version = v;
      options.db = PoolOptions(
          *db_->server, v == SchemaVersion::kV1 ? "billing_v1" : "billing_v2");
      options.http.address = "127.0.0.1";
      options.http.io_threads = 1;
      options.http.worker_threads = 4;
      options.portal.admin_token = kAdminToken;
      absl::StatusOr<std::unique_ptr<SimServer>> sim =
          SimServer::Start(std::move(options));
      if (!sim.ok()) return sim.status();
      (v == SchemaVersion::kV1 ? v1_ : v2_) = sim->release();
    }
    return absl::OkStatus();
  }

  void SetUp() override { ASSERT_TRUE(setup_.ok()) << setup_.ToString(); }

  static void TearDownTestSuite() {
    delete v1_;
    delete v2_;
    delete db_;
  }

  // The first customers with status 'open' and several accounts, whose
  // products all exist under the same code on v2 (not the v1-only FIX-ISDN,
  // nor BB-250, FIBER-250 on v2), so that a copy serves them identically.
  static std::vector<int64_t> OpenCustomers(int n) {
    auto rows = db_->server->Query(
        absl::StrCat("SELECT c.i_customer FROM customers c JOIN accounts a "
                     "ON a.i_customer = c.i_customer JOIN products p "
                     "ON p.i_product = a.i_product WHERE c.status = 'open' "
                     "GROUP BY c.i_customer HAVING COUNT(*) BETWEEN 2 AND 50 "
                     "AND SUM(p.code IN ('FIX-ISDN', 'BB-250')) = 0 "
                     "ORDER BY c.i_customer LIMIT ",
                     n),
        "billing_v1");
    EXPECT_TRUE(rows.ok()) << rows.status();
    std::vector<int64_t> out;
    for (const std::string& r : *rows) out.push_back(std::stoll(r));
    return out;
  }

  static void CopyToV2(int64_t customer) {
    ASSERT_TRUE(CopyCustomerV1ToV2(*db_->v1, *db_->v2, customer).ok());
  }

  static HttpClient Client(SimServer* sim) {
    return HttpClient("127.0.0.1", sim->port());
  }

  // Logs in and returns the Cookie header value.
  static std::string Login(HttpClient& client, int64_t customer) {
    JsonWriter w;
    w.BeginObject()
        .Field("login", DemoLogin(customer))
        .Field("password", DemoPassword(customer))
        .EndObject();
    auto r = client.Send("POST", "/api/login",
                         {{"Content-Type", "application/json"}}, w.str());
    EXPECT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200) << r->body;
    std::string cookie = r->Header("Set-Cookie");
    return cookie.substr(0, cookie.find(';'));
  }

  static JsonValue Parse(const std::string& body) {
    auto v = JsonValue::Parse(body);
    EXPECT_TRUE(v.ok()) << body;
    return v.ok() ? *v : JsonValue();
  }

  // Fetches every page of a paged list and concatenates the bodies.
  static std::string AllPages(HttpClient& client, const std::string& path,
                              const Headers& auth, int page_size, int* pages) {
    std::string out, token;
    *pages = 0;
    do {
      auto r =
          client.Send("GET",
                      absl::StrCat(path, "?page_size=", page_size,
                                   token.empty() ? "" : "&page_token=", token),
                      auth);
      EXPECT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->status, 200) << path << " " << r->body;
      if (!r.ok() || r->status != 200) break;
      out += r->body;
      ++*pages;
      token = Parse(r->body).Find("next_page_token")->text();
    } while (!token.empty());
    return out;
  }

  // Sends raw bytes and returns everything the server sends back before
  // closing the connection.
  static std::string RawExchange(SimServer* sim, const std::string& bytes) {
    namespace net = boost::asio;
    net::io_context ioc;
    net::ip::tcp::socket socket(ioc);
    socket.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"),
                                          sim->port()));
    net::write(socket, net::buffer(bytes));
    std::string out;
    boost::system::error_code ec;
    net::read(socket, net::dynamic_buffer(out), ec);  // until EOF
    return out;
  }

  static absl::Status setup_;
  static TestbedDb* db_;
  static SimServer* v1_;
  static SimServer* v2_;
};

absl::Status SimTest::setup_;
TestbedDb* SimTest::db_ = nullptr;
SimServer* SimTest::v1_ = nullptr;
SimServer* SimTest::v2_ = nullptr;

TEST_F(SimTest, BothVersionsServeTheSameCustomerIdentically) {
  std::vector<int64_t> customers = OpenCustomers(3);
  ASSERT_EQ(customers.size(), 3u);
  for (int64_t customer : customers) {
    CopyToV2(customer);
    HttpClient c1 = Client(v1_), c2 = Client(v2_);
    Headers a1 = {{"Cookie", Login(c1, customer)}};
    Headers a2 = {{"Cookie", Login(c2, customer)}};
    for (const char* path : {"/api/me", "/api/payment_methods"}) {
      auto r1 = c1.Send("GET", path, a1);
      auto r2 = c2.Send("GET", path, a2);
      ASSERT_TRUE(r1.ok() && r2.ok());
      EXPECT_EQ(r1->status, 200);
      EXPECT_EQ(r1->body, r2->body) << path;
      EXPECT_EQ(r1->Header("X-Billing-Version"), "v1");
      EXPECT_EQ(r2->Header("X-Billing-Version"), "v2");
    }
    int pages1 = 0, pages2 = 0;
    std::string accounts1 = AllPages(c1, "/api/accounts", a1, 1, &pages1);
    std::string accounts2 = AllPages(c2, "/api/accounts", a2, 1, &pages2);
    EXPECT_EQ(accounts1, accounts2);
    EXPECT_GE(pages1, 2);
    EXPECT_EQ(AllPages(c1, "/api/invoices", a1, 2, &pages1),
              AllPages(c2, "/api/invoices", a2, 2, &pages2));
    auto list = c1.Send("GET", "/api/accounts?page_size=100", a1);
    int xdr_pages = 0;
    const JsonValue parsed = Parse(list->body);
    for (const JsonValue& account : parsed.Find("accounts")->elements()) {
      std::string path = absl::StrCat(
          "/api/accounts/", account.Find("account_id")->text(), "/xdrs");
      std::string x1 = AllPages(c1, path, a1, 4, &pages1);
      std::string x2 = AllPages(c2, path, a2, 4, &pages2);
      EXPECT_EQ(x1, x2) << path;
      EXPECT_EQ(pages1, pages2);
      xdr_pages += pages1;
      std::string one =
          absl::StrCat("/api/accounts/", account.Find("account_id")->text());
      EXPECT_EQ(c1.Send("GET", one, a1)->body, c2.Send("GET", one, a2)->body);
    }
    EXPECT_GT(xdr_pages, 2);
    // The same through the demo API token.
    Headers t = {{"Authorization", "Bearer " + DemoApiToken(customer)}};
    EXPECT_EQ(c1.Send("GET", "/api/me", t)->body,
              c2.Send("GET", "/api/me", t)->body);
  }
}

TEST_F(SimTest, LoginAcceptsFormAndJsonAndRefusesWrongPassword) {
  int64_t customer = OpenCustomers(10)[3];
  HttpClient c = Client(v1_);
  auto form = c.Send("POST", "/api/login",
                     {{"Content-Type", "application/x-www-form-urlencoded"}},
                     absl::StrCat("login=", DemoLogin(customer),
                                  "&password=", DemoPassword(customer)));
  EXPECT_EQ(form->status, 200) << form->body;
  EXPECT_TRUE(absl::StartsWith(form->Header("Set-Cookie"),
                               absl::StrCat("tandem_session=", customer, ".")));
  auto wrong =
      c.Send("POST", "/api/login", {{"Content-Type", "application/json"}},
             absl::StrCat(R"({"login":")", DemoLogin(customer),
                          R"(","password":"nope"})"));
  EXPECT_EQ(wrong->status, 401);
  EXPECT_EQ(wrong->body, R"({"error":"invalid login or password"})");
  EXPECT_TRUE(wrong->Header("Set-Cookie").empty());
  auto unknown =
      c.Send("POST", "/api/login", {{"Content-Type", "application/json"}},
             R"({"login":"nobody","password":"x"})");
  EXPECT_EQ(unknown->status, 401);
  EXPECT_EQ(unknown->body, wrong->body);  // no hint which part was wrong
}

TEST_F(SimTest, ForgedExpiredAndMissingSessionsAreRefused) {
  int64_t customer = OpenCustomers(10)[4];
  CopyToV2(customer);
  for (SimServer* sim : {v1_, v2_}) {
    HttpClient c = Client(sim);
    auto none = c.Send("GET", "/api/me");
    EXPECT_EQ(none->status, 401);
    EXPECT_FALSE(none->Header("WWW-Authenticate").empty());
    std::string forged =
        absl::StrCat("tandem_session=", customer, ".", std::string(32, 'a'));
    EXPECT_EQ(c.Send("GET", "/api/me", {{"Cookie", forged}})->status, 401);
    // An expired session, written as the system itself would.
    std::string expired = absl::StrCat(customer, ".expired");
    const bool v1 = sim == v1_;
    ASSERT_TRUE(
        db_->server
            ->Execute(
                absl::StrCat(v1 ? "INSERT INTO portal_sessions (session_hash, "
                                  "i_customer, created, expires)"
                                : "INSERT INTO portal_sessions (session_hash, "
                                  "customer_id, created_at, expires_at)",
                             " VALUES ('", Sha256Hex(expired), "', ", customer,
                             ", '2020-01-01 00:00:00', '2020-01-01 08:00:00')"),
                v1 ? "billing_v1" : "billing_v2")
            .ok());
    auto r =
        c.Send("GET", "/api/me", {{"Cookie", "tandem_session=" + expired}});
    EXPECT_EQ(r->status, 401);
    EXPECT_EQ(r->body, R"({"error":"session expired or invalid"})");
    // A live session stops working after logout.
    std::string cookie = Login(c, customer);
    EXPECT_EQ(c.Send("GET", "/api/me", {{"Cookie", cookie}})->status, 200);
    EXPECT_EQ(c.Send("POST", "/api/logout", {{"Cookie", cookie}})->status, 204);
    EXPECT_EQ(c.Send("GET", "/api/me", {{"Cookie", cookie}})->status, 401);
  }
}

TEST_F(SimTest, BadApiTokensAreRefused) {
  int64_t customer = OpenCustomers(10)[5];
  HttpClient c = Client(v1_);
  std::string good = DemoApiToken(customer);
  EXPECT_EQ(
      c.Send("GET", "/api/me", {{"Authorization", "Bearer " + good}})->status,
      200);
  std::string bad = good;
  bad.back() = bad.back() == 'a' ? 'b' : 'a';
  auto r = c.Send("GET", "/api/me", {{"Authorization", "Bearer " + bad}});
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->body, R"({"error":"invalid API token"})");
  EXPECT_EQ(c.Send("GET", "/api/me", {{"Authorization", "Basic eDp5"}})->status,
            401);
  // A token minted through the API works.
  std::string cookie = Login(c, customer);
  auto minted = c.Send("POST", "/api/tokens", {{"Cookie", cookie}});
  ASSERT_EQ(minted->status, 201);
  std::string token = Parse(minted->body).Find("token")->text();
  EXPECT_EQ(CustomerIdFromToken(token), customer);
  EXPECT_EQ(
      c.Send("GET", "/api/me", {{"Authorization", "Bearer " + token}})->status,
      200);
}

TEST_F(SimTest, MalformedRequestsGet400) {
  int64_t customer = OpenCustomers(10)[6];
  HttpClient c = Client(v1_);
  Headers auth = {{"Cookie", Login(c, customer)}};
  Headers json = {{"Content-Type", "application/json"}};
  auto expect = [&](absl::string_view method, absl::string_view target,
                    const Headers& headers, absl::string_view body,
                    int status) {
    auto r = c.Send(method, target, headers, body);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, status) << method << " " << target << " " << body;
    EXPECT_TRUE(JsonValue::Parse(r->body).ok()) << r->body;
    EXPECT_TRUE(absl::StrContains(r->body, "\"error\"")) << r->body;
  };
  expect("POST", "/api/login", json, "{not json", 400);
  expect("POST", "/api/login", json, R"({"login": 5})", 400);
  expect("POST", "/api/login", {{"Content-Type", "text/plain"}}, "x", 415);
  Headers auth_json = auth;
  auth_json.emplace_back("Content-Type", "application/json");
  expect("GET", "/api/accounts?page_size=-1", auth, "", 400);
  expect("GET", "/api/accounts?page_token=%%%", auth, "", 400);
  expect("GET", "/api/accounts?page_token=bm9wZQ", auth, "", 400);
  expect("GET", "/api/accounts/abc", auth, "", 400);
  expect("POST", "/api/topup", auth_json, R"({"amount":"-5"})", 400);
  expect("POST", "/api/topup", auth_json, R"({"amount":"1.000001"})", 400);
  expect("PATCH", "/api/accounts/1/settings", auth_json, R"({"A b": "x"})",
         400);
  expect("PATCH", "/api/accounts/1/settings", auth_json, "[1]", 400);
  // Routing errors are precise too.
  expect("GET", "/api/nothing", auth, "", 404);
  expect("DELETE", "/api/me", auth, "", 405);
  expect("GE", "/api/me", auth, "", 405);  // not a prefix match
  auto r405 = c.Send("DELETE", "/api/me", auth);
  EXPECT_EQ(r405->Header("Allow"), "GET");
  // Another customer's account is simply not found.
  expect("GET", "/api/accounts/999999", auth, "", 404);

  // Protocol-level errors close the connection after a precise answer.
  std::string garbage = RawExchange(v1_, "HELLO WORLD\r\n\r\n");
  EXPECT_TRUE(absl::StartsWith(garbage, "HTTP/1.1 400")) << garbage;
  EXPECT_TRUE(absl::StrContains(garbage, "X-Billing-Version: v1"));
  std::string big_body =
      RawExchange(v1_,
                  "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Length: "
                  "10000000\r\n\r\n");
  EXPECT_TRUE(absl::StartsWith(big_body, "HTTP/1.1 413")) << big_body;
  std::string big_header = RawExchange(
      v1_, absl::StrCat("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ",
                        std::string(40000, 'a'), "\r\n\r\n"));
  EXPECT_TRUE(absl::StartsWith(big_header, "HTTP/1.1 431")) << big_header;
}

TEST_F(SimTest, CustomerWritesWorkOnBothVersions) {
  int64_t customer = OpenCustomers(10)[7];
  CopyToV2(customer);
  std::string after_v1, after_v2;
  for (SimServer* sim : {v1_, v2_}) {
    HttpClient c = Client(sim);
    Headers auth = {{"Cookie", Login(c, customer)},
                    {"Content-Type", "application/json"}};
    auto list = c.Send("GET", "/api/accounts", auth);
    const JsonValue parsed = Parse(list->body);
    std::string account =
        parsed.Find("accounts")->elements()[0].Find("account_id")->text();
    auto patched =
        c.Send("PATCH", absl::StrCat("/api/accounts/", account, "/settings"),
               auth, R"({"language":"cs","roaming":null,"x1":"y"})");
    ASSERT_EQ(patched->status, 200) << patched->body;
    const JsonValue patched_json = Parse(patched->body);
    const JsonValue& settings = *patched_json.Find("service_settings");
    EXPECT_EQ(settings.Find("language")->text(), "cs");
    EXPECT_EQ(settings.Find("roaming"), nullptr);
    EXPECT_EQ(settings.Find("x1")->text(), "y");
    auto before = Parse(c.Send("GET", "/api/me", auth)->body);
    auto topup = c.Send("POST", "/api/topup", auth, R"({"amount":"12.345"})");
    ASSERT_EQ(topup->status, 200) << topup->body;
    int64_t delta =
        *DecimalToMicros(Parse(topup->body).Find("balance")->text()) -
        *DecimalToMicros(before.Find("balance")->text());
    EXPECT_EQ(delta, 12345000);
    auto account_topup =
        c.Send("POST", "/api/topup", auth,
               absl::StrCat(R"({"amount":1.5,"account_id":)", account, "}"));
    ASSERT_EQ(account_topup->status, 200) << account_topup->body;
    std::string& after = sim == v1_ ? after_v1 : after_v2;
    after = c.Send("GET", absl::StrCat("/api/accounts/", account), auth)->body;
  }
  EXPECT_EQ(after_v1, after_v2);
  // What v2 stored is in v2's own units and shape.
  auto rows = db_->server->Query(
      absl::StrCat("SELECT setting_value FROM account_service_settings s "
                   "JOIN accounts a ON a.account_id = s.account_id WHERE "
                   "a.customer_id = ",
                   customer, " AND setting_name = 'x1'"),
      "billing_v2");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(*rows, std::vector<std::string>{"y"});
  auto tx = db_->server->Query(
      absl::StrCat("SELECT amount_micros FROM balance_transactions WHERE "
                   "customer_id = ",
                   customer,
                   " AND kind = 'topup' AND amount_micros = 12345000"),
      "billing_v2");
  ASSERT_TRUE(tx.ok());
  EXPECT_EQ(tx->size(), 1u);
}

TEST_F(SimTest, AdminProductUpdatesWork) {
  // A product in use on both systems: that of a customer copied to v2.
  const int64_t customer = OpenCustomers(10)[9];
  CopyToV2(customer);
  auto used = db_->server->Query(
      absl::StrCat("SELECT p.code FROM accounts a JOIN products p ON "
                   "p.i_product = a.i_product WHERE a.i_customer = ",
                   customer, " LIMIT 1"),
      "billing_v1");
  ASSERT_TRUE(used.ok() && used->size() == 1);
  const std::string used_code = (*used)[0];
  for (SimServer* sim : {v1_, v2_}) {
    const bool v1 = sim == v1_;
    HttpClient c = Client(sim);
    Headers admin = {{"Authorization", absl::StrCat("Bearer ", kAdminToken)},
                     {"Content-Type", "application/json"}};
    EXPECT_EQ(c.Send("GET", "/admin/products")->status, 401);
    EXPECT_EQ(
        c.Send("GET", "/admin/products", {{"Authorization", "Bearer wrong"}})
            ->status,
        401);
    auto list = c.Send("GET", "/admin/products", admin);
    ASSERT_EQ(list->status, 200);
    const int64_t mob_s = v1 ? 1 : 5015;
    std::string path = absl::StrCat("/admin/products/", mob_s);
    auto updated = c.Send("PATCH", path, admin,
                          R"({"monthly_fee":"11.50",)"
                          R"("resources":[{"type":"data_mb","limit":4000}],)"
                          R"("activation_params":{"apn":"web"}})");
    ASSERT_EQ(updated->status, 200) << updated->body;
    JsonValue p = Parse(updated->body);
    EXPECT_EQ(p.Find("code")->text(), "MOB-S");
    EXPECT_EQ(p.Find("monthly_fee")->text(), "11.50");
    EXPECT_EQ(p.Find("resources")->elements().size(), 1u);
    EXPECT_EQ(p.Find("activation_params")->Find("apn")->text(), "web");
    EXPECT_EQ(c.Send("GET", path, admin)->body, updated->body);
    auto fee = db_->server->Query(
        v1 ? "SELECT monthly_fee FROM products WHERE code = 'MOB-S'"
           : "SELECT monthly_fee_micros FROM products "
             "WHERE product_code = 'MOB-S'",
        v1 ? "billing_v1" : "billing_v2");
    EXPECT_EQ((*fee)[0], v1 ? "11.50000" : "11500000");

    std::string created_body =
        R"({"code":"TEST-NEW","name":"Test","category":"mobile",)"
        R"("contract_pool":"mobile-consumer","monthly_fee":"1.99",)"
        R"("resources":[{"type":"sms","limit":5}],"addons":["ADD-ROAM"]})";
    auto created = c.Send("POST", "/admin/products", admin, created_body);
    ASSERT_EQ(created->status, 201) << created->body;
    std::string id = Parse(created->body).Find("product_id")->text();
    EXPECT_EQ(c.Send("POST", "/admin/products", admin, created_body)->status,
              409);
    EXPECT_EQ(c.Send("POST", "/admin/products", admin,
                     R"({"code":"X","monthly_fee":"1"})")
                  ->status,
              400);
    EXPECT_EQ(c.Send("PATCH", path, admin, R"({"colour":"red"})")->status, 400);
    EXPECT_EQ(c.Send("PATCH", path, admin,
                     R"({"resources":[{"type":"nope","limit":1}]})")
                  ->status,
              400);
    std::string used_id;
    const JsonValue products = Parse(list->body);
    for (const JsonValue& p : products.Find("products")->elements()) {
      if (p.Find("code")->text() == used_code) {
        used_id = p.Find("product_id")->text();
      }
    }
    ASSERT_FALSE(used_id.empty());
    auto in_use = c.Send("DELETE", "/admin/products/" + used_id, admin);
    EXPECT_EQ(in_use->status, 409) << in_use->body;
    EXPECT_EQ(c.Send("DELETE", "/admin/products/" + id, admin)->status, 204);
    EXPECT_EQ(c.Send("GET", "/admin/products/" + id, admin)->status, 404);
    EXPECT_EQ(c.Send("POST", path, admin, "{}")->status, 405);
  }
}

TEST_F(SimTest, KeepAliveServesManyRequestsOnOneConnection) {
  HttpClient c = Client(v2_);
  for (int i = 0; i < 50; ++i) {
    auto r = c.Send("GET", "/healthz");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->Header("X-Billing-Version"), "v2");
  }
  auto db_request = c.Send("GET", "/api/me");  // a worker-thread request
  EXPECT_EQ(db_request->status, 401);
  EXPECT_EQ(c.connects(), 1);
  auto close = c.Send("GET", "/healthz", {{"Connection", "close"}});
  EXPECT_EQ(close->Header("Connection"), "close");
  EXPECT_EQ(c.Send("GET", "/healthz")->status, 200);
  EXPECT_EQ(c.connects(), 2);
}

TEST_F(SimTest, ExportedCustomersAreTurnedAway) {
  int64_t customer = OpenCustomers(10)[8];
  HttpClient c = Client(v1_);
  std::string cookie = Login(c, customer);
  ASSERT_TRUE(db_->server
                  ->Execute(absl::StrCat("UPDATE customers SET status = "
                                         "'exported' WHERE i_customer = ",
                                         customer),
                            "billing_v1")
                  .ok());
  auto me = c.Send("GET", "/api/me", {{"Cookie", cookie}});
  EXPECT_EQ(me->status, 409);
  EXPECT_EQ(me->body, R"({"error":"customer exported"})");
  EXPECT_EQ(me->Header("X-Billing-Customer-Exported"), "1");
  auto login = c.Send("POST", "/api/login",
                      {{"Content-Type", "application/x-www-form-urlencoded"}},
                      absl::StrCat("login=", DemoLogin(customer),
                                   "&password=", DemoPassword(customer)));
  EXPECT_EQ(login->status, 409);
  EXPECT_EQ(login->Header("X-Billing-Customer-Exported"), "1");
}

}  // namespace
}  // namespace tandem::testbed
