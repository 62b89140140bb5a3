// What goes wrong during a move, on purpose: a corrupted copy, a mapping that
// converts wrongly, the target going down, writes during the copy, a
// customer that never converges. The route is never TARGET for a customer
// whose verification failed, a failed move leaves the source as it was, and
// a retry succeeds.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/migrator/migrator_fixture.h"
#include "tests/testing/eventually.h"

namespace tandem::migrator::testing {
namespace {

namespace rv1 = ::tandem::router::v1;
using ::tandem::common::v1::SYSTEM_SOURCE;
using ::tandem::common::v1::SYSTEM_TARGET;

class MigratorFaultTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = MigratorEnv::StartForSuite(SmallPopulation(60, 300, 3000),
                                      setup_error_);
    if (env_ == nullptr) return;
    movable_ = new std::vector<int64_t>(env_->MovableCustomers(12));
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(env_, nullptr) << *setup_error_;
    ASSERT_GE(movable_->size(), 8u);
  }
  // A customer no other test uses.
  static int64_t NextCustomer() { return (*movable_)[next_++]; }

  static v1::MoveCustomerResponse Move(v1::MigratorService::Stub& stub,
                                       int64_t customer,
                                       v1::BatchOptions options = {}) {
    v1::MoveCustomerRequest request;
    request.set_customer_id(customer);
    request.set_wait(true);
    *request.mutable_options() = options;
    v1::MoveCustomerResponse response;
    grpc::Status s =
        stub.MoveCustomer(MigratorEnv::Ctx().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }

  static std::string One(bool target, const std::string& sql) {
    const auto& server = target ? env_->testbed().target_server()
                                : env_->testbed().source_server();
    auto rows = server.Query(sql, target ? testbed::Testbed::kTargetDb
                                         : testbed::Testbed::kSourceDb);
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() && !rows->empty() ? (*rows)[0] : "";
  }

  static void ExpectLeftOnTheSource(int64_t c) {
    rv1::Route route = env_->Route(c);
    EXPECT_EQ(route.system(), SYSTEM_SOURCE);
    EXPECT_EQ(route.state(), rv1::ROUTE_STATE_STABLE);
    EXPECT_NE(One(false, absl::StrCat("SELECT status FROM customers WHERE "
                                      "i_customer = ",
                                      c)),
              "exported");
    // The copy was removed.
    EXPECT_EQ(One(true, absl::StrCat("SELECT COUNT(*) FROM cdrs WHERE "
                                     "customer_id = ",
                                     c)),
              "0");
    EXPECT_EQ(One(true, absl::StrCat("SELECT COUNT(*) FROM customers WHERE "
                                     "customer_id = ",
                                     c)),
              "0");
  }

  static MigratorEnv* env_;
  static std::string* setup_error_;
  static std::vector<int64_t>* movable_;
  static size_t next_;
};

MigratorEnv* MigratorFaultTest::env_ = nullptr;
std::string* MigratorFaultTest::setup_error_ = new std::string("not started");
std::vector<int64_t>* MigratorFaultTest::movable_ = nullptr;
size_t MigratorFaultTest::next_ = 0;

TEST_F(MigratorFaultTest, ACopyCorruptedBeforeVerificationIsNeverFlipped) {
  const int64_t c = NextCustomer();
  auto migrator = env_->StartMigrator([&](MigratorServerOptions& o) {
    o.mover.fault = [&](const std::string& point, int64_t customer) {
      if (point == "before_verify" && customer == c) {
        // Another writer changes one copied row behind the migrator's back.
        EXPECT_TRUE(env_->testbed()
                        .target_server()
                        .Execute(absl::StrCat(
                                     "UPDATE cdrs SET charged_micros = "
                                     "charged_micros + 10 WHERE customer_id = ",
                                     c, " ORDER BY cdr_id LIMIT 1"),
                                 testbed::Testbed::kTargetDb)
                        .ok());
      }
      return absl::OkStatus();
    };
  });
  ASSERT_TRUE(migrator.ok()) << migrator.status();
  auto stub = MigratorStub((*migrator)->port());
  v1::MoveCustomerResponse moved = Move(*stub, c);
  EXPECT_EQ(moved.item().state(), v1::ITEM_STATE_FAILED);
  EXPECT_EQ(moved.item().failure().kind(), v1::FAILURE_KIND_VERIFY_MISMATCH)
      << moved.item().failure().message();
  EXPECT_FALSE(moved.item().verification().equal());
  bool names_the_row = false;
  for (const auto& d : moved.item().verification().differences()) {
    names_the_row |= d.table() == "cdrs" && d.column() == "charged_micros";
  }
  EXPECT_TRUE(names_the_row) << moved.item().verification().DebugString();
  ExpectLeftOnTheSource(c);

  // A retry (without the fault) moves it.
  (*migrator)->Shutdown(absl::Seconds(5));
  auto clean = env_->StartMigrator();
  ASSERT_TRUE(clean.ok());
  v1::MoveCustomerResponse retried = Move(*MigratorStub((*clean)->port()), c);
  EXPECT_EQ(retried.item().state(), v1::ITEM_STATE_TAIL)
      << retried.item().DebugString();
  EXPECT_EQ(env_->Route(c).system(), SYSTEM_TARGET);
}

TEST_F(MigratorFaultTest,
       AMappingThatConvertsMoneyWronglyFailsTheBusinessChecks) {
  const int64_t c = NextCustomer();
  // The same mapping, except that charged amounts are scaled by 10^7 instead
  // of 10^6: every value fits, so the schema check passes, and rows copy
  // "faithfully" to the wrong values.
  std::ifstream in(TANDEM_MAPPING_FILE);
  std::stringstream text;
  text << in.rdbuf();
  std::string wrong = absl::StrReplaceAll(
      text.str(),
      {{"charged_micros: {from: charged_amount, convert: money}",
        "charged_micros: {from: charged_amount, convert: tenth_micros}"},
       {"  money: {scale: 1000000}",
        "  money: {scale: 1000000}\n  tenth_micros: {scale: 10000000}"}});
  ASSERT_NE(wrong, text.str());
  const std::string path =
      absl::StrCat(env_->testbed().target_server().dir(), "/wrong.yaml");
  std::ofstream(path) << wrong;
  auto migrator = env_->StartMigrator(
      [&](MigratorServerOptions& o) { o.mapping_file = path; });
  ASSERT_TRUE(migrator.ok()) << migrator.status();
  v1::MoveCustomerResponse moved = Move(*MigratorStub((*migrator)->port()), c);
  EXPECT_EQ(moved.item().state(), v1::ITEM_STATE_FAILED);
  EXPECT_EQ(moved.item().failure().kind(), v1::FAILURE_KIND_VERIFY_MISMATCH)
      << moved.item().failure().message();
  bool business = false;
  for (const auto& d : moved.item().verification().differences()) {
    business |= d.kind() == v1::DIFFERENCE_KIND_BUSINESS;
  }
  EXPECT_TRUE(business) << moved.item().verification().DebugString();
  ExpectLeftOnTheSource(c);
}

TEST_F(MigratorFaultTest, TargetDownMidMoveFailsCleanlyAndARetrySucceeds) {
  const int64_t c = NextCustomer();
  auto migrator = env_->StartMigrator([&](MigratorServerOptions& o) {
    o.mover.fault = [&](const std::string& point, int64_t customer) {
      if (point == "after_pre_copy" && customer == c) {
        env_->testbed().target_server().Kill();
      }
      return absl::OkStatus();
    };
  });
  ASSERT_TRUE(migrator.ok()) << migrator.status();
  v1::MoveCustomerResponse moved = Move(*MigratorStub((*migrator)->port()), c);
  EXPECT_EQ(moved.item().state(), v1::ITEM_STATE_FAILED);
  EXPECT_EQ(moved.item().failure().kind(), v1::FAILURE_KIND_DATABASE_ERROR)
      << moved.item().failure().message();
  rv1::Route route = env_->Route(c);
  EXPECT_EQ(route.system(), SYSTEM_SOURCE);
  EXPECT_EQ(route.state(), rv1::ROUTE_STATE_STABLE);
  EXPECT_NE(One(false, absl::StrCat("SELECT status FROM customers WHERE "
                                    "i_customer = ",
                                    c)),
            "exported");
  (*migrator)->Shutdown(absl::Seconds(5));
  ASSERT_TRUE(env_->testbed().target_server().Restart().ok());
  // The half-made copy is still there; the retry replaces it, without a
  // duplicate key.
  auto clean = env_->StartMigrator();
  ASSERT_TRUE(clean.ok()) << clean.status();
  v1::MoveCustomerResponse retried = Move(*MigratorStub((*clean)->port()), c);
  EXPECT_EQ(retried.item().state(), v1::ITEM_STATE_TAIL)
      << retried.item().DebugString();
  EXPECT_TRUE(retried.item().verification().equal());
  EXPECT_EQ(env_->Route(c).system(), SYSTEM_TARGET);
}

TEST_F(MigratorFaultTest, WritesDuringTheCopyArriveIncludingDeletions) {
  const int64_t c = NextCustomer();
  const std::string account =
      One(false, absl::StrCat("SELECT MIN(i_account) FROM accounts WHERE "
                              "i_customer = ",
                              c));
  // A session and settings to delete while the copy runs.
  ASSERT_TRUE(
      env_->testbed()
          .source_server()
          .Execute(absl::StrCat("INSERT INTO portal_sessions VALUES "
                                "(REPEAT('a', 64), ",
                                c,
                                ", '2026-12-01 00:00:00', '2027-01-01 "
                                "00:00:00'); UPDATE accounts SET "
                                "service_settings = JSON_SET(service_settings, "
                                "'$.voicemail', 'on', '$.language', 'de') "
                                "WHERE i_account = ",
                                account),
                   testbed::Testbed::kSourceDb)
          .ok());
  auto migrator = env_->StartMigrator([&](MigratorServerOptions& o) {
    o.mover.fault = [&](const std::string& point, int64_t customer) {
      if (point == "after_pre_copy" && customer == c) {
        // A logout, a deleted setting key (null in v1's JSON), a new call.
        EXPECT_TRUE(
            env_->testbed()
                .source_server()
                .Execute(absl::StrCat("DELETE FROM portal_sessions WHERE "
                                      "session_hash = REPEAT('a', 64); "
                                      "UPDATE accounts SET service_settings = "
                                      "JSON_SET(service_settings, "
                                      "'$.voicemail', NULL) WHERE i_account = ",
                                      account,
                                      "; INSERT INTO xdrs (i_account, "
                                      "i_customer, connect_time, duration, "
                                      "charged_amount, CLI, CLD) VALUES (",
                                      account, ", ", c,
                                      ", '2026-12-06 10:00:00', 61, 0.12340, "
                                      "'+4930', '+4940')"),
                         testbed::Testbed::kSourceDb)
                .ok());
      }
      return absl::OkStatus();
    };
  });
  ASSERT_TRUE(migrator.ok()) << migrator.status();
  v1::MoveCustomerResponse moved = Move(*MigratorStub((*migrator)->port()), c);
  ASSERT_EQ(moved.item().state(), v1::ITEM_STATE_TAIL)
      << moved.item().DebugString();
  EXPECT_EQ(One(true,
                "SELECT COUNT(*) FROM portal_sessions WHERE "
                "session_hash = REPEAT('a', 64)"),
            "0");
  EXPECT_EQ(One(true, absl::StrCat("SELECT COUNT(*) FROM "
                                   "account_service_settings WHERE "
                                   "account_id = ",
                                   account, " AND setting_name = 'voicemail'")),
            "0");
  EXPECT_EQ(One(true, absl::StrCat("SELECT setting_value FROM "
                                   "account_service_settings WHERE "
                                   "account_id = ",
                                   account, " AND setting_name = 'language'")),
            "de");
  EXPECT_EQ(One(true, absl::StrCat("SELECT COUNT(*) FROM cdrs WHERE "
                                   "customer_id = ",
                                   c,
                                   " AND charged_micros = 123400 AND "
                                   "duration_ms = 61000")),
            "1");
  EXPECT_TRUE(moved.item().verification().equal());
}

TEST_F(MigratorFaultTest, ACustomerThatNeverConvergesIsReportedNotForced) {
  const int64_t c = NextCustomer();
  int round = 0;
  auto migrator = env_->StartMigrator([&](MigratorServerOptions& o) {
    o.mover.converged_rows = 0;
    o.mover.max_catch_up_rounds = 3;
    o.mover.fault = [&](const std::string& point, int64_t customer) {
      // Every catch-up round finds the customer changed again.
      if (point == "before_catch_up" && customer == c) {
        EXPECT_TRUE(env_->testbed()
                        .source_server()
                        .Execute(absl::StrCat("UPDATE customers SET email = "
                                              "'round",
                                              ++round,
                                              "@example.net' WHERE "
                                              "i_customer = ",
                                              c),
                                 testbed::Testbed::kSourceDb)
                        .ok());
      }
      return absl::OkStatus();
    };
  });
  ASSERT_TRUE(migrator.ok()) << migrator.status();
  v1::MoveCustomerResponse moved = Move(*MigratorStub((*migrator)->port()), c);
  EXPECT_EQ(moved.item().state(), v1::ITEM_STATE_FAILED);
  EXPECT_EQ(moved.item().failure().kind(), v1::FAILURE_KIND_NOT_CONVERGED)
      << moved.item().failure().message();
  EXPECT_EQ(round, 3);
  ExpectLeftOnTheSource(c);
}

TEST_F(MigratorFaultTest,
       AMappingThatCannotHoldTheSourceValuesIsRefusedAtStartUp) {
  const int64_t c = NextCustomer();
  // Charged amounts (five decimals) into whole thousandths: lossy for every
  // row, which the schema check sees before any customer moves.
  std::ifstream in(TANDEM_MAPPING_FILE);
  std::stringstream text;
  text << in.rdbuf();
  std::string lossy = absl::StrReplaceAll(
      text.str(),
      {{"charged_micros: {from: charged_amount, convert: money}",
        "charged_micros: {from: charged_amount, convert: seconds_ms}"}});
  const std::string path =
      absl::StrCat(env_->testbed().target_server().dir(), "/lossy.yaml");
  std::ofstream(path) << lossy;
  auto migrator = env_->StartMigrator(
      [&](MigratorServerOptions& o) { o.mapping_file = path; });
  ASSERT_TRUE(migrator.ok()) << migrator.status();
  auto stub = MigratorStub((*migrator)->port());
  v1::GetMappingResponse mapping;
  ASSERT_TRUE(stub->GetMapping(MigratorEnv::Ctx(kViewerToken).get(),
                               v1::GetMappingRequest(), &mapping)
                  .ok());
  EXPECT_EQ(mapping.mapping().status(), v1::MAPPING_STATUS_INVALID);
  bool located = false;
  for (const auto& issue : mapping.mapping().issues()) {
    located |= issue.severity() == v1::ISSUE_SEVERITY_ERROR &&
               issue.table() == "cdrs" && issue.column() == "charged_micros" &&
               issue.location().find("lossy.yaml:") != std::string::npos;
  }
  EXPECT_TRUE(located) << mapping.DebugString();
  v1::MoveCustomerRequest request;
  request.set_customer_id(c);
  v1::MoveCustomerResponse response;
  grpc::Status s =
      stub->MoveCustomer(MigratorEnv::Ctx().get(), request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(env_->Route(c).system(), SYSTEM_SOURCE);
  EXPECT_EQ(env_->Route(c).state(), rv1::ROUTE_STATE_STABLE);
}

TEST_F(MigratorFaultTest, AWriteAfterTheTailWindowRaisesTheAlarm) {
  const int64_t c = NextCustomer();
  auto migrator = env_->StartMigrator([](MigratorServerOptions& o) {
    o.mover.tail_window = absl::Milliseconds(500);
    o.backend.sentinel_interval = absl::Milliseconds(200);
  });
  ASSERT_TRUE(migrator.ok()) << migrator.status();
  auto stub = MigratorStub((*migrator)->port());
  v1::MoveCustomerResponse moved = Move(*stub, c);
  ASSERT_EQ(moved.item().state(), v1::ITEM_STATE_TAIL);
  auto item = [&] {
    auto r = (*migrator)->store().GetItem(moved.batch().batch_id(), c);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->item : v1::BatchItem();
  };
  ASSERT_TRUE(::tandem::testing::Eventually(
      [&] { return item().state() == v1::ITEM_STATE_DONE; }));
  // A legacy job writes the moved customer's call on the old system, after
  // the window: nobody carries it any more.
  const std::string account =
      One(false, absl::StrCat("SELECT MIN(i_account) FROM accounts WHERE "
                              "i_customer = ",
                              c));
  ASSERT_TRUE(
      env_->testbed()
          .source_server()
          .Execute(absl::StrCat("INSERT INTO xdrs (i_account, i_customer, "
                                "connect_time, duration, charged_amount, CLI, "
                                "CLD) VALUES (",
                                account, ", ", c,
                                ", '2026-12-06 11:00:00', 30, 0.5, '+4930', "
                                "'+4940')"),
                   testbed::Testbed::kSourceDb)
          .ok());
  ASSERT_TRUE(::tandem::testing::Eventually(
      [&] { return item().late_writes_after_window() == 1; }));
  // VerifyCustomer reports it too.
  v1::VerifyCustomerRequest request;
  request.set_customer_id(c);
  v1::VerifyCustomerResponse verified;
  ASSERT_TRUE(stub->VerifyCustomer(MigratorEnv::Ctx(kViewerToken).get(),
                                   request, &verified)
                  .ok());
  EXPECT_FALSE(verified.verification().equal());
  double alarms = 0;
  for (const auto& family : (*migrator)->registry().Collect()) {
    if (family.name == "tandem_migrator_late_writes_after_window_total") {
      alarms = family.metric[0].counter.value;
    }
  }
  EXPECT_GE(alarms, 1);
}

TEST_F(MigratorFaultTest,
       ARollbackThatWouldRoundFailsUnlessAllowedThenBooksTheLeftover) {
  const int64_t c = NextCustomer();
  auto migrator = env_->StartMigrator();
  ASSERT_TRUE(migrator.ok()) << migrator.status();
  auto stub = MigratorStub((*migrator)->port());
  const std::string account =
      One(false, absl::StrCat("SELECT MIN(i_account) FROM accounts WHERE "
                              "i_customer = ",
                              c));
  const std::string opening_sql = absl::StrCat(
      "SELECT a.balance - (SELECT SUM(amount) FROM balance_transactions t "
      "WHERE t.i_account = a.i_account) FROM accounts a WHERE i_account = ",
      account);
  const std::string opening = One(false, opening_sql);
  v1::MoveCustomerResponse moved = Move(*stub, c);
  ASSERT_EQ(moved.item().state(), v1::ITEM_STATE_TAIL);
  // The tail window ends before a rollback may start.
  ASSERT_TRUE(AwaitBatchState(*stub, moved.batch().batch_id(),
                              v1::BATCH_STATE_COMPLETED, absl::Seconds(30)));
  // Natively on the target, amounts in micro-units v1 cannot hold: a call
  // of 1.234567 and two charges of 0.000004 (v1 rounds each to 0.00000, and
  // their balance of -0.000008 to -0.00001).
  ASSERT_TRUE(env_->testbed()
                  .target_server()
                  .Execute(absl::StrCat(
                               "INSERT INTO cdrs (account_id, customer_id, "
                               "started_at, duration_ms, charged_micros, "
                               "calling_number, called_number) VALUES (",
                               account, ", ", c,
                               ", '2026-12-06 12:00:00', 61500, 1234567, "
                               "'+4930', '+4940'); INSERT INTO "
                               "balance_transactions (customer_id, account_id, "
                               "amount_micros, kind, created_at) VALUES (",
                               c, ", ", account,
                               ", -4, 'charge', '2026-12-06 12:00:00'), (", c,
                               ", ", account,
                               ", -4, 'charge', '2026-12-06 12:00:01'); "
                               "UPDATE accounts SET balance_micros = "
                               "balance_micros - 8 WHERE account_id = ",
                               account),
                           testbed::Testbed::kTargetDb)
                  .ok());
  auto rollback = [&](bool allow, const std::string& request_id) {
    v1::RollbackCustomerRequest request;
    request.set_customer_id(c);
    request.set_wait(true);
    request.set_request_id(request_id);
    request.mutable_options()->set_allow_rounding(allow);
    v1::RollbackCustomerResponse response;
    grpc::Status s =
        stub->RollbackCustomer(MigratorEnv::Ctx().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  };
  v1::RollbackCustomerResponse refused = rollback(false, "rounding-refused");
  EXPECT_EQ(refused.item().state(), v1::ITEM_STATE_FAILED);
  EXPECT_EQ(refused.item().failure().kind(), v1::FAILURE_KIND_TRANSFORM_ERROR);
  EXPECT_NE(refused.item().failure().message().find("rounding"),
            std::string::npos)
      << refused.item().failure().message();
  EXPECT_EQ(env_->Route(c).system(), SYSTEM_TARGET);
  EXPECT_EQ(env_->Route(c).state(), rv1::ROUTE_STATE_STABLE);
  EXPECT_EQ(One(false, absl::StrCat("SELECT COUNT(*) FROM xdrs WHERE "
                                    "i_customer = ",
                                    c, " AND charged_amount = 1.23457")),
            "0");

  v1::RollbackCustomerResponse rounded = rollback(true, "rounding-allowed");
  ASSERT_EQ(rounded.item().state(), v1::ITEM_STATE_TAIL)
      << rounded.item().DebugString();
  EXPECT_EQ(env_->Route(c).system(), SYSTEM_SOURCE);
  // The call came back rounded, with an id of the source's own range.
  EXPECT_EQ(One(false, absl::StrCat("SELECT COUNT(*) FROM xdrs WHERE "
                                    "i_customer = ",
                                    c,
                                    " AND charged_amount = 1.23457 AND "
                                    "duration = 62 AND i_xdr < 1000000000")),
            "1");
  // Balance minus transactions is what it was: the leftover is booked.
  EXPECT_EQ(One(false, opening_sql), opening);
  EXPECT_EQ(One(false, absl::StrCat("SELECT COUNT(*) FROM balance_transactions "
                                    "WHERE i_account = ",
                                    account,
                                    " AND tx_type = 'rounding' AND amount = "
                                    "-0.00001")),
            "1");
  bool reported = false;
  for (const std::string& w : rounded.item().warnings()) {
    reported |= w.find("rounded") != std::string::npos;
  }
  EXPECT_TRUE(reported);
  // The source's counters stay below the target-native range.
  EXPECT_EQ(One(false,
                "SELECT MAX(AUTO_INCREMENT) < 1000000000 FROM "
                "information_schema.TABLES WHERE TABLE_SCHEMA = "
                "'billing_v1'"),
            "1");
}

}  // namespace
}  // namespace tandem::migrator::testing
