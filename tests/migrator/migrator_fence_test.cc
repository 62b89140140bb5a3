// Fencing: a worker whose claim on a customer passed to another (its lease
// ran out) cannot write anything more for that customer, on either billing
// server, whatever it believes — checked write by write, and end to end
// with two replicas where the first is stalled mid-copy while the second
// moves the customer.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "migrator/engine/write_guard.h"
#include "tests/migrator/migrator_fixture.h"
#include "tests/testing/eventually.h"

namespace tandem::migrator::testing {
namespace {

class MigratorFenceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    EnvOptions o;
    o.datagen.customers = 20;
    o.datagen.accounts = 100;
    o.datagen.xdrs = 1000;
    o.datagen.large_customers = 0;
    o.datagen.huge_accounts = 0;
    absl::StatusOr<std::unique_ptr<MigratorEnv>> env = MigratorEnv::Start(o);
    if (!env.ok()) {
      *setup_error_ = env.status().ToString();
      return;
    }
    env_ = env->release();
    movable_ = new std::vector<int64_t>(env_->MovableCustomers(10));
  }
  static void TearDownTestSuite() {
    delete env_;
    delete movable_;
  }
  void SetUp() override { ASSERT_NE(env_, nullptr) << *setup_error_; }

  static std::vector<std::string> Control(const std::string& sql) {
    absl::StatusOr<std::vector<std::string>> rows =
        env_->testbed().control_server().Query(sql, "migrator");
    EXPECT_TRUE(rows.ok()) << sql << ": " << rows.status();
    return rows.ok() ? *rows : std::vector<std::string>{};
  }

  static inline MigratorEnv* env_ = nullptr;
  static inline std::vector<int64_t>* movable_ = nullptr;
  static inline std::string* setup_error_ = new std::string("not started");
};

TEST_F(MigratorFenceTest, AStaleClaimsWritesAreRefusedOnBothServers) {
  // A replica that claims nothing by itself: the test plays two workers.
  auto server = env_->StartMigrator(
      [](MigratorServerOptions& o) { o.backend.parallelism = 0; });
  ASSERT_TRUE(server.ok()) << server.status();
  MoveStore& store = (*server)->store();
  BillingDb& source = (*server)->db(kSourceSide);
  BillingDb& target = (*server)->db(kTargetSide);
  const int64_t c = (*movable_)[0];
  NewBatch b;
  b.customers = {c};
  b.selector.add_customer_ids(c);
  ASSERT_TRUE(store.CreateBatch(b).ok());
  ClaimLimits one;
  one.limit = 1;
  one.tail_limit = 0;
  absl::StatusOr<std::vector<ItemRecord>> a = store.ClaimItems("a", 60000, one);
  ASSERT_TRUE(a.ok() && a->size() == 1) << a.status();
  ItemRecord stale = (*a)[0];
  auto context_of = [](const ItemRecord& r) {
    WorkerContext x;
    x.batch_id = r.item.batch_id();
    x.customer_id = r.item.customer_id();
    x.epoch = r.epoch;
    x.worker = r.worker;
    return x;
  };
  WorkerContext old = context_of(stale);
  for (BillingDb* db : {&source, &target}) {
    ASSERT_TRUE(TakeFence(db->pool(), db->fence_table(), old).ok());
  }
  // A write of each kind, on each server, inside its transaction.
  auto write = [&](const WorkerContext& who, const std::string& mark) {
    ScopedWorkerContext scope(const_cast<WorkerContext*>(&who));
    absl::Status marks =
        target.pool().Transaction("test marks", [&](sql::Connection& conn) {
          return target.SaveMarks(conn, c, {{mark, "1"}}, false);
        });
    absl::Status status =
        source.pool().Transaction("test status", [&](sql::Connection& conn) {
          return source.SetCustomerStatus(conn, c, "open");
        });
    return std::make_pair(marks, status);
  };
  auto [marks, status] = write(old, "before|x|1");
  ASSERT_TRUE(marks.ok()) << marks;
  ASSERT_TRUE(status.ok()) << status;
  // The lease runs out; another worker claims the customer.
  Control(absl::StrCat(
      "UPDATE migrator_items SET lease_until_ms = 0 WHERE customer_id = ", c));
  absl::StatusOr<std::vector<ItemRecord>> b2 =
      store.ClaimItems("b", 60000, one);
  ASSERT_TRUE(b2.ok() && b2->size() == 1) << b2.status();
  WorkerContext current = context_of((*b2)[0]);
  EXPECT_GT(current.epoch, old.epoch);
  for (BillingDb* db : {&source, &target}) {
    ASSERT_TRUE(TakeFence(db->pool(), db->fence_table(), current).ok());
  }
  // The stale worker is refused everywhere, and changes nothing.
  auto [late_marks, late_status] = write(old, "after|x|1");
  EXPECT_EQ(late_marks.code(), absl::StatusCode::kAborted) << late_marks;
  EXPECT_NE(late_marks.message().find("fenced"), std::string::npos);
  EXPECT_EQ(late_status.code(), absl::StatusCode::kAborted) << late_status;
  EXPECT_EQ(store.UpdateItem(stale).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(store.RenewLease(stale, 60000).code(), absl::StatusCode::kAborted);
  // Renewed together (as the back end renews everything it holds), the
  // current claim is extended and the stale one named as lost.
  absl::StatusOr<std::vector<size_t>> lost =
      store.RenewLeases({(*b2)[0], stale}, 60000);
  ASSERT_TRUE(lost.ok()) << lost.status();
  EXPECT_EQ(*lost, std::vector<size_t>{1});
  EXPECT_EQ(TakeFence(target.pool(), target.fence_table(), old).code(),
            absl::StatusCode::kAborted);
  absl::StatusOr<std::vector<std::string>> kept =
      env_->testbed().target_server().Query(
          absl::StrCat("SELECT mark FROM tandem_migrator.tail_marks WHERE "
                       "customer_id = ",
                       c, " ORDER BY mark"),
          testbed::Testbed::kTargetDb);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(*kept, std::vector<std::string>{"before|x|1"});
  // The current worker writes.
  auto [now_marks, now_status] = write(current, "current|x|1");
  EXPECT_TRUE(now_marks.ok()) << now_marks;
  EXPECT_TRUE(now_status.ok()) << now_status;
}

TEST_F(MigratorFenceTest, ClaimingSeveralItemsAtOnceLeasesEachWithANewEpoch) {
  auto server = env_->StartMigrator(
      [](MigratorServerOptions& o) { o.backend.parallelism = 0; });
  ASSERT_TRUE(server.ok()) << server.status();
  MoveStore& store = (*server)->store();
  NewBatch b;
  std::vector<int64_t> customers(movable_->begin() + 2, movable_->begin() + 7);
  std::sort(customers.begin(), customers.end());
  for (int64_t c : customers) {
    b.customers.push_back(c);
    b.selector.add_customer_ids(c);
  }
  b.options.set_parallelism(3);
  absl::StatusOr<v1::Batch> batch = store.CreateBatch(b);
  ASSERT_TRUE(batch.ok()) << batch.status();
  const std::string of_batch =
      absl::StrCat(" FROM migrator_items WHERE batch_id = ", batch->batch_id(),
                   " ORDER BY customer_id");
  ClaimLimits many;
  many.limit = 10;
  many.tail_limit = 0;
  absl::StatusOr<std::vector<ItemRecord>> a =
      store.ClaimItems("a", 60000, many);
  ASSERT_TRUE(a.ok()) << a.status();
  // As many as the batch's parallelism, in customer order, each as stored.
  ASSERT_EQ(a->size(), 3u);
  std::vector<std::string> stored = Control(absl::StrCat(
      "SELECT customer_id, worker, epoch, lease_until_ms", of_batch));
  ASSERT_EQ(stored.size(), 5u);
  for (size_t i = 0; i < a->size(); ++i) {
    const ItemRecord& r = (*a)[i];
    EXPECT_EQ(r.item.customer_id(), customers[i]);
    EXPECT_EQ(r.worker, "a");
    EXPECT_EQ(r.item.worker(), "a");
    EXPECT_EQ(stored[i], absl::StrCat(customers[i], "\ta\t", r.epoch, "\t",
                                      r.lease_until_ms));
  }
  EXPECT_EQ(stored[3], absl::StrCat(customers[3], "\t\t0\t0"));
  // The other two wait for a slot: a second worker gets nothing ...
  absl::StatusOr<std::vector<ItemRecord>> none =
      store.ClaimItems("b", 60000, many);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
  // ... until the leases run out: then it takes the same three, each under
  // a new epoch.
  Control(absl::StrCat("UPDATE migrator_items SET lease_until_ms = 0",
                       " WHERE batch_id = ", batch->batch_id()));
  absl::StatusOr<std::vector<ItemRecord>> heir =
      store.ClaimItems("b", 60000, many);
  ASSERT_TRUE(heir.ok()) << heir.status();
  ASSERT_EQ(heir->size(), 3u);
  for (size_t i = 0; i < heir->size(); ++i) {
    EXPECT_EQ((*heir)[i].item.customer_id(), customers[i]);
    EXPECT_EQ((*heir)[i].worker, "b");
    EXPECT_EQ((*heir)[i].epoch, (*a)[i].epoch + 1);
  }
}

TEST_F(MigratorFenceTest,
       AWorkerStalledPastItsLeaseCannotUndoTheMoveOfItsHeir) {
  const int64_t c = (*movable_)[1];
  absl::Notification stalled, go_on;
  // Replica a stalls after its copy (a long pause: GC, a frozen VM), with a
  // long lease so that it does not lose the claim by itself.
  auto a = env_->StartMigrator([&](MigratorServerOptions& o) {
    o.backend.worker = "replica-a";
    o.backend.item_lease = absl::Seconds(60);
    // Its one worker is the stalled one: it claims nothing more.
    o.backend.parallelism = 1;
    o.mover.fault = [&, first = true](const std::string& point,
                                      int64_t customer) mutable {
      if (point == "before_catch_up" && customer == c && first) {
        first = false;
        stalled.Notify();
        go_on.WaitForNotification();
      }
      return absl::OkStatus();
    };
  });
  ASSERT_TRUE(a.ok()) << a.status();
  // However the test ends, replica a is let go before it is stopped.
  struct Release {
    absl::Notification& n;
    ~Release() {
      if (!n.HasBeenNotified()) n.Notify();
    }
  } release{go_on};
  Batches batches((*a)->port());
  const v1::Batch batch = batches.Start("stalled", {c});
  ASSERT_TRUE(stalled.WaitForNotificationWithTimeout(absl::Seconds(60)));
  // Its lease runs out; replica b takes the customer over and moves it.
  auto b = env_->StartMigrator([&](MigratorServerOptions& o) {
    o.backend.worker = "replica-b";
    o.backend.item_lease = absl::Seconds(2);
  });
  ASSERT_TRUE(b.ok()) << b.status();
  Control(absl::StrCat(
      "UPDATE migrator_items SET lease_until_ms = 0 WHERE customer_id = ", c));
  ASSERT_TRUE(::tandem::testing::Eventually(
      [&] {
        return env_->Route(c).system() == ::tandem::common::v1::SYSTEM_TARGET;
      },
      absl::Seconds(60)));
  // Replica a wakes up believing it still holds the customer: every write
  // it tries (its catch-up, then removing "its" copy as it fails) is
  // refused, and the move stands.
  go_on.Notify();
  ASSERT_TRUE(batches.AwaitFinished(batch.batch_id()));
  const std::vector<v1::BatchItem> items = batches.Items(batch.batch_id());
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].state(), v1::ITEM_STATE_DONE) << items[0].DebugString();
  v1::VerifyCustomerRequest verify;
  verify.set_customer_id(c);
  v1::VerifyCustomerResponse verified;
  ASSERT_TRUE(MigratorStub((*b)->port())
                  ->VerifyCustomer(MigratorEnv::Ctx().get(), verify, &verified)
                  .ok());
  EXPECT_TRUE(verified.verification().equal())
      << verified.verification().DebugString();
  EXPECT_FALSE(
      env_->Rows(true, "customers", absl::StrCat("customer_id = ", c)).empty());
  // Moved once: one flip to the target in the router's change log.
  absl::StatusOr<std::vector<std::string>> flips =
      env_->testbed().control_server().Query(
          absl::StrCat("SELECT COUNT(*) FROM route_changes WHERE customer_id "
                       "= ",
                       c),
          "router");
  ASSERT_TRUE(flips.ok()) << flips.status();
  // The import, MIGRATING, the flip.
  EXPECT_EQ((*flips)[0], "3");
  (*a)->Shutdown(absl::Seconds(5));
}

}  // namespace
}  // namespace tandem::migrator::testing
