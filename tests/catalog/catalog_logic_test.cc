// The catalog's logic without a database: the freeze, product changes,
// mappings and plans over FakeCatalogStore and FakeBillingCatalog, with
// catalog replicas whose caches never poll (so a stale cache is stale for
// certain, not by timing).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>

#include "absl/synchronization/mutex.h"
#include "catalog/catalog.h"
#include "common/clock.h"
#include "tests/catalog/fake_catalog_store.h"
#include "tests/testing/eventually.h"

namespace tandem::catalog {
namespace {

namespace v1 = ::tandem::catalog::v1;
using ::tandem::catalog::testing::FakeBillingCatalog;
using ::tandem::catalog::testing::FakeCatalogStore;
using ::tandem::testing::Eventually;
using ::testing::HasSubstr;
constexpr auto kSourceSystem = ::tandem::common::v1::SYSTEM_SOURCE;
constexpr auto kTargetSystem = ::tandem::common::v1::SYSTEM_TARGET;

class CatalogLogicTest : public ::testing::Test {
 protected:
  CatalogLogicTest() : source_(kSourceSystem), target_(kTargetSystem) {
    for (FakeBillingCatalog* billing : {&source_, &target_}) {
      v1::ResourceType data;
      data.set_code("data_mb");
      data.set_name("Data");
      data.set_resource_class("data");
      data.set_unit("MB");
      billing->AddResourceType(data);
    }
  }

  // A catalog replica over the shared store; its cache is re-read only by
  // its own changes, ReloadNow() or a Poke (never by the clock).
  std::unique_ptr<Catalog> Replica() {
    CatalogOptions options;
    options.poll_interval = absl::InfiniteDuration();
    auto catalog = Catalog::Create(
        &store_, &source_, &target_, [this] { return Counts(); }, nullptr,
        options);
    EXPECT_TRUE(catalog.ok()) << catalog.status();
    return catalog.ok() ? *std::move(catalog) : nullptr;
  }

  absl::StatusOr<RouteCounts> Counts() {
    absl::MutexLock lock(&counts_mu_);
    if (!router_up_) return absl::UnavailableError("router down");
    return counts_;
  }
  void SetCounts(RouteCounts counts, bool up = true) {
    absl::MutexLock lock(&counts_mu_);
    counts_ = counts;
    router_up_ = up;
  }

  static v1::ProductSpec Spec(const std::string& code,
                              int64_t data_limit = 1000,
                              v1::ProductKind kind = v1::PRODUCT_KIND_MAIN) {
    v1::ProductSpec spec;
    spec.set_code(code);
    spec.set_name(code);
    spec.set_category("test");
    spec.set_kind(kind);
    spec.set_contract_pool("test");
    spec.mutable_pricing()->set_currency("EUR");
    spec.mutable_pricing()->set_monthly_fee_micros(10'000'000);
    v1::ResourceType* data = spec.add_resource_types();
    data->set_code("data_mb");
    data->set_limit(data_limit);
    return spec;
  }

  absl::StatusOr<v1::Product> Create(Catalog& catalog,
                                     ::tandem::common::v1::System system,
                                     const v1::ProductSpec& spec,
                                     const std::string& request_id = "") {
    v1::CreateProductRequest req;
    req.set_system(system);
    *req.mutable_spec() = spec;
    req.set_reason("test");
    req.set_request_id(request_id);
    absl::StatusOr<v1::CreateProductResponse> created =
        catalog.CreateProduct(alice_, req);
    if (!created.ok()) return created.status();
    return created->product();
  }

  absl::Status Freeze(Catalog& catalog, v1::FreezeState state,
                      bool force = false) {
    v1::SetFreezeRequest req;
    req.set_state(state);
    req.set_reason("test");
    req.set_force(force);
    return catalog.SetFreeze(alice_, req).status();
  }

  v1::CheckChangeResponse Check(Catalog& catalog,
                                ::tandem::common::v1::System system,
                                v1::ChangeKind kind, int64_t product_id) {
    v1::CheckChangeRequest req;
    req.set_system(system);
    req.set_kind(kind);
    req.set_product_id(product_id);
    absl::StatusOr<v1::CheckChangeResponse> answer =
        catalog.CheckChange(alice_, req);
    EXPECT_TRUE(answer.ok()) << answer.status();
    return answer.ok() ? *answer : v1::CheckChangeResponse();
  }

  absl::StatusOr<v1::SetMappingResponse> Map(Catalog& catalog, int64_t source,
                                             int64_t target,
                                             int64_t expected_version = 0) {
    v1::SetMappingRequest req;
    req.set_source_product_id(source);
    req.set_target_product_id(target);
    req.set_expected_version(expected_version);
    req.set_reason("test");
    return catalog.SetMapping(alice_, req);
  }

  int CountAudit(v1::AuditKind kind) {
    int n = 0;
    for (const v1::AuditEntry& e : store_.audit()) n += e.kind() == kind;
    return n;
  }

  FakeCatalogStore store_;
  FakeBillingCatalog source_;
  FakeBillingCatalog target_;
  absl::Mutex counts_mu_;
  RouteCounts counts_ ABSL_GUARDED_BY(counts_mu_);
  bool router_up_ ABSL_GUARDED_BY(counts_mu_) = true;
  const Principal alice_{"alice", Role::kOperator};
};

// ---------------------------------------------------------------------------
// The freeze
// ---------------------------------------------------------------------------

TEST_F(CatalogLogicTest, TransitionsAreLegalAuditedAndIdempotent) {
  auto catalog = Replica();
  EXPECT_EQ(Freeze(*catalog, v1::FREEZE_STATE_LIFTED).code(),
            absl::StatusCode::kFailedPrecondition);
  v1::SetFreezeRequest req;
  req.set_state(v1::FREEZE_STATE_FROZEN);
  req.set_reason("freeze");
  req.set_request_id("freeze-1");
  req.set_expected_version(7);
  EXPECT_EQ(catalog->SetFreeze(alice_, req).status().code(),
            absl::StatusCode::kAborted);
  req.set_expected_version(1);
  absl::StatusOr<v1::SetFreezeResponse> first = catalog->SetFreeze(alice_, req);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->transition().version(), 2);
  absl::StatusOr<v1::SetFreezeResponse> again = catalog->SetFreeze(alice_, req);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->transition().version(), 2);  // the recorded answer
  EXPECT_EQ(catalog->GetFreeze().freeze().version(), 2);
  EXPECT_EQ(CountAudit(v1::AUDIT_KIND_FREEZE_TRANSITION), 1);
}

TEST_F(CatalogLogicTest, NeverLiftsByItselfWhenTheRouterHasNoRoutes) {
  auto catalog = Replica();
  ASSERT_TRUE(Freeze(*catalog, v1::FREEZE_STATE_FROZEN).ok());
  ASSERT_TRUE(Freeze(*catalog, v1::FREEZE_STATE_FROZEN_TARGET_OPEN).ok());
  // An empty router: nobody on the source, but nobody moved either.
  SetCounts(RouteCounts{});
  catalog->OnRouteCounts(RouteCounts{}, /*known=*/true);
  EXPECT_EQ(catalog->GetFreeze().freeze().state(),
            v1::FREEZE_STATE_FROZEN_TARGET_OPEN);
  EXPECT_EQ(catalog->GetFreeze().freeze().customers_on_source(), 0);
  // A router that cannot be heard does not lift it either.
  RouteCounts moved;
  moved.target_stable = 2;
  catalog->OnRouteCounts(moved, /*known=*/false);
  EXPECT_EQ(catalog->GetFreeze().freeze().state(),
            v1::FREEZE_STATE_FROZEN_TARGET_OPEN);
  EXPECT_EQ(catalog->GetFreeze().freeze().customers_on_source(), -1);
  EXPECT_EQ(CountAudit(v1::AUDIT_KIND_FREEZE_TRANSITION), 2);
  // Once customers exist and all of them have moved, it does.
  SetCounts(moved);
  catalog->OnRouteCounts(moved, /*known=*/true);
  EXPECT_EQ(catalog->GetFreeze().freeze().state(), v1::FREEZE_STATE_LIFTED);
  EXPECT_EQ(store_.audit().back().stamp().actor(), "tandem-catalog");
  EXPECT_TRUE(store_.audit().back().transition().automatic());
}

TEST_F(CatalogLogicTest, NeverLiftsByItselfWithAutoLiftOff) {
  auto catalog = Replica();
  v1::UpdateSettingsRequest off;
  off.set_expected_version(1);
  off.set_auto_lift(false);
  off.set_reason("operators lift by hand");
  ASSERT_TRUE(catalog->UpdateSettings(alice_, off).ok());
  ASSERT_TRUE(Freeze(*catalog, v1::FREEZE_STATE_FROZEN).ok());
  ASSERT_TRUE(Freeze(*catalog, v1::FREEZE_STATE_FROZEN_TARGET_OPEN).ok());
  RouteCounts moved;
  moved.target_stable = 3;
  SetCounts(moved);
  catalog->OnRouteCounts(moved, /*known=*/true);
  EXPECT_EQ(catalog->GetFreeze().freeze().state(),
            v1::FREEZE_STATE_FROZEN_TARGET_OPEN);
  EXPECT_FALSE(catalog->GetFreeze().freeze().auto_lift());
  // Turned back on, the next reading lifts it.
  v1::UpdateSettingsRequest on = off;
  on.set_expected_version(2);
  on.set_auto_lift(true);
  ASSERT_TRUE(catalog->UpdateSettings(alice_, on).ok());
  catalog->OnRouteCounts(moved, /*known=*/true);
  EXPECT_EQ(catalog->GetFreeze().freeze().state(), v1::FREEZE_STATE_LIFTED);
}

TEST_F(CatalogLogicTest, LiftingByHandNeedsTheRouterAndNobodyLeftUnlessForced) {
  auto catalog = Replica();
  ASSERT_TRUE(Freeze(*catalog, v1::FREEZE_STATE_FROZEN).ok());
  ASSERT_TRUE(Freeze(*catalog, v1::FREEZE_STATE_FROZEN_TARGET_OPEN).ok());
  RouteCounts counts;
  counts.source_stable = 4;
  counts.target_stable = 1;
  SetCounts(counts);
  absl::Status early = Freeze(*catalog, v1::FREEZE_STATE_LIFTED);
  EXPECT_EQ(early.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(early.message(), HasSubstr("4 customers are still"));
  SetCounts(counts, /*up=*/false);
  EXPECT_EQ(Freeze(*catalog, v1::FREEZE_STATE_LIFTED).code(),
            absl::StatusCode::kUnavailable);
  ASSERT_TRUE(Freeze(*catalog, v1::FREEZE_STATE_LIFTED, /*force=*/true).ok());
  EXPECT_TRUE(store_.audit().back().transition().forced());
}

TEST_F(CatalogLogicTest, CannotOpenAgainOnceACustomerStartedMoving) {
  auto catalog = Replica();
  ASSERT_TRUE(Freeze(*catalog, v1::FREEZE_STATE_FROZEN).ok());
  RouteCounts counts;
  counts.source_stable = 2;
  counts.source_migrating = 1;
  SetCounts(counts);
  EXPECT_EQ(Freeze(*catalog, v1::FREEZE_STATE_OPEN).code(),
            absl::StatusCode::kFailedPrecondition);
  counts.source_migrating = 0;
  counts.source_stable = 3;
  SetCounts(counts);
  EXPECT_TRUE(Freeze(*catalog, v1::FREEZE_STATE_OPEN).ok());
}

// ---------------------------------------------------------------------------
// The freeze across replicas
// ---------------------------------------------------------------------------

TEST_F(CatalogLogicTest,
       AFreezeSetOnOneReplicaHoldsAtAnotherWhoseCacheIsStale) {
  auto a = Replica();
  auto b = Replica();
  absl::StatusOr<v1::Product> product =
      Create(*a, kSourceSystem, Spec("MOB-S"));
  ASSERT_TRUE(product.ok()) << product.status();
  ASSERT_TRUE(b->ReloadNow().ok());
  EXPECT_TRUE(Check(*b, kSourceSystem, v1::CHANGE_KIND_UPDATE_PRICE,
                    product->product_id())
                  .allowed());
  ASSERT_TRUE(Freeze(*a, v1::FREEZE_STATE_FROZEN).ok());
  // B's cache still says OPEN...
  EXPECT_EQ(b->GetFreeze().freeze().state(), v1::FREEZE_STATE_OPEN);
  // ...but it answers from the control database.
  v1::CheckChangeResponse answer = Check(
      *b, kSourceSystem, v1::CHANGE_KIND_UPDATE_PRICE, product->product_id());
  EXPECT_FALSE(answer.allowed());
  EXPECT_EQ(answer.refusal(), v1::CHANGE_REFUSAL_CATALOG_FROZEN);
  EXPECT_EQ(answer.freeze().state(), v1::FREEZE_STATE_FROZEN);
  EXPECT_FALSE(Check(*b, kTargetSystem, v1::CHANGE_KIND_CREATE, 0).allowed());
  // And it has its poller catch up (it never polls by itself here).
  EXPECT_TRUE(Eventually([&] {
    return b->GetFreeze().freeze().state() == v1::FREEZE_STATE_FROZEN;
  }));
}

TEST_F(CatalogLogicTest, AReplicaPollsTheSharedStateByItsClock) {
  const absl::Time start = absl::FromUnixSeconds(2'000'000'000);
  SimulatedClock clock(start);  // outlives `b`, which waits on it
  auto a = Replica();
  CatalogOptions options;
  options.poll_interval = absl::Minutes(1);
  options.clock = &clock;
  auto b = Catalog::Create(
      &store_, &source_, &target_, [this] { return Counts(); }, nullptr,
      options);
  ASSERT_TRUE(b.ok()) << b.status();
  // B's poller waits a minute by the clock, which moves only when told to.
  ASSERT_TRUE(Eventually(
      [&] { return clock.EarliestWaiter() == start + absl::Minutes(1); }));
  ASSERT_TRUE(Freeze(*a, v1::FREEZE_STATE_FROZEN).ok());
  EXPECT_EQ((*b)->GetFreeze().freeze().state(), v1::FREEZE_STATE_OPEN);
  clock.Advance(absl::Minutes(1));
  EXPECT_TRUE(Eventually([&] {
    return (*b)->GetFreeze().freeze().state() == v1::FREEZE_STATE_FROZEN;
  }));
  // And the next poll is a minute later again.
  EXPECT_TRUE(Eventually(
      [&] { return clock.EarliestWaiter() == start + absl::Minutes(2); }));
}

TEST_F(CatalogLogicTest, AMappingSetOnOneReplicaFreezesItsTargetAtAnother) {
  auto a = Replica();
  auto b = Replica();
  ASSERT_TRUE(Freeze(*a, v1::FREEZE_STATE_FROZEN).ok());
  ASSERT_TRUE(Freeze(*a, v1::FREEZE_STATE_FROZEN_TARGET_OPEN).ok());
  absl::StatusOr<v1::Product> source = Create(*a, kSourceSystem, Spec("SRC"));
  EXPECT_EQ(source.status().code(), absl::StatusCode::kFailedPrecondition);
  const int64_t source_id = source_.Put(Spec("SRC"));
  ASSERT_TRUE(a->RefreshProducts(alice_, {}).ok());
  // New on the target after the switchover: free to change.
  absl::StatusOr<v1::Product> fresh = Create(*a, kTargetSystem, Spec("NEW"));
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  ASSERT_TRUE(b->ReloadNow().ok());
  EXPECT_TRUE(Check(*b, kTargetSystem, v1::CHANGE_KIND_UPDATE_PRICE,
                    fresh->product_id())
                  .allowed());
  // A maps a source product onto it: customers will move onto it.
  ASSERT_TRUE(Map(*a, source_id, fresh->product_id()).ok());
  v1::CheckChangeResponse answer = Check(
      *b, kTargetSystem, v1::CHANGE_KIND_UPDATE_PRICE, fresh->product_id());
  EXPECT_FALSE(answer.allowed());
  EXPECT_EQ(answer.refusal(), v1::CHANGE_REFUSAL_MAPPING_TARGET);
}

TEST_F(CatalogLogicTest, CheckChangeConfirmsAnAllowanceOrFailsUnavailable) {
  auto catalog = Replica();
  const int64_t probes = store_.probes();
  EXPECT_TRUE(
      Check(*catalog, kTargetSystem, v1::CHANGE_KIND_CREATE, 0).allowed());
  EXPECT_EQ(store_.probes(), probes + 1);
  store_.SetUnavailable(true);
  v1::CheckChangeRequest req;
  req.set_system(kTargetSystem);
  req.set_kind(v1::CHANGE_KIND_CREATE);
  EXPECT_EQ(catalog->CheckChange(alice_, req).status().code(),
            absl::StatusCode::kUnavailable);
  store_.SetUnavailable(false);
  ASSERT_TRUE(Freeze(*catalog, v1::FREEZE_STATE_FROZEN).ok());
  // A refusal needs no confirmation (and stands when it cannot be audited).
  store_.SetUnavailable(true);
  absl::StatusOr<v1::CheckChangeResponse> refused =
      catalog->CheckChange(alice_, req);
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_FALSE(refused->allowed());
}

// ---------------------------------------------------------------------------
// Product changes
// ---------------------------------------------------------------------------

TEST_F(CatalogLogicTest, ARetriedCreateAdoptsItsOwnProduct) {
  auto catalog = Replica();
  // A crash after the billing write, before the control commit, left the
  // product on the billing system, unknown to the catalog.
  const int64_t left = target_.Put(Spec("ORPHAN"));
  absl::StatusOr<v1::Product> created =
      Create(*catalog, kTargetSystem, Spec("ORPHAN"), "create-orphan");
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->product_id(), left);
  EXPECT_EQ(target_.CountCode("ORPHAN"), 1);
  EXPECT_EQ(CountAudit(v1::AUDIT_KIND_CHANGE_APPLIED), 1);
  // The same code with another spec is somebody else's product.
  target_.Put(Spec("TAKEN", 5000));
  absl::StatusOr<v1::Product> clash =
      Create(*catalog, kTargetSystem, Spec("TAKEN"));
  EXPECT_EQ(clash.status().code(), absl::StatusCode::kAlreadyExists);
  // A known product is never adopted twice.
  EXPECT_EQ(Create(*catalog, kTargetSystem, Spec("ORPHAN")).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(CatalogLogicTest, ProductCodesAreUniqueRegardlessOfCase) {
  auto catalog = Replica();
  ASSERT_TRUE(Create(*catalog, kSourceSystem, Spec("Mob-X")).ok());
  EXPECT_EQ(Create(*catalog, kSourceSystem, Spec("MOB-X")).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Create(*catalog, kSourceSystem, Spec("mob-x")).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(source_.CountCode("mob-x"), 1);
  v1::GetProductRequest get;
  get.set_system(kSourceSystem);
  get.set_code("MOB-x");
  absl::StatusOr<v1::GetProductResponse> found = catalog->GetProduct(get);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->product().spec().code(), "Mob-X");
}

TEST_F(CatalogLogicTest, ARetriedTransactionReturnsOnlyItsCommittedAttempt) {
  auto catalog = Replica();
  store_.AbortNextCommits(1);
  const int64_t attempts = store_.transaction_attempts();
  absl::StatusOr<v1::Product> created =
      Create(*catalog, kTargetSystem, Spec("RETRY"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(store_.transaction_attempts(), attempts + 2);
  // The first attempt's billing write was adopted by the second.
  EXPECT_EQ(target_.CountCode("RETRY"), 1);
  EXPECT_EQ(CountAudit(v1::AUDIT_KIND_CHANGE_APPLIED), 1);

  v1::UpdateProductRequest update;
  update.set_system(kTargetSystem);
  update.set_product_id(created->product_id());
  update.set_expected_version(1);
  *update.mutable_spec() = created->spec();
  update.mutable_spec()->mutable_pricing()->set_monthly_fee_micros(20'000'000);
  store_.AbortNextCommits(2);
  absl::StatusOr<v1::UpdateProductResponse> updated =
      catalog->UpdateProduct(alice_, update);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->product().version(), 2);
  EXPECT_EQ(CountAudit(v1::AUDIT_KIND_CHANGE_APPLIED), 2);

  const int64_t source_id = source_.Put(Spec("RETRY"));
  ASSERT_TRUE(catalog->RefreshProducts(alice_, {}).ok());
  store_.AbortNextCommits(1);
  absl::StatusOr<v1::SetMappingResponse> mapped =
      Map(*catalog, source_id, created->product_id());
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_EQ(mapped->mapping().version(), 1);
  EXPECT_EQ(CountAudit(v1::AUDIT_KIND_MAPPING_CHANGED), 1);
}

TEST_F(CatalogLogicTest, AChangeTheFreezeRefusesChangesNothingAndIsAudited) {
  auto catalog = Replica();
  absl::StatusOr<v1::Product> product =
      Create(*catalog, kSourceSystem, Spec("FROZEN-1"));
  ASSERT_TRUE(product.ok());
  ASSERT_TRUE(Freeze(*catalog, v1::FREEZE_STATE_FROZEN).ok());
  const int64_t revision = store_.revision();
  v1::UpdateProductRequest update;
  update.set_system(kSourceSystem);
  update.set_product_id(product->product_id());
  update.set_expected_version(1);
  update.set_request_id("refused-update");
  *update.mutable_spec() = product->spec();
  update.mutable_spec()->mutable_pricing()->set_monthly_fee_micros(1'000'000);
  absl::Status refused = catalog->UpdateProduct(alice_, update).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.message(), HasSubstr("existing products cannot change"));
  // Nothing changed: the billing system, the catalog's row, the revision.
  EXPECT_EQ(source_.Find(product->product_id())->pricing().monthly_fee_micros(),
            10'000'000);
  v1::GetProductRequest get;
  get.set_system(kSourceSystem);
  get.set_product_id(product->product_id());
  EXPECT_EQ(catalog->GetProduct(get)->product().version(), 1);
  EXPECT_EQ(store_.revision(), revision);
  ASSERT_EQ(CountAudit(v1::AUDIT_KIND_CHANGE_REFUSED), 1);
  EXPECT_EQ(store_.audit().back().request_id(), "refused-update");
  // The refusal was not recorded as the request's answer: the same request
  // id is refused again, and audited again.
  EXPECT_EQ(catalog->UpdateProduct(alice_, update).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CountAudit(v1::AUDIT_KIND_CHANGE_REFUSED), 2);
}

// ---------------------------------------------------------------------------
// Mappings and plans
// ---------------------------------------------------------------------------

TEST_F(CatalogLogicTest, MappingsAreCheckedVersionedAndFinalAfterTheLift) {
  auto catalog = Replica();
  auto s = Create(*catalog, kSourceSystem, Spec("S"));
  auto t = Create(*catalog, kTargetSystem, Spec("T", 500));
  auto addon = Create(*catalog, kTargetSystem,
                      Spec("T-ADD", 10, v1::PRODUCT_KIND_ADDON));
  ASSERT_TRUE(s.ok() && t.ok() && addon.ok());
  EXPECT_EQ(Map(*catalog, s->product_id(), addon->product_id()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Map(*catalog, s->product_id(), 999).status().code(),
            absl::StatusCode::kNotFound);
  absl::StatusOr<v1::SetMappingResponse> mapped =
      Map(*catalog, s->product_id(), t->product_id());
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_EQ(mapped->mapping().version(), 1);
  EXPECT_THAT(mapped->warnings(),
              ::testing::Contains(HasSubstr("data_mb limit lowered")));
  EXPECT_EQ(Map(*catalog, s->product_id(), t->product_id()).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Map(*catalog, s->product_id(), t->product_id(), 5).status().code(),
            absl::StatusCode::kAborted);
  ASSERT_TRUE(Freeze(*catalog, v1::FREEZE_STATE_FROZEN).ok());
  ASSERT_TRUE(Freeze(*catalog, v1::FREEZE_STATE_FROZEN_TARGET_OPEN).ok());
  ASSERT_TRUE(Freeze(*catalog, v1::FREEZE_STATE_LIFTED, /*force=*/true).ok());
  v1::DeleteMappingRequest del;
  del.set_source_product_id(s->product_id());
  del.set_expected_version(1);
  EXPECT_EQ(catalog->DeleteMapping(alice_, del).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CountAudit(v1::AUDIT_KIND_MAPPING_CHANGED), 1);
}

TEST_F(CatalogLogicTest, PlansRefuseOveruseUnlessItIsAllowed) {
  auto catalog = Replica();
  auto s = Create(*catalog, kSourceSystem, Spec("PLAN-S", 2000));
  auto t = Create(*catalog, kTargetSystem, Spec("PLAN-T", 1000));
  ASSERT_TRUE(s.ok() && t.ok());
  ASSERT_TRUE(Map(*catalog, s->product_id(), t->product_id()).ok());
  CustomerSubscriptions customer;
  customer.customer_id = 7;
  customer.status = "open";
  BillingSubscription sub;
  sub.subscription_id = 70;
  sub.account_row_id = 700;
  sub.account_id = "5550007";
  sub.product_id = s->product_id();
  sub.usage["data_mb"] = 1500;
  customer.subscriptions.push_back(sub);
  source_.AddCustomer(customer);
  v1::PlanCustomersRequest req;
  req.add_customer_ids(7);
  req.add_customer_ids(8);  // not on the source
  absl::StatusOr<v1::PlanCustomersResponse> plans = catalog->PlanCustomers(req);
  ASSERT_TRUE(plans.ok()) << plans.status();
  EXPECT_EQ(plans->customers_refused(), 1);
  EXPECT_EQ(plans->customers_failed(), 1);
  EXPECT_EQ(plans->results(1).error_code(), "NOT_FOUND");
  ASSERT_EQ(plans->results(0).plan().reasons_size(), 1);
  EXPECT_THAT(
      plans->results(0).plan().reasons(0),
      HasSubstr("resource overusage: data_mb (usage 1500, limit 1000)"));
  v1::UpdateSettingsRequest allow;
  allow.set_expected_version(1);
  allow.set_allow_overuse_default(true);
  allow.set_auto_lift(true);
  ASSERT_TRUE(catalog->UpdateSettings(alice_, allow).ok());
  plans = catalog->PlanCustomers(req);
  ASSERT_TRUE(plans.ok()) << plans.status();
  EXPECT_EQ(plans->customers_can_move(), 1);
  EXPECT_EQ(plans->results(0).plan().subscriptions(0).outcomes(0),
            v1::PLAN_OUTCOME_MOVES_WITH_OVERUSE);
}

}  // namespace
}  // namespace tandem::catalog
