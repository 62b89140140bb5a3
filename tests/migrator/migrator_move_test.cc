// One customer moved online and back against real servers: three MariaDB
// servers (source v1, target v2, control), the real router and catalog, the
// migrator through real gRPC channels. The testbed's reference conversion
// (testbed/reference/) is the independent oracle of what the target must
// hold.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "testbed/base/schema.h"
#include "testbed/datagen/datagen.h"
#include "testbed/reference/v1_to_v2.h"
#include "tests/migrator/migrator_fixture.h"
#include "tests/testing/eventually.h"
#include "tests/testing/net.h"
#include "tests/testing/subprocess.h"

namespace tandem::migrator::testing {
namespace {

namespace rv1 = ::tandem::router::v1;
using ::tandem::common::v1::SYSTEM_SOURCE;
using ::tandem::common::v1::SYSTEM_TARGET;

// The customer's tables of v2, with the column naming the customer.
const std::vector<std::pair<std::string, std::string>>& V2Tables() {
  static const auto* tables =
      new std::vector<std::pair<std::string, std::string>>{
          {"customers", "customer_id"},
          {"customer_contacts", "customer_id"},
          {"accounts", "customer_id"},
          {"subscriptions", "customer_id"},
          {"cdrs", "customer_id"},
          {"balance_transactions", "customer_id"},
          {"invoices", "customer_id"},
          {"payment_methods", "customer_id"},
          {"portal_sessions", "customer_id"},
          {"api_tokens", "customer_id"}};
  return *tables;
}

const std::vector<std::pair<std::string, std::string>>& V1Tables() {
  static const auto* tables =
      new std::vector<std::pair<std::string, std::string>>{
          {"customers", "i_customer"},
          {"accounts", "i_customer"},
          {"subscriptions", "i_customer"},
          {"xdrs", "i_customer"},
          {"balance_transactions", "i_customer"},
          {"invoices", "i_customer"},
          {"payment_methods", "i_customer"},
          {"portal_sessions", "i_customer"},
          {"api_tokens", "i_customer"}};
  return *tables;
}

class MigratorMoveTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = MigratorEnv::StartForSuite(SmallPopulation(40, 240, 2400),
                                      setup_error_);
    if (env_ == nullptr) return;
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  // A suite that could not start fails every test instead of skipping it.
  void SetUp() override { ASSERT_NE(env_, nullptr) << *setup_error_; }

  // All of the customer's rows on one side, table by table.
  std::vector<std::string> Snapshot(bool target, int64_t customer) {
    std::vector<std::string> out;
    for (const auto& [table, column] : target ? V2Tables() : V1Tables()) {
      for (std::string& row :
           env_->Rows(target, table, absl::StrCat(column, " = ", customer))) {
        out.push_back(absl::StrCat(table, ": ", row));
      }
    }
    for (std::string& row : env_->Rows(
             target, target ? "subscription_usage" : "subscription_usage",
             absl::StrCat(target ? "subscription_id" : "i_subscription",
                          " IN (SELECT ",
                          target ? "subscription_id" : "i_subscription",
                          " FROM subscriptions WHERE ",
                          target ? "customer_id" : "i_customer", " = ",
                          customer, ")"))) {
      out.push_back(absl::StrCat("subscription_usage: ", row));
    }
    if (target) {
      for (std::string& row : env_->Rows(
               true, "account_service_settings",
               absl::StrCat("account_id IN (SELECT account_id FROM accounts "
                            "WHERE customer_id = ",
                            customer, ")"))) {
        out.push_back(absl::StrCat("account_service_settings: ", row));
      }
    }
    return out;
  }

  v1::MoveCustomerResponse Move(v1::MigratorService::Stub& stub,
                                int64_t customer) {
    v1::MoveCustomerRequest request;
    request.set_customer_id(customer);
    request.set_wait(true);
    request.set_reason("test");
    v1::MoveCustomerResponse response;
    grpc::Status s =
        stub.MoveCustomer(MigratorEnv::Ctx().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }

  v1::RollbackCustomerResponse Rollback(v1::MigratorService::Stub& stub,
                                        int64_t customer) {
    v1::RollbackCustomerRequest request;
    request.set_customer_id(customer);
    request.set_wait(true);
    request.set_reason("test");
    v1::RollbackCustomerResponse response;
    grpc::Status s =
        stub.RollbackCustomer(MigratorEnv::Ctx().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }

  // Waits until the batch's item has finished (its tail window ended).
  void AwaitDone(v1::MigratorService::Stub& stub, int64_t batch_id) {
    EXPECT_TRUE(AwaitBatchState(stub, batch_id, v1::BATCH_STATE_COMPLETED));
  }

  v1::VerifyCustomerResponse Verify(v1::MigratorService::Stub& stub,
                                    int64_t customer) {
    v1::VerifyCustomerRequest request;
    request.set_customer_id(customer);
    v1::VerifyCustomerResponse response;
    grpc::Status s = stub.VerifyCustomer(MigratorEnv::Ctx(kViewerToken).get(),
                                         request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }

  static MigratorEnv* env_;
  static std::string* setup_error_;
};

MigratorEnv* MigratorMoveTest::env_ = nullptr;
std::string* MigratorMoveTest::setup_error_ = new std::string("not started");

TEST_F(MigratorMoveTest, TheMappingIsValidAgainstBothLiveSchemas) {
  auto migrator = env_->StartMigrator();
  ASSERT_TRUE(migrator.ok()) << migrator.status();
  for (const SchemaIssue& issue : (*migrator)->mapping_issues()) {
    EXPECT_FALSE(issue.error) << issue.location << ": " << issue.message;
  }
  auto stub = MigratorStub((*migrator)->port());
  v1::GetMappingRequest request;
  request.set_include_tables(true);
  v1::GetMappingResponse response;
  ASSERT_TRUE(
      stub->GetMapping(MigratorEnv::Ctx(kViewerToken).get(), request, &response)
          .ok());
  EXPECT_NE(response.mapping().status(), v1::MAPPING_STATUS_INVALID);
  EXPECT_EQ(response.mapping().digest().size(), 64u);
  EXPECT_GE(response.mapping().tables_size(), 10);
}

TEST_F(MigratorMoveTest,
       MovesACustomerAsTheReferenceDoesThenRollsItBackAndMovesItAgain) {
  auto migrator = env_->StartMigrator();
  ASSERT_TRUE(migrator.ok()) << migrator.status();
  auto stub = MigratorStub((*migrator)->port());
  std::vector<int64_t> movable = env_->MovableCustomers(1);
  ASSERT_FALSE(movable.empty());
  const int64_t c = movable[0];
  const std::vector<std::string> v1_before = Snapshot(false, c);

  // The oracle: the reference conversion into a database of its own.
  testbed::Testbed& tb = env_->testbed();
  ASSERT_TRUE(tb.target_server().CreateDatabase("billing_v2_ref").ok());
  MysqlOptions ref_options = tb.TargetDb();
  ref_options.database = "billing_v2_ref";
  auto ref = MysqlPool::Create(ref_options);
  ASSERT_TRUE(ref.ok()) << ref.status();
  ASSERT_TRUE(testbed::ApplySchema(**ref, testbed::SchemaVersion::kV2).ok());
  ASSERT_TRUE(testbed::LoadCatalog(**ref, testbed::SchemaVersion::kV2).ok());
  ASSERT_TRUE(testbed::CopyCustomerV1ToV2(tb.v1(), **ref, c).ok());

  v1::MoveCustomerResponse moved = Move(*stub, c);
  ASSERT_TRUE(moved.item().state() == v1::ITEM_STATE_TAIL ||
              moved.item().state() == v1::ITEM_STATE_DONE)
      << moved.item().DebugString();
  EXPECT_EQ(env_->Route(c).system(), SYSTEM_TARGET);
  EXPECT_EQ(env_->Route(c).state(), rv1::ROUTE_STATE_STABLE);
  EXPECT_GT(moved.item().rows_copied(), 0);
  EXPECT_TRUE(moved.item().verification().equal());

  // Row for row what the reference conversion writes.
  for (const auto& [table, column] : V2Tables()) {
    const std::string where = absl::StrCat(column, " = ", c);
    auto ours = env_->Rows(true, table, where);
    auto theirs = tb.target_server().Query(
        absl::StrCat("SELECT * FROM ", table, " WHERE ", where, " ORDER BY 1"),
        "billing_v2_ref");
    ASSERT_TRUE(theirs.ok());
    EXPECT_EQ(ours, *theirs) << table;
  }
  // The source keeps the customer, marked exported; the target serves it.
  EXPECT_EQ(
      env_->Rows(false, "customers", absl::StrCat("i_customer = ", c)).size(),
      1u);
  auto status = tb.source_server().Query(
      absl::StrCat("SELECT status FROM customers WHERE i_customer = ", c),
      testbed::Testbed::kSourceDb);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ((*status)[0], "exported");

  v1::VerifyCustomerResponse verified = Verify(*stub, c);
  EXPECT_TRUE(verified.verification().equal())
      << verified.verification().DebugString();
  EXPECT_TRUE(verified.verification().after_move());
  EXPECT_GT(verified.verification().business_checks(), 0);

  const std::vector<std::string> v2_first = Snapshot(true, c);
  AwaitDone(*stub, moved.batch().batch_id());
  v1::RollbackCustomerResponse back = Rollback(*stub, c);
  ASSERT_TRUE(back.item().state() == v1::ITEM_STATE_TAIL ||
              back.item().state() == v1::ITEM_STATE_DONE)
      << back.item().DebugString();
  EXPECT_EQ(env_->Route(c).system(), SYSTEM_SOURCE);
  // Nothing changed on the target meanwhile: the source is as before.
  EXPECT_EQ(Snapshot(false, c), v1_before);
  auto v2_status = tb.target_server().Query(
      absl::StrCat("SELECT status FROM customers WHERE customer_id = ", c),
      testbed::Testbed::kTargetDb);
  ASSERT_TRUE(v2_status.ok());
  EXPECT_EQ((*v2_status)[0], "4");

  AwaitDone(*stub, back.batch().batch_id());
  v1::MoveCustomerResponse again = Move(*stub, c);
  ASSERT_TRUE(again.item().state() == v1::ITEM_STATE_TAIL ||
              again.item().state() == v1::ITEM_STATE_DONE)
      << again.item().DebugString();
  EXPECT_EQ(Snapshot(true, c), v2_first);
}

// The migrator's /metrics after moves that succeed and fail passes promtool,
// and counts what happened.
TEST_F(MigratorMoveTest, MetricsPassPromtoolAndCountTheMoves) {
  auto migrator = env_->StartMigrator(
      [](MigratorServerOptions& o) { o.metrics_address = "127.0.0.1:0"; });
  ASSERT_TRUE(migrator.ok()) << migrator.status();
  auto stub = MigratorStub((*migrator)->port());
  std::vector<int64_t> movable = env_->MovableCustomers(4);
  ASSERT_GE(movable.size(), 3u);
  Move(*stub, movable[2]);
  v1::MoveCustomerRequest bad;
  bad.set_customer_id(-1);
  v1::MoveCustomerResponse ignored;
  EXPECT_EQ(
      stub->MoveCustomer(MigratorEnv::Ctx().get(), bad, &ignored).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
  std::string response =
      ::tandem::testing::HttpGet((*migrator)->metrics_port(), "/metrics");
  const size_t body = response.find("\r\n\r\n");
  ASSERT_NE(body, std::string::npos);
  const std::string metrics = response.substr(body + 4);
  for (const char* name :
       {"tandem_migrator_customers_total{direction=\"move\",outcome=\"moved\"} "
        "1",
        "tandem_migrator_cutover_seconds_count{direction=\"move\"} 1",
        "tandem_migrator_requests_refused_total{code=\"INVALID_ARGUMENT\"} 1",
        "tandem_migrator_rows_written_total{table=\"cdrs\"}",
        "tandem_migrator_db_up{pool=\"target\"} 1"}) {
    EXPECT_NE(metrics.find(name), std::string::npos) << name << "\n" << metrics;
  }
  absl::StatusOr<::tandem::testing::RunResult> lint = ::tandem::testing::Run(
      {TANDEM_PROMTOOL_PATH, "check", "metrics"}, metrics, 60000);
  ASSERT_TRUE(lint.ok()) << lint.status();
  EXPECT_TRUE(lint->ok()) << lint->out << lint->err;
  EXPECT_EQ(lint->out + lint->err, "");
}

// tandemctl's migrator commands against the real services.
TEST_F(MigratorMoveTest, TandemctlMovesVerifiesAndShowsTheMapping) {
  auto migrator = env_->StartMigrator();
  ASSERT_TRUE(migrator.ok()) << migrator.status();
  std::vector<int64_t> movable = env_->MovableCustomers(3);
  ASSERT_GE(movable.size(), 2u);
  const int64_t c = movable.back();
  setenv("TANDEM_TOKEN", kOperatorToken, 1);
  const std::string target = absl::StrCat("127.0.0.1:", (*migrator)->port());
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {TANDEMCTL_PATH, "--migrator", target});
    absl::StatusOr<::tandem::testing::RunResult> r =
        ::tandem::testing::Run(args, "", 120000);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : ::tandem::testing::RunResult{};
  };
  auto exit_code = [](const ::tandem::testing::RunResult& r) {
    return WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1;
  };

  ::tandem::testing::RunResult bad = run({"customer", "move", "abc"});
  EXPECT_EQ(exit_code(bad), 2) << bad.err;
  EXPECT_NE(bad.err.find("positive integer"), std::string::npos) << bad.err;

  ::tandem::testing::RunResult moved =
      run({"customer", "move", absl::StrCat(c), "--reason", "cli test"});
  EXPECT_EQ(exit_code(moved), 0) << moved.err;
  EXPECT_NE(moved.out.find("TAIL"), std::string::npos) << moved.out;
  EXPECT_EQ(env_->Route(c).system(), SYSTEM_TARGET);

  ::tandem::testing::RunResult verified =
      run({"customer", "verify", absl::StrCat(c), "-o", "json"});
  EXPECT_EQ(exit_code(verified), 0) << verified.err;
  EXPECT_NE(verified.out.find("\"equal\": true"), std::string::npos)
      << verified.out;

  // Moving it again is refused by the service: exit 1 with the code name.
  ::tandem::testing::RunResult again =
      run({"customer", "move", absl::StrCat(c)});
  EXPECT_EQ(exit_code(again), 1) << again.err;
  EXPECT_NE(again.err.find("FAILED_PRECONDITION"), std::string::npos)
      << again.err;

  ::tandem::testing::RunResult mapping = run({"mapping", "show"});
  EXPECT_EQ(exit_code(mapping), 0) << mapping.err;
  EXPECT_NE(mapping.out.find("xdrs"), std::string::npos) << mapping.out;
  EXPECT_NE(mapping.err.find("testbed-v1-v2/1"), std::string::npos)
      << mapping.err;

  // A viewer may verify but not move.
  setenv("TANDEM_TOKEN", kViewerToken, 1);
  ::tandem::testing::RunResult denied =
      run({"customer", "move", absl::StrCat(movable[0])});
  EXPECT_EQ(exit_code(denied), 1);
  EXPECT_NE(denied.err.find("PERMISSION_DENIED"), std::string::npos)
      << denied.err;
  unsetenv("TANDEM_TOKEN");
}

// tandemctl's batch commands against the real services: a rehearsal, then
// the live batch, watched to its end.
TEST_F(MigratorMoveTest, TandemctlRehearsesThenMovesABatch) {
  auto migrator = env_->StartMigrator();
  ASSERT_TRUE(migrator.ok()) << migrator.status();
  std::vector<int64_t> movable = env_->MovableCustomers(6);
  ASSERT_GE(movable.size(), 4u);
  const int64_t a = movable[movable.size() - 3];
  const int64_t b = movable[movable.size() - 4];
  const std::string ids = absl::StrCat(a, ",", b);
  setenv("TANDEM_TOKEN", kOperatorToken, 1);
  const std::string target = absl::StrCat("127.0.0.1:", (*migrator)->port());
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {TANDEMCTL_PATH, "--migrator", target});
    absl::StatusOr<::tandem::testing::RunResult> r =
        ::tandem::testing::Run(args, "", 120000);
    EXPECT_TRUE(r.ok()) << r.status();
    const bool exited = r.ok() && WIFEXITED(r->status);
    EXPECT_TRUE(exited && WEXITSTATUS(r->status) == 0)
        << absl::StrJoin(args, " ") << ": " << (r.ok() ? r->err : "");
    return r.ok() ? *r : ::tandem::testing::RunResult{};
  };
  auto created = [](const ::tandem::testing::RunResult& r) {
    v1::CreateBatchResponse response;
    EXPECT_TRUE(
        google::protobuf::util::JsonStringToMessage(r.out, &response).ok())
        << r.out;
    return absl::StrCat(response.batch().batch_id());
  };
  const std::string rehearsal = created(
      run({"batch", "dry-run", "rehearsal", "--customers", ids, "-o", "json"}));
  ::tandem::testing::RunResult watched = run({"batch", "watch", rehearsal});
  EXPECT_NE(watched.out.find("completed: 2/2 done"), std::string::npos)
      << watched.out;
  ::tandem::testing::RunResult report = run({"batch", "report", rehearsal});
  EXPECT_NE(report.out.find("DRY_RUN"), std::string::npos) << report.out;
  EXPECT_EQ(env_->Route(a).system(), ::tandem::common::v1::SYSTEM_SOURCE);

  const std::string live =
      created(run({"batch", "create", "live", "--mode=live", "--start",
                   "--customers", ids, "-o", "json"}));
  watched = run({"batch", "watch", live});
  EXPECT_NE(watched.out.find("completed: 2/2 done"), std::string::npos)
      << watched.out;
  EXPECT_EQ(env_->Route(a).system(), SYSTEM_TARGET);
  EXPECT_EQ(env_->Route(b).system(), SYSTEM_TARGET);
  ::tandem::testing::RunResult items = run({"batch", "items", live});
  EXPECT_NE(items.out.find(absl::StrCat(a, "  ")), std::string::npos)
      << items.out;
  ::tandem::testing::RunResult list = run({"batch", "list"});
  EXPECT_NE(list.out.find("rehearsal"), std::string::npos) << list.out;
  unsetenv("TANDEM_TOKEN");
}

}  // namespace
}  // namespace tandem::migrator::testing
