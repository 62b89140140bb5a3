// The simulator's `exported` check sits inside the transaction of every
// write, on both schema versions: a write that passed the request's early
// check and then waits on the customer's row while another transaction
// marks the customer exported is refused (409, {"error":"customer
// exported"}, X-Billing-Customer-Exported: 1) and writes nothing. The two
// versions run on separate servers (the three-server testbed).
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <mysql_connection.h>

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "testbed/base/json.h"
#include "testbed/reference/v1_to_v2.h"
#include "testbed/sim/sim_server.h"
#include "testbed/traffic/http_client.h"
#include "tests/testbed/testbed_fixture.h"
#include "tests/testing/eventually.h"

namespace tandem::testbed {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;
using tandem::testing::Eventually;

class SimExportedTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { setup_ = StartAll(); }

  // Kept and reported by SetUp(): an ASSERT in SetUpTestSuite would only
  // mark the tests skipped.
  static absl::Status StartAll() {
    TestbedOptions o;
    o.datagen.seed = 3;
    o.datagen.customers = 12;
    o.datagen.accounts = 60;
    o.datagen.xdrs = 100;
    o.datagen.password_iterations = 10;
    absl::StatusOr<std::unique_ptr<Testbed>> tb = StartTestbed(o);
    if (!tb.ok()) return tb.status();
    tb_ = tb->release();
    for (SchemaVersion v : {SchemaVersion::kV1, SchemaVersion::kV2}) {
      SimOptions options;
      options.version = v;
      options.db = v == SchemaVersion::kV1 ? tb_->SourceDb() : tb_->TargetDb();
      options.http.address = "127.0.0.1";
      options.http.worker_threads = 4;
      absl::StatusOr<std::unique_ptr<SimServer>> sim =
          SimServer::Start(std::move(options));
      if (!sim.ok()) return sim.status();
      sims_[v == SchemaVersion::kV1 ? 0 : 1] = sim->release();
    }
    // Customers on both systems, so that each version has them (those
    // with a product that has no v2 counterpart cannot be copied).
    for (int64_t c = 1; c <= 12; ++c) {
      absl::Status s = CopyCustomerV1ToV2(tb_->v1(), tb_->v2(), c);
      if (s.ok()) {
        copied_.push_back(c);
      } else if (s.code() != absl::StatusCode::kFailedPrecondition) {
        return s;
      }
    }
    if (copied_.size() < 4) {
      return absl::InternalError("fewer than 4 customers could be copied");
    }
    return absl::OkStatus();
  }

  static void TearDownTestSuite() {
    delete sims_[0];
    delete sims_[1];
    delete tb_;
  }

  void SetUp() override { ASSERT_TRUE(setup_.ok()) << setup_.ToString(); }

  static MysqlPool& Pool(SchemaVersion v) {
    return v == SchemaVersion::kV1 ? tb_->v1() : tb_->v2();
  }
  static tandem::testing::MariaDbServer& Server(SchemaVersion v) {
    return v == SchemaVersion::kV1 ? tb_->source_server()
                                   : tb_->target_server();
  }
  static HttpClient Client(SchemaVersion v) {
    return HttpClient("127.0.0.1",
                      sims_[v == SchemaVersion::kV1 ? 0 : 1]->port());
  }

  static std::string Scalar(SchemaVersion v, const std::string& sql) {
    auto rows = Server(v).Query(
        sql, v == SchemaVersion::kV1 ? Testbed::kSourceDb : Testbed::kTargetDb);
    EXPECT_TRUE(rows.ok()) << rows.status() << " " << sql;
    return rows.ok() && !rows->empty() ? (*rows)[0] : "";
  }

  // Marks the customer open (or exported) outside any race.
  static void SetStatus(SchemaVersion v, int64_t customer, bool exported) {
    const std::string sql =
        v == SchemaVersion::kV1
            ? absl::StrCat("UPDATE customers SET status = '",
                           exported ? "exported" : "open",
                           "' WHERE i_customer = ", customer)
            : absl::StrCat("UPDATE customers SET status = ", exported ? 4 : 1,
                           " WHERE customer_id = ", customer);
    ASSERT_TRUE(Server(v)
                    .Execute(sql, v == SchemaVersion::kV1 ? Testbed::kSourceDb
                                                          : Testbed::kTargetDb)
                    .ok());
  }

  static std::string Login(SchemaVersion v, int64_t customer) {
    HttpClient c = Client(v);
    JsonWriter w;
    w.BeginObject()
        .Field("login", DemoLogin(customer))
        .Field("password", DemoPassword(customer))
        .EndObject();
    auto r = c.Send("POST", "/api/login",
                    {{"Content-Type", "application/json"}}, w.str());
    EXPECT_TRUE(r.ok() && r->status == 200) << (r.ok() ? r->body : "");
    if (!r.ok()) return "";
    std::string cookie = r->Header("Set-Cookie");
    return cookie.substr(0, cookie.find(';'));
  }

  // Holds the customer's row in a transaction, sends `send` from another
  // thread, waits until that request waits on the row, then marks the
  // customer exported in the same transaction and commits. Returns what the
  // request got.
  static ClientResponse RaceExportMark(
      SchemaVersion v, int64_t customer,
      const std::function<absl::StatusOr<ClientResponse>()>& send) {
    absl::StatusOr<ClientResponse> got =
        absl::InternalError("request not sent");
    std::thread request;
    const bool v1 = v == SchemaVersion::kV1;
    absl::Status held = Pool(v).Transaction(
        "hold customer",
        [&](sql::Connection& conn) {
          std::unique_ptr<sql::PreparedStatement> lock(conn.prepareStatement(
              v1 ? "SELECT status FROM customers WHERE i_customer = ? "
                   "FOR UPDATE"
                 : "SELECT status FROM customers WHERE customer_id = ? "
                   "FOR UPDATE"));
          lock->setInt64(1, customer);
          std::unique_ptr<sql::ResultSet> rs(lock->executeQuery());
          request = std::thread([&] { got = send(); });
          EXPECT_TRUE(Eventually(
              [&] {
                return Scalar(v,
                              "SELECT COUNT(*) FROM information_schema."
                              "INNODB_TRX WHERE trx_state = 'LOCK WAIT'") ==
                       "1";
              },
              absl::Seconds(30)))
              << "the request never waited on the customer's row: "
              << Scalar(v,
                        "SELECT GROUP_CONCAT(CONCAT(trx_state, ' ', "
                        "IFNULL(trx_query, '-')) SEPARATOR ' | ') FROM "
                        "information_schema.INNODB_TRX")
              << " || "
              << Scalar(v,
                        "SELECT GROUP_CONCAT(CONCAT(command, ' ', time, ' ', "
                        "IFNULL(state, '-'), ' ', IFNULL(info, '-')) "
                        "SEPARATOR ' | ') FROM information_schema.PROCESSLIST "
                        "WHERE command <> 'Sleep'");
          std::unique_ptr<sql::PreparedStatement> mark(conn.prepareStatement(
              v1 ? "UPDATE customers SET status = 'exported' "
                   "WHERE i_customer = ?"
                 : "UPDATE customers SET status = 4 WHERE customer_id = ?"));
          mark->setInt64(1, customer);
          mark->executeUpdate();
          return absl::OkStatus();
        },
        /*attempts=*/1);
    if (request.joinable()) request.join();
    EXPECT_TRUE(held.ok()) << held;
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? *got : ClientResponse();
  }

  static void ExpectExported(const ClientResponse& r) {
    EXPECT_EQ(r.status, 409) << r.body;
    EXPECT_EQ(r.body, R"({"error":"customer exported"})");
    EXPECT_EQ(r.Header("X-Billing-Customer-Exported"), "1");
  }

  static absl::Status setup_;
  static std::vector<int64_t> copied_;  // on both systems
  static Testbed* tb_;
  static SimServer* sims_[2];
};

absl::Status SimExportedTest::setup_;
std::vector<int64_t> SimExportedTest::copied_;
Testbed* SimExportedTest::tb_ = nullptr;
SimServer* SimExportedTest::sims_[2] = {nullptr, nullptr};

constexpr SchemaVersion kVersions[] = {SchemaVersion::kV1, SchemaVersion::kV2};

TEST_F(SimExportedTest, TopUpWaitingOnTheRowIsRefusedAndWritesNothing) {
  for (SchemaVersion v : kVersions) {
    SCOPED_TRACE(VersionName(v));
    const int64_t customer = copied_[0];
    SetStatus(v, customer, false);
    const std::string cookie = Login(v, customer);
    const std::string count_sql = absl::StrCat(
        v == SchemaVersion::kV1
            ? "SELECT COUNT(*), SUM(balance) FROM balance_transactions t "
              "JOIN customers c ON c.i_customer = t.i_customer "
              "WHERE t.i_customer = "
            : "SELECT COUNT(*), SUM(balance_micros) FROM balance_transactions "
              "t JOIN customers c ON c.customer_id = t.customer_id "
              "WHERE t.customer_id = ",
        customer);
    const std::string before = Scalar(v, count_sql);
    ClientResponse r = RaceExportMark(v, customer, [&] {
      return Client(v).Send(
          "POST", "/api/topup",
          {{"Cookie", cookie}, {"Content-Type", "application/json"}},
          R"({"amount":"5.00"})");
    });
    ExpectExported(r);
    EXPECT_EQ(Scalar(v, count_sql), before);
  }
}

TEST_F(SimExportedTest, SettingsEditsWaitingOnTheRowAreRefused) {
  for (SchemaVersion v : kVersions) {
    for (const char* method : {"PATCH", "PUT"}) {
      SCOPED_TRACE(absl::StrCat(VersionName(v), " ", method));
      const int64_t customer = 3;
      SetStatus(v, customer, false);
      const std::string cookie = Login(v, customer);
      const std::string account = Scalar(
          v,
          v == SchemaVersion::kV1
              ? "SELECT MIN(i_account) FROM accounts WHERE i_customer = 3"
              : "SELECT MIN(account_id) FROM accounts WHERE customer_id = 3");
      HttpClient c = Client(v);
      const Headers auth = {{"Cookie", cookie},
                            {"Content-Type", "application/json"}};
      const std::string path =
          absl::StrCat("/api/accounts/", account, "/settings");
      const std::string before = c.Send("GET", path, auth)->body;
      ClientResponse r = RaceExportMark(v, customer, [&] {
        return Client(v).Send(method, path, auth, R"({"language":"xx"})");
      });
      ExpectExported(r);
      SetStatus(v, customer, false);
      EXPECT_EQ(c.Send("GET", path, auth)->body, before);
    }
  }
}

TEST_F(SimExportedTest, LoginLogoutAndTokensWaitingOnTheRowAreRefused) {
  for (SchemaVersion v : kVersions) {
    SCOPED_TRACE(VersionName(v));
    const int64_t customer = copied_[2];
    const std::string where =
        absl::StrCat(v == SchemaVersion::kV1 ? " WHERE i_customer = "
                                             : " WHERE customer_id = ",
                     customer);
    const std::string sessions_sql =
        absl::StrCat("SELECT COUNT(*) FROM portal_sessions", where);
    const std::string tokens_sql =
        absl::StrCat("SELECT COUNT(*) FROM api_tokens", where);
    // Login: the password check passes, the session's insert waits.
    SetStatus(v, customer, false);
    std::string sessions = Scalar(v, sessions_sql);
    JsonWriter w;
    w.BeginObject()
        .Field("login", DemoLogin(customer))
        .Field("password", DemoPassword(customer))
        .EndObject();
    const std::string body = w.str();
    ExpectExported(RaceExportMark(v, customer, [&] {
      return Client(v).Send("POST", "/api/login",
                            {{"Content-Type", "application/json"}}, body);
    }));
    EXPECT_EQ(Scalar(v, sessions_sql), sessions);
    // Logout keeps the session.
    SetStatus(v, customer, false);
    const std::string cookie = Login(v, customer);
    sessions = Scalar(v, sessions_sql);
    ExpectExported(RaceExportMark(v, customer, [&] {
      return Client(v).Send("POST", "/api/logout", {{"Cookie", cookie}});
    }));
    EXPECT_EQ(Scalar(v, sessions_sql), sessions);
    // A new API token is not stored.
    SetStatus(v, customer, false);
    const std::string tokens = Scalar(v, tokens_sql);
    ExpectExported(RaceExportMark(v, customer, [&] {
      return Client(v).Send("POST", "/api/tokens", {{"Cookie", cookie}});
    }));
    EXPECT_EQ(Scalar(v, tokens_sql), tokens);
  }
}

TEST_F(SimExportedTest, ReadsOfAnExportedCustomerCarryTheHeader) {
  for (SchemaVersion v : kVersions) {
    SCOPED_TRACE(VersionName(v));
    const int64_t customer = copied_[3];
    SetStatus(v, customer, false);
    const std::string cookie = Login(v, customer);
    SetStatus(v, customer, true);
    auto r = Client(v).Send("GET", "/api/accounts", {{"Cookie", cookie}});
    ASSERT_TRUE(r.ok());
    ExpectExported(*r);
  }
}

}  // namespace
}  // namespace tandem::testbed
