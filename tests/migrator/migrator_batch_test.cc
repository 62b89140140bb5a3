// Batches against real servers (source, target, control; the real router
// and catalog; the migrator through real gRPC channels): selectors and
// their errors, the operator gate, pause, resume and cancel mid-run,
// progress, the watch stream, reports, retries and rollbacks of a whole
// batch.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/migrator/migrator_fixture.h"
#include "tests/testing/eventually.h"

namespace tandem::migrator::testing {
namespace {

namespace rv1 = ::tandem::router::v1;
using ::tandem::common::v1::SYSTEM_SOURCE;
using ::tandem::common::v1::SYSTEM_TARGET;

class MigratorBatchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = MigratorEnv::StartForSuite(SmallPopulation(60, 300, 3000),
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

  // The next movable customers nobody used yet.
  // `besides`: customers held by a batch of the test, passed over.
  static std::vector<int64_t> Take(size_t n,
                                   const std::vector<int64_t>& besides = {}) {
    std::vector<int64_t> out;
    while (out.size() < n && next_ < movable_->size()) {
      const int64_t c = (*movable_)[next_++];
      if (std::find(besides.begin(), besides.end(), c) != besides.end()) {
        continue;
      }
      out.push_back(c);
    }
    EXPECT_EQ(out.size(), n) << "the test population is too small";
    return out;
  }

  // Customer ids from a query on the source.
  static std::vector<int64_t> Ids(const std::string& sql) {
    std::vector<int64_t> out;
    absl::StatusOr<std::vector<std::string>> rows =
        env_->testbed().source_server().Query(sql, testbed::Testbed::kSourceDb);
    EXPECT_TRUE(rows.ok()) << rows.status();
    if (!rows.ok()) return out;
    for (const std::string& r : *rows) {
      int64_t id = 0;
      if (absl::SimpleAtoi(r, &id)) out.push_back(id);
    }
    return out;
  }

  static std::vector<int64_t> CustomersOf(
      const std::vector<v1::BatchItem>& items, v1::ItemState state) {
    std::vector<int64_t> out;
    for (const v1::BatchItem& i : items) {
      if (i.state() == state) out.push_back(i.customer_id());
    }
    return out;
  }

  int64_t CountBatches() {
    v1::ListBatchesRequest request;
    request.set_page_size(1000);
    v1::ListBatchesResponse response;
    EXPECT_TRUE(batches_->stub()
                    .ListBatches(MigratorEnv::Ctx(kViewerToken).get(), request,
                                 &response)
                    .ok());
    return response.batches_size();
  }

  // The customer has no rows on the target.
  void ExpectNoCopy(int64_t c) {
    EXPECT_TRUE(env_->Rows(true, "customers", absl::StrCat("customer_id = ", c))
                    .empty())
        << "customer " << c << " left a copy on the target";
    EXPECT_TRUE(
        env_->Rows(true, "accounts", absl::StrCat("customer_id = ", c)).empty())
        << "customer " << c;
  }

  static inline MigratorEnv* env_ = nullptr;
  static inline MigratorServer* migrator_ = nullptr;
  static inline std::vector<int64_t>* movable_ = nullptr;
  static inline size_t next_ = 0;
  static inline std::string* setup_error_ = new std::string("not started");
  std::unique_ptr<Batches> batches_;
};

TEST_F(MigratorBatchTest, BadSelectorsAndRequestsAreRefusedAndStoreNothing) {
  const int64_t before = CountBatches();
  struct Case {
    std::string what;
    std::function<void(v1::CreateBatchRequest&)> edit;
    grpc::StatusCode code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"no criterion", [](auto&) {}, grpc::INVALID_ARGUMENT,
       "choose customers"},
      {"all with a criterion",
       [](auto& r) {
         r.mutable_selector()->set_all_customers(true);
         r.mutable_selector()->add_product_ids(1);
       },
       grpc::INVALID_ARGUMENT, "all_customers takes no other criterion"},
      {"a zero product id",
       [](auto& r) { r.mutable_selector()->add_product_ids(0); },
       grpc::INVALID_ARGUMENT, "product_ids[0] = 0"},
      {"an unknown product",
       [](auto& r) { r.mutable_selector()->add_product_ids(999999); },
       grpc::INVALID_ARGUMENT, "no product 999999 on v1"},
      {"an unknown payment system",
       [](auto& r) { r.mutable_selector()->add_payment_systems("Barter"); },
       grpc::INVALID_ARGUMENT, "no payment system \"Barter\" on v1 (known: "},
      {"contradictory account bounds",
       [](auto& r) {
         r.mutable_selector()->set_min_accounts(5);
         r.mutable_selector()->set_max_accounts(2);
       },
       grpc::INVALID_ARGUMENT, "min_accounts 5 is above max_accounts 2"},
      {"states without a batch",
       [](auto& r) {
         r.mutable_selector()->add_from_batch_states(v1::ITEM_STATE_FAILED);
       },
       grpc::INVALID_ARGUMENT, "needs selector.from_batch_id"},
      {"a batch without states",
       [](auto& r) { r.mutable_selector()->set_from_batch_id(7); },
       grpc::INVALID_ARGUMENT, "say which items of batch 7"},
      {"an unknown earlier batch",
       [](auto& r) {
         r.mutable_selector()->set_from_batch_id(424242);
         r.mutable_selector()->add_from_batch_states(v1::ITEM_STATE_FAILED);
       },
       grpc::NOT_FOUND, "no batch 424242"},
      {"a negative limit",
       [](auto& r) {
         r.mutable_selector()->set_all_customers(true);
         r.mutable_selector()->set_limit(-1);
       },
       grpc::INVALID_ARGUMENT, "limit is not negative"},
      {"no mode",
       [](auto& r) {
         r.set_mode(v1::BATCH_MODE_UNSPECIFIED);
         r.mutable_selector()->set_all_customers(true);
       },
       grpc::INVALID_ARGUMENT, "mode is required"},
      {"a rehearsed rollback",
       [](auto& r) {
         r.set_mode(v1::BATCH_MODE_DRY_RUN);
         r.set_direction(::tandem::common::v1::DIRECTION_ROLLBACK);
         r.mutable_selector()->set_all_customers(true);
       },
       grpc::INVALID_ARGUMENT, "a dry run rehearses moves"},
      {"a critical threshold below its maximum",
       [](auto& r) {
         r.mutable_selector()->set_all_customers(true);
         r.mutable_options()->mutable_load_throttle()->set_max_threads_running(
             20);
         r.mutable_options()
             ->mutable_load_throttle()
             ->set_critical_threads_running(10);
       },
       grpc::INVALID_ARGUMENT, "critical_threads_running 10 is below"},
      {"a window minute out of the day",
       [](auto& r) {
         r.mutable_selector()->set_all_customers(true);
         r.mutable_options()->mutable_window()->set_end_minute(1440);
       },
       grpc::INVALID_ARGUMENT, "0-1439"},
      {"no name",
       [](auto& r) {
         r.set_name("");
         r.mutable_selector()->set_all_customers(true);
       },
       grpc::INVALID_ARGUMENT, "name is 1-128 bytes"},
  };
  for (const Case& c : cases) {
    v1::CreateBatchRequest r;
    r.set_name(absl::StrCat("refused ", c.what));
    r.set_mode(v1::BATCH_MODE_LIVE);
    c.edit(r);
    grpc::Status s = batches_->Create(r, nullptr);
    EXPECT_EQ(s.error_code(), c.code) << c.what << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(c.says), std::string::npos)
        << c.what << ": " << s.error_message();
  }
  // A name taken is ALREADY_EXISTS, and the second batch is not made.
  v1::CreateBatchRequest named;
  named.set_name("a name used twice");
  named.set_mode(v1::BATCH_MODE_DRY_RUN);
  named.mutable_selector()->add_customer_ids(Take(1)[0]);
  v1::Batch first;
  ASSERT_TRUE(batches_->Create(named, &first).ok());
  EXPECT_EQ(batches_->Create(named, nullptr).error_code(),
            grpc::ALREADY_EXISTS);
  // A created batch cancelled is CANCELLED at once, its customers free.
  v1::Batch cancelled;
  ASSERT_TRUE(batches_->Act("cancel", first.batch_id(), &cancelled).ok());
  EXPECT_EQ(cancelled.state(), v1::BATCH_STATE_CANCELLED);
  EXPECT_EQ(cancelled.progress().items_skipped(), 1);
  // A viewer may not create.
  v1::CreateBatchResponse denied;
  EXPECT_EQ(
      batches_->stub()
          .CreateBatch(MigratorEnv::Ctx(kViewerToken).get(), named, &denied)
          .error_code(),
      grpc::PERMISSION_DENIED);
  EXPECT_EQ(CountBatches(), before + 1);
}

TEST_F(MigratorBatchTest, SelectorsAreResolvedOnceIntoTheCustomersTheyName) {
  // By product: exactly the customers with a subscription to it.
  const std::vector<int64_t> mob_s = Ids(
      "SELECT DISTINCT s.i_customer FROM subscriptions s JOIN products p ON "
      "p.i_product = s.i_product WHERE p.code = 'MOB-S' ORDER BY 1");
  const std::vector<int64_t> product =
      Ids("SELECT i_product FROM products WHERE code = 'MOB-S'");
  ASSERT_EQ(product.size(), 1u);
  v1::CreateBatchRequest r;
  r.set_name("by product");
  r.set_mode(v1::BATCH_MODE_DRY_RUN);
  r.mutable_selector()->add_product_ids(product[0]);
  v1::Batch batch;
  ASSERT_TRUE(batches_->Create(r, &batch).ok());
  EXPECT_EQ(batch.state(), v1::BATCH_STATE_CREATED);
  std::vector<int64_t> taken;
  for (const v1::BatchItem& i : batches_->Items(batch.batch_id())) {
    taken.push_back(i.customer_id());
  }
  EXPECT_EQ(taken, mob_s);
  EXPECT_FALSE(taken.empty());
  // (Created batches hold their customers: cancelled, they let them go.)
  std::vector<int64_t> made = {batch.batch_id()};
  // By payment system and account counts, with a limit: validate_only
  // says what the batch would take and stores nothing.
  const std::vector<int64_t> sepa =
      Ids("SELECT c.i_customer FROM customers c JOIN payment_systems p ON "
          "p.i_payment_system = c.i_payment_system WHERE p.name = 'SEPA Direct "
          "Debit' AND (SELECT COUNT(*) FROM accounts a WHERE a.i_customer = "
          "c.i_customer) BETWEEN 2 AND 6 ORDER BY 1");
  v1::CreateBatchRequest check;
  check.set_name("by payment system and accounts");
  check.set_mode(v1::BATCH_MODE_LIVE);
  check.set_validate_only(true);
  check.mutable_selector()->add_payment_systems("SEPA Direct Debit");
  check.mutable_selector()->set_min_accounts(2);
  check.mutable_selector()->set_max_accounts(6);
  v1::Batch would;
  ASSERT_TRUE(batches_->Create(check, &would).ok());
  EXPECT_EQ(would.progress().items_pending(),
            static_cast<int64_t>(sepa.size()));
  EXPECT_EQ(would.batch_id(), 0);
  check.mutable_selector()->set_limit(2);
  ASSERT_TRUE(batches_->Create(check, &would).ok());
  EXPECT_EQ(would.progress().items_pending(),
            std::min<int64_t>(2, sepa.size()));
  // Named customers not on the source are SKIPPED with the reason.
  // (Not one of the MOB-S customers the first batch holds.)
  const int64_t moved = Take(1, mob_s)[0];
  v1::MoveCustomerRequest move;
  move.set_customer_id(moved);
  move.set_wait(true);
  v1::MoveCustomerResponse done;
  const grpc::Status move_status =
      batches_->stub().MoveCustomer(MigratorEnv::Ctx().get(), move, &done);
  ASSERT_TRUE(move_status.ok()) << move_status.error_message();
  ASSERT_EQ(done.item().state(), v1::ITEM_STATE_TAIL);
  const int64_t stays = Take(1, mob_s)[0];
  v1::CreateBatchRequest named;
  named.set_name("named customers");
  named.set_mode(v1::BATCH_MODE_DRY_RUN);
  named.mutable_selector()->add_customer_ids(moved);
  named.mutable_selector()->add_customer_ids(stays);
  named.mutable_selector()->add_customer_ids(987654);
  ASSERT_TRUE(batches_->Create(named, &batch).ok());
  made.push_back(batch.batch_id());
  std::map<int64_t, v1::BatchItem> items;
  for (const v1::BatchItem& i : batches_->Items(batch.batch_id())) {
    items[i.customer_id()] = i;
  }
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[moved].state(), v1::ITEM_STATE_SKIPPED);
  EXPECT_EQ(items[moved].failure().kind(), v1::FAILURE_KIND_ALREADY_MOVED);
  EXPECT_EQ(items[987654].failure().kind(),
            v1::FAILURE_KIND_CUSTOMER_NOT_FOUND);
  EXPECT_EQ(items[stays].state(), v1::ITEM_STATE_PENDING);
  // A customer in another unfinished batch is skipped, not taken twice.
  v1::CreateBatchRequest again = named;
  again.set_name("named customers again");
  ASSERT_TRUE(batches_->Create(again, &batch).ok());
  made.push_back(batch.batch_id());
  bool skipped = false;
  for (const v1::BatchItem& i : batches_->Items(batch.batch_id())) {
    if (i.customer_id() == stays) {
      skipped = i.failure().kind() == v1::FAILURE_KIND_IN_OTHER_BATCH;
    }
  }
  EXPECT_TRUE(skipped);
  for (int64_t id : made) {
    v1::Batch cancelled;
    ASSERT_TRUE(batches_->Act("cancel", id, &cancelled).ok());
    EXPECT_EQ(cancelled.state(), v1::BATCH_STATE_CANCELLED);
  }
}

TEST_F(MigratorBatchTest, TheGateHoldsPauseStopsResumeGoesOnCancelUndoes) {
  const std::vector<int64_t> customers = Take(5);
  v1::BatchOptions options;
  options.set_parallelism(2);
  options.set_hold_before_cutover(true);
  const v1::Batch batch = batches_->Start("gated", customers, options);
  const int64_t id = batch.batch_id();
  ASSERT_TRUE(batches_->Await(id, [](const v1::Batch& b) {
    return b.progress().items_held() == 2;
  })) << batches_->Get(id).DebugString();
  std::vector<int64_t> held;
  for (const v1::BatchItem& i : batches_->Items(id)) {
    if (i.held_at_gate()) held.push_back(i.customer_id());
  }
  ASSERT_EQ(held.size(), 2u);
  for (int64_t c : held) {
    // Copied, waiting: the copy is on the target, the route untouched.
    EXPECT_FALSE(
        env_->Rows(true, "customers", absl::StrCat("customer_id = ", c))
            .empty());
    EXPECT_EQ(env_->Route(c).system(), SYSTEM_SOURCE);
  }
  // One released goes through its cutover.
  v1::ReleaseBatchItemsRequest release;
  release.set_batch_id(id);
  release.add_customer_ids(held[0]);
  v1::ReleaseBatchItemsResponse released;
  ASSERT_TRUE(
      batches_->stub()
          .ReleaseBatchItems(MigratorEnv::Ctx().get(), release, &released)
          .ok());
  EXPECT_EQ(released.released(), 1);
  ASSERT_TRUE(::tandem::testing::Eventually(
      [&] { return env_->Route(held[0]).system() == SYSTEM_TARGET; },
      absl::Seconds(60)));
  // Pause: the held stop where they are; nothing is in flight.
  ASSERT_TRUE(batches_->Act("pause", id).ok());
  ASSERT_TRUE(batches_->Await(id, [](const v1::Batch& b) {
    return b.state() == v1::BATCH_STATE_PAUSED;
  })) << batches_->Get(id).DebugString();
  v1::Batch paused = batches_->Get(id);
  EXPECT_EQ(paused.progress().workers_busy(), 0);
  EXPECT_EQ(paused.progress().items_held(), 0);
  for (int64_t c : customers) {
    if (c == held[0]) continue;
    EXPECT_EQ(env_->Route(c).system(), SYSTEM_SOURCE) << c;
    EXPECT_EQ(env_->Route(c).state(), rv1::ROUTE_STATE_STABLE) << c;
  }
  // Pausing again is not a change; starting a paused batch is refused.
  v1::Batch again;
  ASSERT_TRUE(batches_->Act("pause", id, &again).ok());
  EXPECT_EQ(again.version(), paused.version());
  EXPECT_EQ(batches_->Act("start", id).error_code(), grpc::FAILED_PRECONDITION);
  // Resume: customers are held at the gate again.
  ASSERT_TRUE(batches_->Act("resume", id).ok());
  ASSERT_TRUE(batches_->Await(
      id, [](const v1::Batch& b) { return b.progress().items_held() == 2; }));
  // Cancel: what was not flipped is skipped and its copy removed; what was
  // flipped stays moved.
  ASSERT_TRUE(batches_->Act("cancel", id).ok());
  ASSERT_TRUE(batches_->Await(id, [](const v1::Batch& b) {
    return b.state() == v1::BATCH_STATE_CANCELLED;
  })) << batches_->Get(id).DebugString();
  for (const v1::BatchItem& i : batches_->Items(id)) {
    const int64_t c = i.customer_id();
    if (c == held[0]) {
      EXPECT_TRUE(i.state() == v1::ITEM_STATE_TAIL ||
                  i.state() == v1::ITEM_STATE_DONE)
          << i.DebugString();
      EXPECT_EQ(env_->Route(c).system(), SYSTEM_TARGET);
      continue;
    }
    EXPECT_EQ(i.state(), v1::ITEM_STATE_SKIPPED) << i.DebugString();
    EXPECT_EQ(i.failure().kind(), v1::FAILURE_KIND_BATCH_CANCELLED);
    EXPECT_EQ(env_->Route(c).system(), SYSTEM_SOURCE);
    EXPECT_EQ(env_->Route(c).state(), rv1::ROUTE_STATE_STABLE);
    EXPECT_NE(env_->Rows(false, "customers",
                         absl::StrCat("i_customer = ", c,
                                      " AND status = "
                                      "'exported'"))
                  .size(),
              1u);
    ExpectNoCopy(c);
  }
  EXPECT_EQ(batches_->Act("resume", id).error_code(),
            grpc::FAILED_PRECONDITION);
}

TEST_F(MigratorBatchTest, ABatchMovesItsCustomersWatchedAndReported) {
  const std::vector<int64_t> customers = Take(6);
  v1::BatchOptions options;
  options.set_parallelism(3);
  const v1::Batch batch = batches_->Start("watched", customers, options);
  // The stream follows the batch to its end.
  v1::WatchBatchRequest watch;
  watch.set_batch_id(batch.batch_id());
  watch.set_min_interval_ms(200);
  watch.set_include_items(true);
  auto ctx = MigratorEnv::Ctx(kViewerToken, 120);
  auto reader = batches_->stub().WatchBatch(ctx.get(), watch);
  v1::WatchBatchResponse message;
  int messages = 0;
  std::set<int64_t> changed;
  bool finished = false;
  while (reader->Read(&message)) {
    ++messages;
    for (const v1::BatchItem& i : message.changed_items()) {
      changed.insert(i.customer_id());
    }
    finished = message.batch_finished();
  }
  grpc::Status end = reader->Finish();
  EXPECT_TRUE(end.ok()) << end.error_message();
  EXPECT_TRUE(finished);
  EXPECT_GE(messages, 2);
  EXPECT_EQ(changed, std::set<int64_t>(customers.begin(), customers.end()));
  EXPECT_EQ(message.batch().state(), v1::BATCH_STATE_COMPLETED);
  const v1::BatchProgress& p = message.batch().progress();
  EXPECT_EQ(p.items_done(), 6);
  EXPECT_GT(p.rows_copied(), 0);
  EXPECT_GT(p.cutover_ms_p50(), 0);
  EXPECT_GE(p.cutover_ms_p99(), p.cutover_ms_p50());
  for (int64_t c : customers) EXPECT_EQ(env_->Route(c).system(), SYSTEM_TARGET);
  // The report, as data and as Markdown.
  v1::GetBatchReportRequest rr;
  rr.set_batch_id(batch.batch_id());
  v1::GetBatchReportResponse report;
  ASSERT_TRUE(
      batches_->stub()
          .GetBatchReport(MigratorEnv::Ctx(kViewerToken).get(), rr, &report)
          .ok());
  EXPECT_TRUE(report.report().final());
  EXPECT_EQ(report.report().rows_total(), p.rows_copied());
  EXPECT_NE(report.report().markdown().find("| moved | 6 |"), std::string::npos)
      << report.report().markdown();
  EXPECT_NE(report.report().markdown().find("cutover (held) p50"),
            std::string::npos);
  // Pages: one item a page, in customer order, to the end.
  v1::ListBatchItemsRequest page;
  page.set_batch_id(batch.batch_id());
  page.set_page_size(1);
  std::vector<int64_t> paged;
  while (true) {
    v1::ListBatchItemsResponse items;
    ASSERT_TRUE(
        batches_->stub()
            .ListBatchItems(MigratorEnv::Ctx(kViewerToken).get(), page, &items)
            .ok());
    for (const auto& i : items.items()) paged.push_back(i.customer_id());
    if (items.next_page_token().empty()) break;
    page.set_page_token(items.next_page_token());
  }
  EXPECT_EQ(paged, customers);
  page.set_page_token("nonsense");
  v1::ListBatchItemsResponse bad;
  EXPECT_EQ(
      batches_->stub()
          .ListBatchItems(MigratorEnv::Ctx(kViewerToken).get(), page, &bad)
          .error_code(),
      grpc::INVALID_ARGUMENT);
  // Watching an unknown batch, or too often, is refused.
  watch.set_batch_id(99999);
  auto unknown_ctx = MigratorEnv::Ctx(kViewerToken, 10);
  auto unknown = batches_->stub().WatchBatch(unknown_ctx.get(), watch);
  while (unknown->Read(&message)) {
  }
  EXPECT_EQ(unknown->Finish().error_code(), grpc::NOT_FOUND);
}

TEST_F(MigratorBatchTest, FailuresRetryAsANewBatchAndAWholeBatchRollsBack) {
  const std::vector<int64_t> isdn = Ids(
      "SELECT DISTINCT s.i_customer FROM subscriptions s JOIN products p ON "
      "p.i_product = s.i_product WHERE p.code = 'FIX-ISDN' ORDER BY 1 LIMIT "
      "1");
  ASSERT_EQ(isdn.size(), 1u) << "the population has no FIX-ISDN customer";
  std::vector<int64_t> customers = Take(3);
  customers.push_back(isdn[0]);
  std::sort(customers.begin(), customers.end());
  const v1::Batch first = batches_->Start("first night", customers);
  ASSERT_TRUE(batches_->AwaitFinished(first.batch_id()));
  const std::vector<v1::BatchItem> items = batches_->Items(first.batch_id());
  EXPECT_EQ(CustomersOf(items, v1::ITEM_STATE_FAILED), isdn);
  for (const v1::BatchItem& i : items) {
    if (i.state() == v1::ITEM_STATE_FAILED) {
      EXPECT_EQ(i.failure().kind(), v1::FAILURE_KIND_PLAN_REFUSED);
    }
  }
  // The failed customers again, as a new batch.
  v1::CreateBatchRequest retry;
  retry.set_name("first night, retried");
  retry.set_mode(v1::BATCH_MODE_LIVE);
  retry.set_start(true);
  retry.mutable_selector()->set_from_batch_id(first.batch_id());
  retry.mutable_selector()->add_from_batch_states(v1::ITEM_STATE_FAILED);
  v1::Batch second;
  ASSERT_TRUE(batches_->Create(retry, &second).ok());
  EXPECT_EQ(second.progress().items_total(), 1);
  ASSERT_TRUE(batches_->AwaitFinished(second.batch_id()));
  EXPECT_EQ(batches_->Get(second.batch_id()).progress().items_failed(), 1);
  // Everything the first night moved goes back.
  v1::CreateBatchRequest back;
  back.set_name("first night, rolled back");
  back.set_mode(v1::BATCH_MODE_LIVE);
  back.set_direction(::tandem::common::v1::DIRECTION_ROLLBACK);
  back.set_start(true);
  back.mutable_selector()->set_from_batch_id(first.batch_id());
  back.mutable_selector()->add_from_batch_states(v1::ITEM_STATE_DONE);
  v1::Batch rollback;
  ASSERT_TRUE(batches_->Create(back, &rollback).ok());
  EXPECT_EQ(rollback.progress().items_pending(), 3);
  ASSERT_TRUE(batches_->AwaitFinished(rollback.batch_id()));
  EXPECT_EQ(batches_->Get(rollback.batch_id()).progress().items_done(), 3)
      << batches_->Get(rollback.batch_id()).DebugString();
  const std::vector<v1::BatchItem> after = batches_->Items(first.batch_id());
  EXPECT_EQ(CustomersOf(after, v1::ITEM_STATE_ROLLED_BACK).size(), 3u);
  for (int64_t c : customers) {
    EXPECT_EQ(env_->Route(c).system(), SYSTEM_SOURCE) << c;
  }
}

}  // namespace
}  // namespace tandem::migrator::testing
