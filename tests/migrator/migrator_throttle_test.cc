// Batches under load and budget, measured on real servers: a source loaded
// by real running queries makes a batch back off (nothing new starts,
// nothing is written) until the load goes, and pause itself past a critical
// threshold; a write budget holds the batch's write rate; and when the last
// customer leaves the source, the catalog lifts the freeze by itself.
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <gtest/gtest.h>
#include <mysql_connection.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/migrator/migrator_fixture.h"
#include "tests/testing/eventually.h"

namespace tandem::migrator::testing {
namespace {

namespace cv1 = ::tandem::catalog::v1;

// `n` connections to a server, each running a long SLEEP: each is a running
// thread in the server's Threads_running until Stop() kills the queries.
class Load {
 public:
  Load(const MysqlOptions& options, int n) {
    MysqlOptions o = options;
    o.pool_size = n + 1;
    auto pool = MysqlPool::Create(o, nullptr, "load");
    EXPECT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
    for (int i = 0; i < n; ++i) {
      threads_.emplace_back([this] {
        (void)pool_->Run("load", [this](sql::Connection& conn) {
          std::unique_ptr<sql::Statement> s(conn.createStatement());
          {
            std::unique_ptr<sql::ResultSet> id(
                s->executeQuery("SELECT CONNECTION_ID()"));
            id->next();
            absl::MutexLock lock(&mu_);
            ids_.push_back(id->getInt64(1));
          }
          std::unique_ptr<sql::ResultSet> r(
              s->executeQuery("SELECT SLEEP(300)"));
          return absl::OkStatus();
        });
      });
    }
    EXPECT_TRUE(::tandem::testing::Eventually([&] {
      absl::MutexLock lock(&mu_);
      return static_cast<int>(ids_.size()) == n;
    }));
  }
  ~Load() { Stop(); }

  void Stop() {
    std::vector<int64_t> ids;
    {
      absl::MutexLock lock(&mu_);
      ids.swap(ids_);
    }
    (void)pool_->Run("unload", [&](sql::Connection& conn) {
      std::unique_ptr<sql::Statement> s(conn.createStatement());
      for (int64_t id : ids) s->execute(absl::StrCat("KILL QUERY ", id));
      return absl::OkStatus();
    });
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

 private:
  std::unique_ptr<MysqlPool> pool_;
  absl::Mutex mu_;
  std::vector<int64_t> ids_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

class MigratorThrottleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = MigratorEnv::StartForSuite(SmallPopulation(40, 400, 16000),
                                      setup_error_);
    if (env_ == nullptr) return;
    auto migrator = env_->StartMigrator();
    if (!migrator.ok()) {
      *setup_error_ = migrator.status().ToString();
      return;
    }
    migrator_ = migrator->release();
    movable_ = new std::vector<int64_t>(env_->MovableCustomers(40));
  }
  static void TearDownTestSuite() {
    delete migrator_;
    delete env_;
    delete movable_;
  }
  void SetUp() override {
    ASSERT_NE(migrator_, nullptr) << *setup_error_;
    batches_ = std::make_unique<Batches>(migrator_->port());
  }
  static std::vector<int64_t> Take(size_t n) {
    std::vector<int64_t> out;
    while (out.size() < n && next_ < movable_->size()) {
      out.push_back((*movable_)[next_++]);
    }
    EXPECT_EQ(out.size(), n);
    return out;
  }

  static inline MigratorEnv* env_ = nullptr;
  static inline MigratorServer* migrator_ = nullptr;
  static inline std::vector<int64_t>* movable_ = nullptr;
  static inline size_t next_ = 0;
  static inline std::string* setup_error_ = new std::string("not started");
  std::unique_ptr<Batches> batches_;
};

TEST_F(MigratorThrottleTest, ALoadedSourceHoldsTheBatchBackUntilTheLoadGoes) {
  const std::vector<int64_t> customers = Take(4);
  Load load(env_->testbed().SourceDb(), 12);
  v1::BatchOptions options;
  options.set_parallelism(2);
  options.mutable_load_throttle()->set_max_threads_running(8);
  options.mutable_load_throttle()->set_check_interval_ms(200);
  const v1::Batch batch = batches_->Start("under load", customers, options);
  const int64_t id = batch.batch_id();
  v1::Batch seen;
  ASSERT_TRUE(batches_->Await(id, [&](const v1::Batch& b) {
    seen = b;
    return b.progress().throttle().cause() ==
           v1::THROTTLE_CAUSE_THREADS_RUNNING;
  })) << batches_->Get(id).DebugString();
  EXPECT_TRUE(seen.progress().throttle().throttled());
  EXPECT_GT(seen.progress().throttle().source_threads_running(), 8);
  EXPECT_NE(seen.progress().throttle().reason().find("Threads_running"),
            std::string::npos);
  // Held back across several samples: nothing written, nothing finished.
  const int64_t rows = seen.progress().rows_copied();
  const int64_t sampled = seen.progress().throttle().sampled_at_unix_ms();
  ASSERT_TRUE(batches_->Await(id, [&](const v1::Batch& b) {
    seen = b;
    return b.progress().throttle().sampled_at_unix_ms() >= sampled + 1000;
  }));
  EXPECT_TRUE(seen.progress().throttle().throttled());
  EXPECT_EQ(seen.progress().rows_copied(), rows);
  EXPECT_EQ(seen.progress().items_done(), 0);
  // The load goes: the batch goes on and finishes.
  load.Stop();
  ASSERT_TRUE(batches_->AwaitFinished(id)) << batches_->Get(id).DebugString();
  const v1::Batch done = batches_->Get(id);
  EXPECT_EQ(done.progress().items_done(), 4);
  EXPECT_FALSE(done.progress().throttle().throttled());
}

TEST_F(MigratorThrottleTest, PastACriticalLoadTheBatchPausesItself) {
  const std::vector<int64_t> customers = Take(3);
  v1::BatchOptions options;
  options.mutable_load_throttle()->set_max_threads_running(6);
  options.mutable_load_throttle()->set_critical_threads_running(10);
  options.mutable_load_throttle()->set_check_interval_ms(200);
  auto load = std::make_unique<Load>(env_->testbed().SourceDb(), 14);
  const v1::Batch batch = batches_->Start("critical", customers, options);
  ASSERT_TRUE(batches_->Await(batch.batch_id(), [](const v1::Batch& b) {
    return b.state() == v1::BATCH_STATE_PAUSED;
  })) << batches_->Get(batch.batch_id()).DebugString();
  const v1::Batch paused = batches_->Get(batch.batch_id());
  EXPECT_NE(paused.state_reason().find("paused by itself: source "
                                       "Threads_running"),
            std::string::npos)
      << paused.state_reason();
  EXPECT_NE(paused.state_reason().find("> critical 10"), std::string::npos);
  load.reset();
  ASSERT_TRUE(batches_->Act("resume", batch.batch_id()).ok());
  ASSERT_TRUE(batches_->AwaitFinished(batch.batch_id()));
  EXPECT_EQ(batches_->Get(batch.batch_id()).progress().items_done(), 3);
}

TEST_F(MigratorThrottleTest, AWriteBudgetHoldsTheBatchsWriteRate) {
  const std::vector<int64_t> customers = Take(20);
  constexpr int kBudget = 4000;  // rows per second
  v1::BatchOptions options;
  options.set_parallelism(4);
  options.mutable_write_budget()->set_rows_per_second(kBudget);
  const v1::Batch batch = batches_->Start("budgeted", customers, options);
  ASSERT_TRUE(batches_->AwaitFinished(batch.batch_id()));
  int64_t rows = 0, first = INT64_MAX, last = 0;
  for (const v1::BatchItem& i : batches_->Items(batch.batch_id())) {
    ASSERT_EQ(i.state(), v1::ITEM_STATE_DONE) << i.DebugString();
    rows += i.rows_copied();
    first = std::min(first, i.started_at_unix_ms());
    last = std::max(last, i.flipped_at_unix_ms());
  }
  // Enough rows that one statement's burst (1,000 rows) is within the 10 %.
  ASSERT_GT(rows, 10 * 1000) << "too few rows to measure a budget";
  const double seconds = static_cast<double>(last - first) / 1000.0;
  const double rate = static_cast<double>(rows) / seconds;
  EXPECT_LE(rate, 1.1 * kBudget)
      << rows << " rows in " << seconds << " s (budget " << kBudget << "/s)";
  RecordProperty("rows_per_second", static_cast<int>(rate));
}

// A population every customer of which can move (unmapped products cloned
// onto the target), the freeze at FROZEN_TARGET_OPEN: one batch of
// everyone, and the catalog lifts the freeze by itself once the last
// customer has left the source.
TEST(MigratorFreezeLiftTest, TheLastCustomerLeavingLiftsTheFreeze) {
  EnvOptions o;
  o.datagen.customers = 15;
  o.datagen.accounts = 60;
  o.datagen.xdrs = 600;
  o.datagen.large_customers = 0;
  o.datagen.huge_accounts = 0;
  o.freeze = false;
  absl::StatusOr<std::unique_ptr<MigratorEnv>> env = MigratorEnv::Start(o);
  ASSERT_TRUE(env.ok()) << env.status();
  cv1::CatalogService::Stub& catalog = (*env)->catalog_stub();
  cv1::GenerateMissingProductsRequest generate;
  generate.set_reason("clone what has no counterpart");
  cv1::GenerateMissingProductsResponse generated;
  ASSERT_TRUE(catalog
                  .GenerateMissingProducts(MigratorEnv::Ctx().get(), generate,
                                           &generated)
                  .ok());
  for (auto state :
       {cv1::FREEZE_STATE_FROZEN, cv1::FREEZE_STATE_FROZEN_TARGET_OPEN}) {
    cv1::SetFreezeRequest freeze;
    freeze.set_state(state);
    freeze.set_reason("switchover");
    cv1::SetFreezeResponse frozen;
    ASSERT_TRUE(
        catalog.SetFreeze(MigratorEnv::Ctx().get(), freeze, &frozen).ok());
  }
  auto migrator = (*env)->StartMigrator();
  ASSERT_TRUE(migrator.ok()) << migrator.status();
  Batches batches((*migrator)->port());
  v1::CreateBatchRequest everyone;
  everyone.set_name("the last night");
  everyone.set_mode(v1::BATCH_MODE_LIVE);
  everyone.set_start(true);
  everyone.mutable_selector()->set_all_customers(true);
  everyone.mutable_options()->set_parallelism(4);
  v1::Batch batch;
  ASSERT_TRUE(batches.Create(everyone, &batch).ok());
  EXPECT_EQ(batch.progress().items_pending(), 15);
  ASSERT_TRUE(batches.AwaitFinished(batch.batch_id()));
  const v1::Batch done = batches.Get(batch.batch_id());
  ASSERT_EQ(done.progress().items_done(), 15) << done.DebugString();
  cv1::GetFreezeResponse freeze;
  ASSERT_TRUE(::tandem::testing::Eventually(
      [&] {
        cv1::GetFreezeRequest get;
        return catalog.GetFreeze(MigratorEnv::Ctx().get(), get, &freeze).ok() &&
               freeze.freeze().state() == cv1::FREEZE_STATE_LIFTED;
      },
      absl::Seconds(60)))
      << freeze.DebugString();
  // By itself: the catalog, not an operator, made the transition.
  EXPECT_EQ(freeze.freeze().stamp().actor(), "tandem-catalog")
      << freeze.DebugString();
}

}  // namespace
}  // namespace tandem::migrator::testing
