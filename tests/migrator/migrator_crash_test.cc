// Killing the migrator process at every step boundary of a move, and at
// random moments, again and again: after each restart every customer ends
// whole on exactly one system, nothing lost or doubled (the target equals
// the reference conversion), and no customer stays MIGRATING past its lease.
// And a batch shared by two replicas: one killed mid-batch, the other goes
// on, is killed too, and a new one resumes the batch; no customer is moved
// twice.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <random>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
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

// A tandem-migrator process on the test's servers.
class MigratorProcess {
 public:
  // Starts it (dying at `crash_at` when not empty; `flags` added to its
  // command line) and waits until it answers.
  static std::unique_ptr<MigratorProcess> Start(
      const MigratorEnv& env, const std::string& dir,
      const std::string& crash_at, const std::vector<std::string>& flags = {}) {
    auto p = std::unique_ptr<MigratorProcess>(new MigratorProcess());
    p->port_ = ::tandem::testing::FreePort();
    const testbed::Testbed& tb = env.testbed();
    auto file = [&](const std::string& name, const std::string& content) {
      const std::string path = absl::StrCat(dir, "/", name);
      EXPECT_TRUE(
          ::tandem::testing::WriteFileAtomically(path, content, 0600).ok());
      return path;
    };
    const MigratorServerOptions o = env.MigratorOptions();
    std::vector<std::string> argv = {
        TANDEM_MIGRATOR_PATH,
        absl::StrCat("--listen=127.0.0.1:", p->port_),
        "--metrics_listen=127.0.0.1:0",
        absl::StrCat("--db_url=", o.control_db.url),
        absl::StrCat("--db_user=", o.control_db.user),
        absl::StrCat("--db_password_file=", tb.control_password_file()),
        absl::StrCat("--db_name=", o.control_db.database),
        absl::StrCat("--source_db_url=", o.source_db.url),
        absl::StrCat("--source_db_password_file=", tb.source_password_file()),
        absl::StrCat("--target_db_url=", o.target_db.url),
        absl::StrCat("--target_db_password_file=", tb.target_password_file()),
        absl::StrCat("--mapping_file=", o.mapping_file),
        absl::StrCat("--auth_tokens_file=", file("tokens", kTokens)),
        absl::StrCat("--router=", o.router_address),
        absl::StrCat("--router_token_file=",
                     file("router-token", kOperatorToken)),
        absl::StrCat("--catalog=", o.catalog_address),
        absl::StrCat("--catalog_token_file=",
                     file("catalog-token", kOperatorToken)),
        "--cutover_timeout_ms=3000",
        "--tail_window_s=1",
        "--tail_interval_ms=200",
        "--item_lease_ms=1500",
        "--log_level=warning"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    setenv("TANDEM_MIGRATOR_CRASH_AT", crash_at.c_str(), 1);
    const std::string log = absl::StrCat(dir, "/migrator.log");
    ::tandem::testing::Fd out(
        open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600));
    ::tandem::testing::Fd in(open("/dev/null", O_RDONLY));
    absl::StatusOr<pid_t> pid = ::tandem::testing::Spawn(
        argv, in.get(), out.get(), out.get(), /*die_with_parent=*/true);
    unsetenv("TANDEM_MIGRATOR_CRASH_AT");
    EXPECT_TRUE(pid.ok()) << pid.status();
    if (!pid.ok()) return nullptr;
    p->pid_ = *pid;
    p->stub_ = MigratorStub(p->port_);
    const bool up = ::tandem::testing::Eventually(
        [&] {
          v1::GetMappingResponse r;
          return p->stub_
              ->GetMapping(MigratorEnv::Ctx(kViewerToken, 2).get(),
                           v1::GetMappingRequest(), &r)
              .ok();
        },
        absl::Seconds(30));
    EXPECT_TRUE(up) << ::tandem::testing::TailOfFile(log, 20);
    return p;
  }

  ~MigratorProcess() { Kill(); }

  // SIGKILLs it (if it still runs) and reaps it.
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status = 0;
    ::tandem::testing::WaitForExit(pid_, -1, &status);
    pid_ = -1;
  }

  // Waits for it to die by itself (a crash point); true when it did.
  bool AwaitCrash(absl::Duration timeout) {
    int status = 0;
    const bool exited = ::tandem::testing::WaitForExit(
        pid_, ::tandem::testing::NowMs() + absl::ToInt64Milliseconds(timeout),
        &status);
    if (exited) pid_ = -1;
    return exited && WIFEXITED(status) && WEXITSTATUS(status) == 137;
  }

  v1::MigratorService::Stub& stub() { return *stub_; }
  int port() const { return port_; }

 private:
  MigratorProcess() = default;
  pid_t pid_ = -1;
  int port_ = 0;
  std::unique_ptr<v1::MigratorService::Stub> stub_;
};

class MigratorCrashTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = MigratorEnv::StartForSuite(SmallPopulation(60, 300, 3000),
                                      setup_error_);
    if (env_ == nullptr) return;
    // The oracle's database.
    testbed::Testbed& tb = env_->testbed();
    if (!tb.target_server().CreateDatabase("billing_v2_ref").ok()) return;
    MysqlOptions ref = tb.TargetDb();
    ref.database = "billing_v2_ref";
    auto pool = MysqlPool::Create(ref);
    if (!pool.ok()) return;
    ref_ = pool->release();
    (void)testbed::ApplySchema(*ref_, testbed::SchemaVersion::kV2);
    (void)testbed::LoadCatalog(*ref_, testbed::SchemaVersion::kV2);
    (void)tb.control_server().CreateDatabase("migrator");
    // Customers the catalog lets move and the reference conversion can
    // convert (it does not follow the catalog's mappings between products
    // of different codes), converted by it now, before any move.
    movable_ = new std::vector<int64_t>();
    for (int64_t c : env_->MovableCustomers(40)) {
      if (movable_->size() >= 19) break;
      if (testbed::CopyCustomerV1ToV2(tb.v1(), *ref_, c).ok()) {
        movable_->push_back(c);
      }
    }
  }
  static void TearDownTestSuite() {
    delete ref_;
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(env_, nullptr) << *setup_error_;
    ASSERT_NE(ref_, nullptr);
    ASSERT_GE(movable_->size(), 11u);
  }

  static int64_t StartMove(v1::MigratorService::Stub& stub, int64_t c) {
    v1::MoveCustomerRequest request;
    request.set_customer_id(c);
    request.set_request_id(absl::StrCat("crash-test-", c));
    v1::MoveCustomerResponse response;
    grpc::Status s =
        stub.MoveCustomer(MigratorEnv::Ctx().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.batch().batch_id();
  }

  // Waits until the batch is COMPLETED (its customer's tail ended).
  static void AwaitCompleted(v1::MigratorService::Stub& stub, int64_t batch) {
    EXPECT_TRUE(::tandem::testing::Eventually(
        [&] {
          v1::GetBatchRequest request;
          request.set_batch_id(batch);
          v1::GetBatchResponse response;
          return stub.GetBatch(MigratorEnv::Ctx(kViewerToken, 5).get(), request,
                               &response)
                     .ok() &&
                 response.batch().state() == v1::BATCH_STATE_COMPLETED &&
                 response.batch().progress().items_done() == 1;
        },
        absl::Seconds(60)))
        << "batch " << batch;
  }

  // The customer is moved, whole, once: the route TARGET/STABLE, the source
  // exported, the target open and equal to the reference conversion.
  static void ExpectMovedWhole(v1::MigratorService::Stub& stub, int64_t c) {
    SCOPED_TRACE(absl::StrCat("customer ", c));
    const bool settled = ::tandem::testing::Eventually(
        [&] {
          rv1::Route r = env_->Route(c);
          return r.system() == SYSTEM_TARGET &&
                 r.state() == rv1::ROUTE_STATE_STABLE;
        },
        absl::Seconds(60));
    ASSERT_TRUE(settled) << env_->Route(c).DebugString()
                         << ::tandem::testing::TailOfFile(
                                absl::StrCat(
                                    env_->testbed().control_server().dir(),
                                    "/migrator.log"),
                                40);
    testbed::Testbed& tb = env_->testbed();
    ASSERT_TRUE(::tandem::testing::Eventually(
        [&] {
          auto s = tb.target_server().Query(
              absl::StrCat("SELECT status FROM customers WHERE customer_id = ",
                           c),
              testbed::Testbed::kTargetDb);
          auto v1 = tb.source_server().Query(
              absl::StrCat("SELECT status FROM customers WHERE i_customer = ",
                           c),
              testbed::Testbed::kSourceDb);
          return s.ok() && !s->empty() && (*s)[0] != "4" && v1.ok() &&
                 !v1->empty() && (*v1)[0] == "exported";
        },
        absl::Seconds(30)));
    // The oracle, converted from the source before the move.
    for (const char* table :
         {"accounts", "subscriptions", "cdrs", "balance_transactions",
          "invoices", "payment_methods", "api_tokens", "customer_contacts"}) {
      const std::string where = absl::StrCat("customer_id = ", c);
      auto ours = env_->Rows(true, table, where);
      auto theirs = tb.target_server().Query(
          absl::StrCat("SELECT * FROM ", table, " WHERE ", where,
                       " ORDER BY 1"),
          "billing_v2_ref");
      ASSERT_TRUE(theirs.ok());
      EXPECT_EQ(ours, *theirs) << table;
    }
    v1::VerifyCustomerRequest request;
    request.set_customer_id(c);
    v1::VerifyCustomerResponse verified;
    ASSERT_TRUE(stub.VerifyCustomer(MigratorEnv::Ctx(kViewerToken).get(),
                                    request, &verified)
                    .ok());
    EXPECT_TRUE(verified.verification().equal())
        << verified.verification().DebugString();
  }

  std::string Dir() { return env_->testbed().control_server().dir(); }

  // How often the router's change log shows the customer's route turned to
  // the target.
  static int FlipsToTarget(int64_t c) {
    absl::StatusOr<std::vector<std::string>> bodies =
        env_->testbed().control_server().Query(
            absl::StrCat("SELECT HEX(body) FROM route_changes WHERE "
                         "customer_id = ",
                         c),
            "router");
    EXPECT_TRUE(bodies.ok()) << bodies.status();
    int flips = 0;
    for (const std::string& hex :
         bodies.ok() ? *bodies : std::vector<std::string>{}) {
      rv1::RouteChange change;
      EXPECT_TRUE(change.ParseFromString(absl::HexStringToBytes(hex)));
      if (change.route_update().route().system() == SYSTEM_TARGET) ++flips;
    }
    return flips;
  }

  static MigratorEnv* env_;
  static MysqlPool* ref_;
  static std::string* setup_error_;
  static std::vector<int64_t>* movable_;
};

MigratorEnv* MigratorCrashTest::env_ = nullptr;
MysqlPool* MigratorCrashTest::ref_ = nullptr;
std::string* MigratorCrashTest::setup_error_ = new std::string("not started");
std::vector<int64_t>* MigratorCrashTest::movable_ = nullptr;

TEST_F(MigratorCrashTest, KilledAtEveryStepBoundaryAMoveResumesWhole) {
  const std::vector<std::string> points = {
      "after_plan",    "after_pre_copy", "before_catch_up", "after_migrating",
      "before_verify", "before_flip",    "after_flip",      "tail_pass"};
  for (size_t i = 0; i < points.size(); ++i) {
    SCOPED_TRACE(points[i]);
    const int64_t c = (*movable_)[i];
    auto crashing = MigratorProcess::Start(*env_, Dir(), points[i]);
    ASSERT_NE(crashing, nullptr);
    const int64_t batch = StartMove(crashing->stub(), c);
    ASSERT_TRUE(crashing->AwaitCrash(absl::Seconds(60)));
    // Dead mid-move: the customer is on one system, never half-flipped.
    rv1::Route route = env_->Route(c);
    EXPECT_TRUE(route.system() == SYSTEM_SOURCE ||
                route.state() == rv1::ROUTE_STATE_STABLE)
        << route.DebugString();
    auto resumed = MigratorProcess::Start(*env_, Dir(), "");
    ASSERT_NE(resumed, nullptr);
    ExpectMovedWhole(resumed->stub(), c);
    AwaitCompleted(resumed->stub(), batch);
  }
}

TEST_F(MigratorCrashTest,
       KilledAtRandomMomentsAgainAndAgainEveryCustomerEndsWhole) {
  std::vector<int64_t> customers(movable_->begin() + 8, movable_->begin() + 11);
  std::mt19937 random(20261207);
  std::uniform_int_distribution<int> delay_ms(5, 400);
  auto first = MigratorProcess::Start(*env_, Dir(), "");
  ASSERT_NE(first, nullptr);
  std::vector<int64_t> batches;
  for (int64_t c : customers) batches.push_back(StartMove(first->stub(), c));
  std::unique_ptr<MigratorProcess> process = std::move(first);
  for (int kill = 0; kill < 6; ++kill) {
    // The experiment's variable is the moment of the kill: let it work for
    // a random while, then kill -9.
    const absl::Time until = absl::Now() + absl::Milliseconds(delay_ms(random));
    ::tandem::testing::Eventually([&] { return absl::Now() >= until; },
                                  absl::Seconds(1));
    process->Kill();
    for (int64_t c : customers) {
      rv1::Route route = env_->Route(c);
      EXPECT_TRUE(route.system() == SYSTEM_SOURCE ||
                  route.state() == rv1::ROUTE_STATE_STABLE)
          << route.DebugString();
    }
    process = MigratorProcess::Start(*env_, Dir(), "");
    ASSERT_NE(process, nullptr);
  }
  for (int64_t c : customers) ExpectMovedWhole(process->stub(), c);
  for (int64_t b : batches) AwaitCompleted(process->stub(), b);
}

// Two replicas share a batch; one is killed (kill -9) mid-customer, the
// other takes its customers over when their claims run out and goes on; it
// is killed mid-batch too, and a replica started afterwards resumes the
// batch: every customer moved whole, each flipped to the target once.
TEST_F(MigratorCrashTest, TwoReplicasOneKilledThenBothTheBatchResumesOnce) {
  ASSERT_GE(movable_->size(), 19u) << "the test population is too small";
  const std::vector<int64_t> customers(movable_->begin() + 11,
                                       movable_->begin() + 19);
  auto a = MigratorProcess::Start(
      *env_, Dir(), "", {"--replica_name=replica-a", "--parallelism=2"});
  // Replica b dies at its first customer's flip, with the copy done and
  // the route MIGRATING.
  auto b =
      MigratorProcess::Start(*env_, Dir(), "before_flip",
                             {"--replica_name=replica-b", "--parallelism=2"});
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  Batches batches(a->port());
  v1::BatchOptions options;
  options.set_parallelism(4);
  // Slow enough that replica a is killed while customers remain.
  options.mutable_write_budget()->set_rows_per_second(150);
  const v1::Batch batch = batches.Start("two replicas", customers, options);
  const int64_t id = batch.batch_id();
  ASSERT_GT(id, 0);
  ASSERT_TRUE(b->AwaitCrash(absl::Seconds(60)))
      << batches.Get(id).DebugString()
      << ::tandem::testing::TailOfFile(absl::StrCat(Dir(), "/migrator.log"),
                                       40);
  const int64_t done_when_b_died = batches.Get(id).progress().items_done();
  // Replica a alone: it finishes customers, b's included once their claims
  // run out; killed before the last.
  v1::Batch seen;
  ASSERT_TRUE(batches.Await(id, [&](const v1::Batch& x) {
    seen = x;
    return x.progress().items_done() >= done_when_b_died + 2;
  })) << seen.DebugString();
  a->Kill();
  ASSERT_LT(seen.progress().items_done(), 8) << "killed after the batch";
  for (int64_t c : customers) {
    rv1::Route route = env_->Route(c);
    EXPECT_TRUE(route.system() == SYSTEM_SOURCE ||
                route.state() == rv1::ROUTE_STATE_STABLE)
        << route.DebugString();
  }
  // A replica started afterwards resumes the batch where it stopped.
  auto c =
      MigratorProcess::Start(*env_, Dir(), "", {"--replica_name=replica-c"});
  ASSERT_NE(c, nullptr);
  Batches resumed(c->port());
  ASSERT_TRUE(resumed.AwaitFinished(id, absl::Seconds(180)))
      << resumed.Get(id).DebugString();
  EXPECT_EQ(resumed.Get(id).state(), v1::BATCH_STATE_COMPLETED);
  for (const v1::BatchItem& item : resumed.Items(id)) {
    EXPECT_EQ(item.state(), v1::ITEM_STATE_DONE) << item.DebugString();
  }
  for (int64_t customer : customers) {
    ExpectMovedWhole(c->stub(), customer);
    EXPECT_EQ(FlipsToTarget(customer), 1) << "customer " << customer;
  }
}

}  // namespace
}  // namespace tandem::migrator::testing
