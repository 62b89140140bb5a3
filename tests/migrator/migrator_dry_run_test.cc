// The dry run against real servers: a rehearsal of every customer of the
// testbed leaves the target byte-identical (table checksums, AUTO_INCREMENT
// values), the source and the routes untouched, and reports the customers
// that would fail and why — a product without a mapping, a usage over the
// target's limit, a login and a phone number already taken by a customer
// created natively on the target — with projected rows and measured
// would-be cutovers for the others.
#include <gtest/gtest.h>

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/migrator/migrator_fixture.h"

namespace tandem::migrator::testing {
namespace {

namespace cv1 = ::tandem::catalog::v1;

class MigratorDryRunTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = MigratorEnv::StartForSuite(SmallPopulation(50, 250, 2500),
                                      setup_error_);
    if (env_ == nullptr) return;
  }
  static void TearDownTestSuite() { delete env_; }
  void SetUp() override { ASSERT_NE(env_, nullptr) << *setup_error_; }

  static std::vector<std::string> Query(bool target, const std::string& sql) {
    const auto& server = target ? env_->testbed().target_server()
                                : env_->testbed().source_server();
    absl::StatusOr<std::vector<std::string>> rows =
        server.Query(sql, target ? testbed::Testbed::kTargetDb
                                 : testbed::Testbed::kSourceDb);
    EXPECT_TRUE(rows.ok()) << sql << ": " << rows.status();
    return rows.ok() ? *rows : std::vector<std::string>{};
  }
  static int64_t One(bool target, const std::string& sql) {
    std::vector<std::string> rows = Query(target, sql);
    int64_t v = 0;
    EXPECT_TRUE(!rows.empty() && absl::SimpleAtoi(rows[0], &v)) << sql;
    return v;
  }

  // Every table's checksum and AUTO_INCREMENT on one side.
  static std::vector<std::string> Fingerprint(bool target) {
    const std::string db =
        target ? testbed::Testbed::kTargetDb : testbed::Testbed::kSourceDb;
    std::vector<std::string> out = Query(
        target,
        absl::StrCat("SELECT TABLE_NAME, COALESCE(AUTO_INCREMENT, 0) FROM "
                     "information_schema.TABLES WHERE TABLE_SCHEMA = '",
                     db, "' ORDER BY 1"));
    std::vector<std::string> tables;
    for (const std::string& row : out)
      tables.push_back(row.substr(0, row.find('\t')));
    for (const std::string& t : tables) {
      for (std::string& c :
           Query(target, absl::StrCat("CHECKSUM TABLE ", t, " EXTENDED"))) {
        out.push_back(std::move(c));
      }
    }
    return out;
  }

  static std::vector<std::string> Routes() {
    std::vector<std::string> out;
    router::v1::ListRoutesRequest request;
    request.set_page_size(10000);
    router::v1::ListRoutesResponse response;
    EXPECT_TRUE(env_->router_stub()
                    .ListRoutes(MigratorEnv::Ctx().get(), request, &response)
                    .ok());
    for (const auto& r : response.routes()) {
      out.push_back(absl::StrCat(r.customer_id(), " ", r.system(), " ",
                                 r.state(), " ", r.version()));
    }
    return out;
  }

  static inline MigratorEnv* env_ = nullptr;
  static inline std::string* setup_error_ = new std::string("not started");
};

TEST_F(MigratorDryRunTest, ARehearsalLeavesNoTraceAndSaysWhatWouldFailAndWhy) {
  // One customer uses more data than the target's MOB-S allows, and MOB-S's
  // mapping now refuses overuse.
  const std::vector<std::string> mob_s_users = Query(
      false,
      "SELECT s.i_subscription, s.i_customer FROM subscriptions s JOIN "
      "products p ON p.i_product = s.i_product WHERE p.code = 'MOB-S' AND "
      "s.status <> 'closed' ORDER BY s.i_customer LIMIT 1");
  ASSERT_EQ(mob_s_users.size(), 1u) << "no MOB-S customer in the population";
  const std::string subscription =
      mob_s_users[0].substr(0, mob_s_users[0].find('\t'));
  int64_t over_limit = 0;
  ASSERT_TRUE(absl::SimpleAtoi(
      mob_s_users[0].substr(mob_s_users[0].find('\t') + 1), &over_limit));
  Query(false,
        absl::StrCat("INSERT INTO subscription_usage (i_subscription, "
                     "i_resource_type, used_amount) SELECT ",
                     subscription,
                     ", i_resource_type, 1900 FROM resource_types WHERE code "
                     "= 'data_mb' ON DUPLICATE KEY UPDATE used_amount = 1900"));
  const int64_t mob_s =
      One(false, "SELECT i_product FROM products WHERE code = 'MOB-S'");
  cv1::ListMappingsRequest list;
  list.set_page_size(1000);
  cv1::ListMappingsResponse mappings;
  ASSERT_TRUE(env_->catalog_stub()
                  .ListMappings(MigratorEnv::Ctx().get(), list, &mappings)
                  .ok());
  for (const auto& m : mappings.mappings()) {
    if (m.source_product_id() != mob_s) continue;
    cv1::SetMappingRequest deny;
    deny.set_source_product_id(m.source_product_id());
    deny.set_target_product_id(m.target_product_id());
    deny.set_overuse_policy(cv1::OVERUSE_POLICY_DENY);
    deny.set_expected_version(m.version());
    deny.set_reason("no overuse on MOB-S");
    cv1::SetMappingResponse denied;
    ASSERT_TRUE(env_->catalog_stub()
                    .SetMapping(MigratorEnv::Ctx().get(), deny, &denied)
                    .ok());
  }
  // Two customers collide with a customer created natively on the target:
  // one's login, the other's phone number.
  const std::vector<int64_t> movable = env_->MovableCustomers(50);
  ASSERT_GE(movable.size(), 6u);
  ASSERT_NE(movable[0], over_limit);
  const int64_t login_clash = movable[0];
  const int64_t phone_clash = movable[1];
  const std::string login = Query(
      false, absl::StrCat("SELECT login FROM customers WHERE i_customer = ",
                          login_clash))[0];
  const std::string phone =
      Query(false, absl::StrCat("SELECT id FROM accounts WHERE i_customer = ",
                                phone_clash, " ORDER BY i_account LIMIT 1"))[0];
  Query(true,
        absl::StrCat("INSERT INTO customers (login, password_hash, currency, "
                     "payment_system_id, billing_period, status, created_at) "
                     "VALUES ('",
                     login, "', 'native', 'EUR', 1, 'monthly', 1, NOW())"));
  const int64_t native =
      One(true, absl::StrCat("SELECT customer_id FROM customers WHERE login "
                             "= '",
                             login, "'"));
  ASSERT_GE(native, 1000000000);
  Query(true, absl::StrCat("INSERT INTO accounts (phone_number, customer_id, "
                           "product_id, status, created_at) SELECT '",
                           phone, "', ", native,
                           ", MIN(product_id), 1, NOW() FROM products"));
  const std::vector<std::string> isdn = Query(
      false,
      "SELECT DISTINCT s.i_customer FROM subscriptions s JOIN products p ON "
      "p.i_product = s.i_product WHERE p.code = 'FIX-ISDN' ORDER BY 1");
  ASSERT_FALSE(isdn.empty()) << "no FIX-ISDN customer in the population";
  std::vector<int64_t> can = env_->MovableCustomers(50);
  std::set<int64_t> would_move(can.begin(), can.end());
  would_move.erase(login_clash);
  would_move.erase(phone_clash);
  ASSERT_FALSE(would_move.count(over_limit));

  const std::vector<std::string> target_before = Fingerprint(true);
  const std::vector<std::string> source_before = Fingerprint(false);
  const std::vector<std::string> routes_before = Routes();

  auto migrator = env_->StartMigrator();
  ASSERT_TRUE(migrator.ok()) << migrator.status();
  Batches batches((*migrator)->port());
  v1::CreateBatchRequest r;
  r.set_name("rehearsal of everyone");
  r.set_mode(v1::BATCH_MODE_DRY_RUN);
  r.set_start(true);
  r.mutable_selector()->set_all_customers(true);
  r.mutable_options()->set_parallelism(4);
  v1::Batch batch;
  ASSERT_TRUE(batches.Create(r, &batch).ok());
  EXPECT_EQ(batch.progress().items_total(), 50);
  ASSERT_TRUE(batches.AwaitFinished(batch.batch_id()))
      << batches.Get(batch.batch_id()).DebugString();

  // No trace: every table byte-identical, every counter where it was, the
  // routes as they were.
  EXPECT_EQ(Fingerprint(true), target_before);
  EXPECT_EQ(Fingerprint(false), source_before);
  EXPECT_EQ(Routes(), routes_before);

  std::map<int64_t, v1::BatchItem> items;
  for (const v1::BatchItem& i : batches.Items(batch.batch_id())) {
    items[i.customer_id()] = i;
  }
  std::set<int64_t> done;
  for (const auto& [c, i] : items) {
    if (i.state() != v1::ITEM_STATE_DONE) continue;
    done.insert(c);
    EXPECT_GT(i.dry_run().projected_rows_total(), 0) << c;
    EXPECT_EQ(i.dry_run().projected_rows_total(), i.rows_copied());
    EXPECT_TRUE(i.verification().equal()) << i.DebugString();
  }
  EXPECT_EQ(done, would_move);
  EXPECT_EQ(items[login_clash].failure().kind(), v1::FAILURE_KIND_KEY_CONFLICT);
  EXPECT_EQ(items[phone_clash].failure().kind(), v1::FAILURE_KIND_KEY_CONFLICT);
  EXPECT_EQ(items[over_limit].failure().kind(), v1::FAILURE_KIND_PLAN_REFUSED);
  EXPECT_NE(items[over_limit].failure().message().find("overusage"),
            std::string::npos)
      << items[over_limit].failure().message();
  for (const std::string& c : isdn) {
    int64_t id = 0;
    ASSERT_TRUE(absl::SimpleAtoi(c, &id));
    EXPECT_EQ(items[id].failure().kind(), v1::FAILURE_KIND_PLAN_REFUSED) << id;
  }

  v1::GetBatchReportRequest rr;
  rr.set_batch_id(batch.batch_id());
  v1::GetBatchReportResponse got;
  ASSERT_TRUE(
      batches.stub()
          .GetBatchReport(MigratorEnv::Ctx(kViewerToken).get(), rr, &got)
          .ok());
  const v1::BatchReport& report = got.report();
  std::map<std::string, int64_t> outcomes, kinds;
  for (const auto& c : report.by_plan_outcome()) outcomes[c.name()] = c.count();
  for (const auto& c : report.by_failure_kind()) kinds[c.name()] = c.count();
  EXPECT_GE(outcomes["REFUSED_NO_MAPPING"], static_cast<int64_t>(isdn.size()));
  EXPECT_GE(outcomes["REFUSED_OVERUSE"], 1);
  EXPECT_GE(outcomes["MOVES_CLEANLY"], 1);
  EXPECT_EQ(kinds["KEY_CONFLICT"], 2);
  EXPECT_EQ(kinds["PLAN_REFUSED"],
            static_cast<int64_t>(50 - would_move.size() - 2));
  std::set<std::string> conflicts;
  for (int i = 0; i < report.key_conflicts_size(); ++i) {
    const v1::KeyConflict& k = report.key_conflicts(i);
    EXPECT_EQ(k.held_by_customer_id(), native);
    conflicts.insert(absl::StrCat(report.key_conflict_customers(i), " ",
                                  k.table(), ".", k.key(), " ", k.value()));
  }
  EXPECT_EQ(conflicts,
            (std::set<std::string>{
                absl::StrCat(login_clash, " customers.uk_login ", login),
                absl::StrCat(phone_clash, " accounts.uk_phone ", phone)}));
  EXPECT_EQ(report.failed_size(), static_cast<int>(50 - would_move.size()));
  EXPECT_GT(report.rows_total(), 0);
  int64_t projected = 0;
  for (const auto& [table, n] : report.rows_by_table()) projected += n;
  EXPECT_EQ(projected, report.rows_total());
  EXPECT_GT(report.batch().progress().cutover_ms_max(), 0);
  EXPECT_NE(report.markdown().find("## Customers that would fail, and why"),
            std::string::npos);
  EXPECT_NE(report.markdown().find("## Key conflicts on the other system"),
            std::string::npos);
  EXPECT_NE(report.markdown().find("| would move | " +
                                   std::to_string(would_move.size()) + " |"),
            std::string::npos)
      << report.markdown();
}

TEST_F(MigratorDryRunTest, OneCustomerIsRehearsedThroughMoveCustomer) {
  auto migrator = env_->StartMigrator();
  ASSERT_TRUE(migrator.ok()) << migrator.status();
  const std::vector<int64_t> movable = env_->MovableCustomers(50);
  const int64_t c = movable.back();
  const std::vector<std::string> before = Fingerprint(true);
  v1::MoveCustomerRequest request;
  request.set_customer_id(c);
  request.set_mode(v1::BATCH_MODE_DRY_RUN);
  request.set_wait(true);
  v1::MoveCustomerResponse response;
  auto stub = MigratorStub((*migrator)->port());
  ASSERT_TRUE(
      stub->MoveCustomer(MigratorEnv::Ctx().get(), request, &response).ok());
  EXPECT_EQ(response.batch().mode(), v1::BATCH_MODE_DRY_RUN);
  EXPECT_EQ(response.item().state(), v1::ITEM_STATE_DONE)
      << response.item().DebugString();
  EXPECT_GT(response.item().dry_run().projected_rows_total(), 0);
  EXPECT_EQ(Fingerprint(true), before);
  EXPECT_EQ(env_->Route(c).system(), ::tandem::common::v1::SYSTEM_SOURCE);
}

}  // namespace
}  // namespace tandem::migrator::testing
