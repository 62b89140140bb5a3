// The catalog rules, one test per scenario row of seed 001 (service template
// switching) and per contract-pool and bolt-on rule of seed 002.
#include "catalog/move_rules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tandem::catalog {
namespace {

namespace v1 = ::tandem::catalog::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr auto kSource = ::tandem::common::v1::SYSTEM_SOURCE;
constexpr auto kTarget = ::tandem::common::v1::SYSTEM_TARGET;
constexpr auto kMove = ::tandem::common::v1::DIRECTION_MOVE;

v1::ResourceType Type(const std::string& code, const std::string& cls,
                      int64_t limit) {
  v1::ResourceType t;
  t.set_code(code);
  t.set_resource_class(cls);
  t.set_unit("items");
  t.set_limit(limit);
  return t;
}

struct ProductBuilder {
  v1::Product p;
  ProductBuilder(::tandem::common::v1::System system, int64_t id,
                 const std::string& code) {
    p.set_system(system);
    p.set_product_id(id);
    p.mutable_spec()->set_code(code);
    p.mutable_spec()->set_name(code);
    p.mutable_spec()->set_kind(v1::PRODUCT_KIND_MAIN);
    p.mutable_spec()->set_contract_pool("business");
  }
  ProductBuilder& Add(v1::ResourceType t) {
    *p.mutable_spec()->add_resource_types() = std::move(t);
    return *this;
  }
  ProductBuilder& Param(const std::string& name, const std::string& value) {
    v1::ActivationParameter* a = p.mutable_spec()->add_activation_parameters();
    a->set_name(name);
    a->set_value(value);
    return *this;
  }
  ProductBuilder& Pool(const std::string& pool) {
    p.mutable_spec()->set_contract_pool(pool);
    return *this;
  }
  ProductBuilder& Addon() {
    p.mutable_spec()->set_kind(v1::PRODUCT_KIND_ADDON);
    return *this;
  }
  ProductBuilder& Offers(int64_t addon) {
    p.mutable_spec()->add_addon_product_ids(addon);
    return *this;
  }
};

v1::Mapping Map(int64_t from, int64_t to,
                v1::OverusePolicy policy = v1::OVERUSE_POLICY_INHERIT) {
  v1::Mapping m;
  m.set_source_product_id(from);
  m.set_target_product_id(to);
  m.set_overuse_policy(policy);
  m.set_version(1);
  return m;
}

BillingSubscription Sub(int64_t id, int64_t product,
                        std::map<std::string, int64_t> usage = {},
                        bool addon = false, int64_t account = 1) {
  BillingSubscription s;
  s.subscription_id = id;
  s.account_row_id = account;
  s.account_id = "5550001";
  s.product_id = product;
  s.is_addon = addon;
  s.usage = std::move(usage);
  return s;
}

// One customer with the given subscriptions, planned for a move.
v1::CustomerPlan Plan(const CatalogSnapshot& catalog,
                      std::vector<BillingSubscription> subs) {
  PlanInput input;
  input.direction = kMove;
  input.from.customer_id = 7;
  input.from.status = "open";
  input.from.subscriptions = std::move(subs);
  return PlanCustomer(catalog, input);
}

class MoveRulesTest : public ::testing::Test {
 protected:
  // The source template of the seed's scenarios: mailboxes and disk space.
  ProductBuilder Source() {
    return ProductBuilder(kSource, 1, "GOLD")
        .Add(Type("mailbox", "mail", 10))
        .Add(Type("disk_mb", "storage", 1000))
        .Param("server", "mx1");
  }
  CatalogSnapshot catalog_;
};

TEST_F(
    MoveRulesTest,
    Seed001AllTypesPresentSameParametersLimitsIncreasedNewTypeAddedMovesCleanly) {
  catalog_.AddProduct(Source().p);
  catalog_.AddProduct(ProductBuilder(kTarget, 11, "GOLD")
                          .Add(Type("mailbox", "mail", 20))
                          .Add(Type("disk_mb", "storage", 2000))
                          .Add(Type("webspace", "web", 5))
                          .Param("server", "mx1")
                          .p);
  catalog_.AddMapping(Map(1, 11));
  v1::CustomerPlan plan =
      Plan(catalog_, {Sub(100, 1, {{"mailbox", 9}, {"disk_mb", 900}})});
  ASSERT_EQ(plan.subscriptions_size(), 1);
  EXPECT_TRUE(plan.can_move());
  EXPECT_THAT(plan.subscriptions(0).outcomes(),
              ElementsAre(v1::PLAN_OUTCOME_MOVES_CLEANLY));
  EXPECT_THAT(plan.warnings(), IsEmpty());
  v1::ProductComparison c =
      CompareProducts(*catalog_.FindProduct(kSource, 1),
                      *catalog_.FindProduct(kTarget, 11), catalog_, kMove);
  EXPECT_TRUE(c.clean());
  EXPECT_THAT(c.added_resource_type_codes(), ElementsAre("webspace"));
}

TEST_F(MoveRulesTest,
       Seed001LimitBelowUsageWithOveruseAllowedMovesWithOveruse) {
  catalog_.AddProduct(Source().p);
  catalog_.AddProduct(ProductBuilder(kTarget, 11, "GOLD")
                          .Add(Type("mailbox", "mail", 5))
                          .Add(Type("disk_mb", "storage", 1000))
                          .Param("server", "mx1")
                          .p);
  catalog_.AddMapping(Map(1, 11, v1::OVERUSE_POLICY_ALLOW));
  v1::CustomerPlan plan = Plan(catalog_, {Sub(100, 1, {{"mailbox", 8}})});
  EXPECT_TRUE(plan.can_move());
  EXPECT_THAT(plan.subscriptions(0).outcomes(),
              ElementsAre(v1::PLAN_OUTCOME_MOVES_WITH_OVERUSE));
  EXPECT_EQ(plan.subscriptions(0).overuse_policy(), v1::OVERUSE_POLICY_ALLOW);
  ASSERT_EQ(plan.warnings_size(), 1);
  EXPECT_THAT(plan.warnings(0), HasSubstr("mailbox (usage 8, limit 5)"));
}

TEST_F(MoveRulesTest, Seed001LimitBelowUsageWithOveruseOffIsRefused) {
  catalog_.AddProduct(Source().p);
  catalog_.AddProduct(ProductBuilder(kTarget, 11, "GOLD")
                          .Add(Type("mailbox", "mail", 5))
                          .Add(Type("disk_mb", "storage", 1000))
                          .Param("server", "mx1")
                          .p);
  catalog_.AddMapping(Map(1, 11));  // INHERIT, default off
  v1::CustomerPlan plan = Plan(catalog_, {Sub(100, 1, {{"mailbox", 8}})});
  EXPECT_FALSE(plan.can_move());
  EXPECT_THAT(plan.subscriptions(0).outcomes(),
              ElementsAre(v1::PLAN_OUTCOME_REFUSED_OVERUSE));
  ASSERT_EQ(plan.reasons_size(), 1);
  EXPECT_EQ(plan.reasons(0),
            "subscription 100 (GOLD): resource overusage: mailbox (usage 8, "
            "limit 5)");
  // A customer under the lowered limit moves.
  EXPECT_TRUE(Plan(catalog_, {Sub(101, 1, {{"mailbox", 5}})}).can_move());
  // The global default turns it into an overuse.
  catalog_.set_allow_overuse_default(true);
  EXPECT_TRUE(Plan(catalog_, {Sub(100, 1, {{"mailbox", 8}})}).can_move());
}

TEST_F(MoveRulesTest,
       Seed001LimitSetToZeroUnprovisionsWhateverTheOverusePolicy) {
  catalog_.AddProduct(Source().p);
  catalog_.AddProduct(ProductBuilder(kTarget, 11, "GOLD")
                          .Add(Type("mailbox", "mail", 0))
                          .Add(Type("disk_mb", "storage", 1000))
                          .Param("server", "mx1")
                          .p);
  for (v1::OverusePolicy policy :
       {v1::OVERUSE_POLICY_ALLOW, v1::OVERUSE_POLICY_DENY}) {
    CatalogSnapshot catalog = catalog_;
    catalog.AddMapping(Map(1, 11, policy));
    v1::CustomerPlan plan = Plan(catalog, {Sub(100, 1, {{"mailbox", 3}})});
    EXPECT_TRUE(plan.can_move());
    EXPECT_THAT(plan.subscriptions(0).outcomes(),
                ElementsAre(v1::PLAN_OUTCOME_RESOURCE_UNPROVISIONED));
    ASSERT_EQ(plan.warnings_size(), 1);
    EXPECT_THAT(plan.warnings(0),
                HasSubstr("the objects in use (3 items) will be lost"));
    EXPECT_EQ(plan.subscriptions(0).resources(1).target_limit(), 0);
  }
}

TEST_F(MoveRulesTest, Seed001ResourceTypeMissingOnDestinationIsLost) {
  catalog_.AddProduct(Source().p);
  catalog_.AddProduct(ProductBuilder(kTarget, 11, "GOLD")
                          .Add(Type("disk_mb", "storage", 1000))
                          .Param("server", "mx1")
                          .p);
  catalog_.AddMapping(Map(1, 11));
  v1::CustomerPlan plan = Plan(catalog_, {Sub(100, 1, {{"mailbox", 4}})});
  EXPECT_TRUE(plan.can_move());
  EXPECT_THAT(plan.subscriptions(0).outcomes(),
              ElementsAre(v1::PLAN_OUTCOME_RESOURCE_UNPROVISIONED));
  EXPECT_THAT(plan.warnings(0),
              HasSubstr("resource type mailbox missing on target product "
                        "GOLD: the objects in use (4 items) will be lost"));
  const v1::ResourcePlan& mailbox = plan.subscriptions(0).resources(1);
  EXPECT_EQ(mailbox.source_resource_type(), "mailbox");
  EXPECT_EQ(mailbox.target_resource_type(), "");
  EXPECT_EQ(mailbox.usage(), 4);
}

TEST_F(MoveRulesTest, Seed001MissingTypeTakenOverByTypeOfSameClass) {
  catalog_.AddProduct(Source().p);
  catalog_.AddProduct(ProductBuilder(kTarget, 11, "GOLD")
                          .Add(Type("mailbox_pro", "mail", 50))
                          .Add(Type("disk_mb", "storage", 1000))
                          .Param("server", "mx1")
                          .p);
  catalog_.AddMapping(Map(1, 11));
  v1::CustomerPlan plan = Plan(catalog_, {Sub(100, 1, {{"mailbox", 4}})});
  EXPECT_TRUE(plan.can_move());
  EXPECT_THAT(plan.subscriptions(0).outcomes(),
              ElementsAre(v1::PLAN_OUTCOME_RESOURCE_TAKEN_OVER));
  const v1::ResourcePlan& mailbox = plan.subscriptions(0).resources(1);
  EXPECT_EQ(mailbox.target_resource_type(), "mailbox_pro");
  EXPECT_EQ(mailbox.target_limit(), 50);
  EXPECT_THAT(plan.warnings(0),
              HasSubstr("resource mailbox taken over by mailbox_pro (class "
                        "mail)"));
}

TEST_F(MoveRulesTest, UsageOfTypesLandingOnOneTypeAddsUp) {
  catalog_.AddProduct(ProductBuilder(kSource, 1, "FIX")
                          .Add(Type("sip_channels", "voice", 10))
                          .Add(Type("voice_channels", "voice", 10))
                          .p);
  catalog_.AddProduct(ProductBuilder(kTarget, 11, "FIX")
                          .Add(Type("voice_channels", "voice", 12))
                          .p);
  catalog_.AddMapping(Map(1, 11));
  // sip_channels lands on voice_channels too: 6 + 6 fits in 12, 8 + 8 not.
  EXPECT_TRUE(Plan(catalog_,
                   {Sub(100, 1, {{"sip_channels", 6}, {"voice_channels", 6}})})
                  .can_move());
  v1::CustomerPlan plan = Plan(
      catalog_, {Sub(100, 1, {{"sip_channels", 8}, {"voice_channels", 8}})});
  EXPECT_FALSE(plan.can_move());
  ASSERT_EQ(plan.reasons_size(), 1);
  EXPECT_THAT(plan.reasons(0),
              HasSubstr("resource overusage: voice_channels (usage 16, limit "
                        "12)"));
}

TEST_F(MoveRulesTest, Seed001ActivationParametersDifferAreRewritten) {
  catalog_.AddProduct(Source().p);
  catalog_.AddProduct(ProductBuilder(kTarget, 11, "GOLD")
                          .Add(Type("mailbox", "mail", 10))
                          .Add(Type("disk_mb", "storage", 1000))
                          .Param("server", "mx2")
                          .Param("tls", "on")
                          .p);
  catalog_.AddMapping(Map(1, 11));
  v1::CustomerPlan plan = Plan(catalog_, {Sub(100, 1)});
  EXPECT_TRUE(plan.can_move());
  EXPECT_THAT(plan.subscriptions(0).outcomes(),
              ElementsAre(v1::PLAN_OUTCOME_ACTIVATION_PARAMETERS_REWRITTEN));
  ASSERT_EQ(plan.subscriptions(0).parameter_changes_size(), 2);
  const v1::ParameterChange& server =
      plan.subscriptions(0).parameter_changes(0);
  EXPECT_EQ(server.name(), "server");
  EXPECT_EQ(server.old_value(), "mx1");
  EXPECT_EQ(server.new_value(), "mx2");
  EXPECT_TRUE(plan.subscriptions(0).parameter_changes(1).added());
  EXPECT_THAT(plan.warnings(0),
              HasSubstr("activation parameters rewritten: server mx1 -> mx2, "
                        "tls (none) -> on"));
}

TEST_F(MoveRulesTest, Seed002DifferentContractPoolIsRefused) {
  catalog_.AddProduct(Source().p);
  catalog_.AddProduct(ProductBuilder(kTarget, 11, "GOLD")
                          .Add(Type("mailbox", "mail", 10))
                          .Add(Type("disk_mb", "storage", 1000))
                          .Param("server", "mx1")
                          .Pool("retail")
                          .p);
  catalog_.AddMapping(Map(1, 11));
  v1::CustomerPlan plan = Plan(catalog_, {Sub(100, 1)});
  EXPECT_FALSE(plan.can_move());
  EXPECT_THAT(plan.subscriptions(0).outcomes(),
              ElementsAre(v1::PLAN_OUTCOME_REFUSED_CONTRACT_POOL));
  EXPECT_THAT(plan.reasons(0),
              HasSubstr("contract pool differs (business vs retail)"));
}

TEST_F(MoveRulesTest, Seed002SameContractPoolMoves) {
  catalog_.AddProduct(Source().p);
  ProductBuilder target(kTarget, 11, "GOLD");
  target.p = Source().p;
  target.p.set_system(kTarget);
  target.p.set_product_id(11);
  catalog_.AddProduct(target.p);
  catalog_.AddMapping(Map(1, 11));
  EXPECT_TRUE(Plan(catalog_, {Sub(100, 1)}).can_move());
}

TEST_F(MoveRulesTest, Seed002BoltOnsWithoutMappingOrOfferAreNotCarried) {
  catalog_.AddProduct(Source().Offers(2).Offers(3).Offers(4).p);
  catalog_.AddProduct(ProductBuilder(kSource, 2, "ADD-SMS").Addon().p);
  catalog_.AddProduct(ProductBuilder(kSource, 3, "ADD-ROAM").Addon().p);
  catalog_.AddProduct(ProductBuilder(kSource, 4, "ADD-TV").Addon().p);
  catalog_.AddProduct(ProductBuilder(kTarget, 12, "ADD-SMS").Addon().p);
  catalog_.AddProduct(ProductBuilder(kTarget, 13, "ADD-ROAM").Addon().p);
  ProductBuilder target(kTarget, 11, "GOLD");
  target.p = Source().p;
  target.p.set_system(kTarget);
  target.p.set_product_id(11);
  target.Offers(13);  // ADD-ROAM only
  catalog_.AddProduct(target.p);
  catalog_.AddMapping(Map(1, 11));
  catalog_.AddMapping(Map(2, 12));
  catalog_.AddMapping(Map(3, 13));
  // ADD-TV (4) has no mapping.
  v1::CustomerPlan plan =
      Plan(catalog_, {Sub(100, 1), Sub(101, 2, {}, true), Sub(102, 3, {}, true),
                      Sub(103, 4, {}, true)});
  ASSERT_EQ(plan.subscriptions_size(), 1);
  EXPECT_TRUE(plan.can_move());  // a warning, not a refusal
  const v1::SubscriptionPlan& gold = plan.subscriptions(0);
  EXPECT_THAT(gold.outcomes(),
              ElementsAre(v1::PLAN_OUTCOME_ADDONS_NOT_CARRIED));
  ASSERT_EQ(gold.addons_size(), 3);
  EXPECT_FALSE(gold.addons(0).carried());
  EXPECT_EQ(gold.addons(0).reason(), "not an add-on of target product GOLD");
  EXPECT_TRUE(gold.addons(1).carried());
  EXPECT_EQ(gold.addons(1).target_addon().product_id(), 13);
  EXPECT_FALSE(gold.addons(2).carried());
  EXPECT_EQ(gold.addons(2).reason(), "no mapping");
  EXPECT_EQ(plan.warnings_size(), 2);
  v1::ProductComparison c =
      CompareProducts(*catalog_.FindProduct(kSource, 1),
                      *catalog_.FindProduct(kTarget, 11), catalog_, kMove);
  EXPECT_FALSE(c.clean());
  EXPECT_THAT(c.addons_not_carried_product_ids(), ElementsAre(2, 4));
}

TEST_F(MoveRulesTest, NoMappingIsRefused) {
  catalog_.AddProduct(Source().p);
  v1::CustomerPlan plan = Plan(catalog_, {Sub(100, 1)});
  EXPECT_FALSE(plan.can_move());
  EXPECT_THAT(plan.subscriptions(0).outcomes(),
              ElementsAre(v1::PLAN_OUTCOME_REFUSED_NO_MAPPING));
  EXPECT_EQ(plan.reasons(0),
            "subscription 100 (GOLD): product GOLD has no mapping");
}

TEST_F(MoveRulesTest, MappingOntoAVanishedTargetIsRefused) {
  catalog_.AddProduct(Source().p);
  catalog_.AddMapping(Map(1, 99));
  v1::CustomerPlan plan = Plan(catalog_, {Sub(100, 1)});
  EXPECT_THAT(plan.subscriptions(0).outcomes(),
              ElementsAre(v1::PLAN_OUTCOME_REFUSED_NO_MAPPING));
}

TEST_F(MoveRulesTest, UnknownProductIsRefused) {
  v1::CustomerPlan plan = Plan(catalog_, {Sub(100, 42)});
  EXPECT_FALSE(plan.can_move());
  EXPECT_THAT(plan.subscriptions(0).outcomes(),
              ElementsAre(v1::PLAN_OUTCOME_REFUSED_UNKNOWN_PRODUCT));
}

TEST_F(MoveRulesTest, CustomerWithoutSubscriptionsCanMove) {
  v1::CustomerPlan plan = Plan(catalog_, {});
  EXPECT_TRUE(plan.can_move());
  EXPECT_EQ(plan.subscriptions_size(), 0);
}

TEST_F(MoveRulesTest, OneRefusedSubscriptionRefusesTheCustomer) {
  catalog_.AddProduct(Source().p);
  catalog_.AddProduct(ProductBuilder(kSource, 5, "SILVER").p);
  ProductBuilder target(kTarget, 11, "GOLD");
  target.p = Source().p;
  target.p.set_system(kTarget);
  target.p.set_product_id(11);
  catalog_.AddProduct(target.p);
  catalog_.AddMapping(Map(1, 11));
  v1::CustomerPlan plan =
      Plan(catalog_, {Sub(100, 1, {}, false, 1), Sub(200, 5, {}, false, 2)});
  EXPECT_FALSE(plan.can_move());
  EXPECT_TRUE(plan.subscriptions(0).can_move());
  EXPECT_FALSE(plan.subscriptions(1).can_move());
}

TEST_F(MoveRulesTest, RollbackGoesBackToTheProductKeptOnTheSource) {
  catalog_.AddProduct(Source().p);
  catalog_.AddProduct(ProductBuilder(kSource, 2, "GOLD-OLD").p);
  ProductBuilder target(kTarget, 11, "GOLD");
  target.p = Source().p;
  target.p.set_system(kTarget);
  target.p.set_product_id(11);
  catalog_.AddProduct(target.p);
  catalog_.AddMapping(Map(1, 11));
  catalog_.AddMapping(Map(2, 11));
  PlanInput input;
  input.direction = ::tandem::common::v1::DIRECTION_ROLLBACK;
  input.from.customer_id = 7;
  input.from.subscriptions = {Sub(100, 11), Sub(300, 11, {}, false, 2)};
  CustomerSubscriptions kept;
  kept.customer_id = 7;
  kept.status = "exported";
  kept.subscriptions = {Sub(100, 1)};
  input.kept_on_source = &kept;
  v1::CustomerPlan plan = PlanCustomer(catalog_, input);
  ASSERT_EQ(plan.subscriptions_size(), 2);
  EXPECT_EQ(plan.direction(), ::tandem::common::v1::DIRECTION_ROLLBACK);
  EXPECT_TRUE(plan.subscriptions(0).can_move());
  EXPECT_EQ(plan.subscriptions(0).target_product().product_id(), 1);
  EXPECT_EQ(plan.subscriptions(0).target_product().system(), kSource);
  // Made on the target since: two source products map onto GOLD.
  EXPECT_THAT(plan.subscriptions(1).outcomes(),
              ElementsAre(v1::PLAN_OUTCOME_REFUSED_NO_MAPPING));
  EXPECT_THAT(plan.reasons(0), HasSubstr("no single source product to go back "
                                         "to (2 mapped onto GOLD)"));
}

}  // namespace
}  // namespace tandem::catalog
