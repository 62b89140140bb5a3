// The reference v1 -> v2 conversion (the tests' ground truth): resource
// types correspond by code or else class and unit (sip_channels ->
// voice_channels, not voice_minutes), products by code or else name (BB-250
// -> FIBER-250), an unknown status is an error, and the catalog's plan
// (PlanCustomer) drives products, add-ons and dropped usage - by hand and
// from a real catalog service.
#include <grpcpp/create_channel.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/auth.h"
#include "gtest/gtest.h"
#include "tandem/catalog/v1/catalog.grpc.pb.h"
#include "testbed/datagen/catalog.h"
#include "testbed/reference/conversion_plan.h"
#include "testbed/reference/v1_to_v2.h"
#include "tests/testbed/services_fixture.h"
#include "tests/testbed/testbed_fixture.h"

namespace tandem::testbed {
namespace {

namespace cv1 = ::tandem::catalog::v1;

CatalogView ViewOf(const CatalogDef& def) {
  CatalogView v;
  std::map<int, std::string> classes;
  for (const auto& c : def.classes) classes[c.id] = c.name;
  for (const auto& t : def.types) {
    v.types[t.code] = {t.code, classes[t.class_id], t.unit};
  }
  for (const auto& p : def.products) {
    CatalogView::Product& out = v.products[p.id];
    out.id = p.id;
    out.code = p.code;
    out.name = p.name;
    for (const auto& l : p.limits) out.limits[l.type_code] = l.limit;
    for (const auto& a : p.addon_codes) {
      out.addon_ids.push_back(def.FindProduct(a)->id);
    }
  }
  return v;
}

// The correspondence table of MAPPING.md ("Resource types").
TEST(ConversionPlanTest, ResourceTypesCorrespondAsMappingMdSays) {
  const CatalogView v1 = ViewOf(DemoCatalog(SchemaVersion::kV1));
  const CatalogView v2 = ViewOf(DemoCatalog(SchemaVersion::kV2));
  const std::map<std::string, std::string> table = {
      {"voice_minutes", "voice_minutes"},
      {"sip_channels", "voice_channels"},
      {"data_mb", "data_mb"},
      {"sms", "sms"},
      {"static_ips", "static_ips"},
      {"mailboxes", ""}};
  for (const auto& [from, to] : table) {
    EXPECT_EQ(CorrespondingType(v1, v2, from), to) << from;
  }
  EXPECT_EQ(v1.types.size(), table.size()) << "every v1 type is in the table";
}

TEST(ConversionPlanTest, ProductsCorrespondByCodeThenName) {
  const CatalogView v1 = ViewOf(DemoCatalog(SchemaVersion::kV1));
  const CatalogView v2 = ViewOf(DemoCatalog(SchemaVersion::kV2));
  EXPECT_EQ(CorrespondingProduct(v1, v2, 1), 5015);   // MOB-S by code
  EXPECT_EQ(CorrespondingProduct(v1, v2, 17), 5101);  // BB-250 -> FIBER-250
  EXPECT_EQ(CorrespondingProduct(v1, v2, 16), 0);     // FIX-ISDN: none
}

TEST(ConversionPlanTest, DefaultPlanDropsUnprovisionedUsageAndAddOns) {
  const CatalogView v1 = ViewOf(DemoCatalog(SchemaVersion::kV1));
  const CatalogView v2 = ViewOf(DemoCatalog(SchemaVersion::kV2));
  // IOT-10 (sms limit 0 on v2); MOB-BIZ with ADD-SMS (not offered on v2)
  // and ADD-ROAM (offered); FIX-PRO (mailboxes missing on v2).
  ConversionPlan plan = DefaultPlan(v1, v2,
                                    {{1, "+1", 11, false},
                                     {2, "+2", 4, false},
                                     {3, "+2", 14, true},
                                     {4, "+2", 12, true},
                                     {5, "+3", 6, false}},
                                    {11, 4, 6});
  EXPECT_EQ(plan.resources[1]["sms"], "");
  EXPECT_EQ(plan.resources[1]["data_mb"], "data_mb");
  EXPECT_EQ(plan.resources[5]["sip_channels"], "voice_channels");
  EXPECT_EQ(plan.resources[5]["mailboxes"], "");
  EXPECT_FALSE(plan.addon_product.count({"+2", 14}));
  EXPECT_EQ((plan.addon_product[{"+2", 12}]), 5004);
}

class ReferenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestbedOptions o;
    o.datagen.seed = 17;
    o.datagen.customers = 60;
    o.datagen.accounts = 400;
    o.datagen.xdrs = 400;
    o.datagen.password_iterations = 10;
    auto tb = StartTestbed(o);
    ASSERT_TRUE(tb.ok()) << tb.status();
    tb_ = *std::move(tb);
  }

  std::vector<std::string> V1(const std::string& sql) {
    auto rows = tb_->source_server().Query(sql, Testbed::kSourceDb);
    EXPECT_TRUE(rows.ok()) << rows.status() << sql;
    return rows.ok() ? *rows : std::vector<std::string>();
  }
  std::vector<std::string> V2(const std::string& sql) {
    auto rows = tb_->target_server().Query(sql, Testbed::kTargetDb);
    EXPECT_TRUE(rows.ok()) << rows.status() << sql;
    return rows.ok() ? *rows : std::vector<std::string>();
  }

  // A customer with an account on `code` and only products with a v2
  // counterpart; 0 if none.
  int64_t CustomerWith(const std::string& code) {
    auto rows = V1(absl::StrCat(
        "SELECT a.i_customer FROM accounts a JOIN products p ON p.i_product "
        "= a.i_product GROUP BY a.i_customer HAVING SUM(p.code = '",
        code, "') > 0 AND SUM(p.code = 'FIX-ISDN') = 0 ORDER BY 1 LIMIT 1"));
    return rows.empty() ? 0 : std::stoll(rows[0]);
  }

  std::unique_ptr<Testbed> tb_;
};

TEST_F(ReferenceTest, SipChannelsLandOnVoiceChannelsNotVoiceMinutes) {
  const int64_t c = CustomerWith("FIX-BASIC");
  ASSERT_GT(c, 0);
  ASSERT_TRUE(V1(absl::StrCat("UPDATE subscription_usage u JOIN "
                              "subscriptions s USING (i_subscription) SET "
                              "u.used_amount = 2 WHERE s.i_customer = ",
                              c, " AND u.i_resource_type = 2"))
                  .empty());
  ASSERT_TRUE(CopyCustomerV1ToV2(tb_->v1(), tb_->v2(), c).ok());
  // Per subscription: v1 voice_minutes and sip_channels usage ...
  auto v1 = V1(absl::StrCat(
      "SELECT u.i_subscription, SUM(IF(t.code = 'voice_minutes', "
      "u.used_amount, 0)), SUM(IF(t.code = 'sip_channels', u.used_amount, "
      "0)) FROM subscription_usage u JOIN subscriptions s USING "
      "(i_subscription) JOIN resource_types t USING (i_resource_type) WHERE "
      "s.i_customer = ",
      c,
      " AND t.code IN ('voice_minutes', 'sip_channels') GROUP BY 1 "
      "ORDER BY 1"));
  // ... equal v2's voice_minutes and voice_channels: not added together.
  auto v2 = V2(absl::StrCat(
      "SELECT u.subscription_id, SUM(IF(t.type_code = 'voice_minutes', "
      "u.used_quantity, 0)), SUM(IF(t.type_code = 'voice_channels', "
      "u.used_quantity, 0)) FROM subscription_usage u JOIN subscriptions s "
      "USING (subscription_id) JOIN resource_types t USING "
      "(resource_type_id) WHERE s.customer_id = ",
      c,
      " AND t.type_code IN ('voice_minutes', 'voice_channels') GROUP BY 1 "
      "ORDER BY 1"));
  EXPECT_EQ(v1, v2);
  bool sip = false;
  for (const std::string& row : v1) sip |= !absl::EndsWith(row, "\t0");
  EXPECT_TRUE(sip) << "the customer has sip_channels usage";
}

TEST_F(ReferenceTest, ARenamedProductGoesThroughTheMapping) {
  const int64_t c = CustomerWith("BB-250");
  ASSERT_GT(c, 0);
  ASSERT_TRUE(CopyCustomerV1ToV2(tb_->v1(), tb_->v2(), c).ok());
  auto rows = V2(absl::StrCat(
      "SELECT COUNT(*) FROM accounts a JOIN products p USING (product_id) "
      "WHERE a.customer_id = ",
      c, " AND p.product_code = 'FIBER-250'"));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_NE(rows[0], "0");
  const int64_t legacy = [&] {
    auto r =
        V1("SELECT a.i_customer FROM accounts a JOIN products p USING "
           "(i_product) WHERE p.code = 'FIX-ISDN' ORDER BY 1 LIMIT 1");
    return r.empty() ? int64_t{0} : std::stoll(r[0]);
  }();
  ASSERT_GT(legacy, 0);
  absl::Status s = CopyCustomerV1ToV2(tb_->v1(), tb_->v2(), legacy);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(s.message(), "FIX-ISDN")) << s;
}

TEST_F(ReferenceTest, AnUnknownStatusIsAConversionErrorNotZero) {
  const int64_t c = CustomerWith("MOB-S");
  ASSERT_GT(c, 0);
  V1(absl::StrCat("UPDATE accounts SET status = 'frozen' WHERE i_customer = ",
                  c, " ORDER BY i_account LIMIT 1"));
  absl::Status s = CopyCustomerV1ToV2(tb_->v1(), tb_->v2(), c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "unknown account status 'frozen'"))
      << s;
  EXPECT_EQ(V2(absl::StrCat("SELECT COUNT(*) FROM customers WHERE "
                            "customer_id = ",
                            c)),
            std::vector<std::string>{"0"})
      << "nothing written";
}

TEST_F(ReferenceTest, AHandMadePlanDecidesProductsAddOnsAndDroppedUsage) {
  // A MOB-S subscription with usage; the plan moves it to MOB-5G, drops its
  // data_mb usage and does not carry one of its add-ons.
  auto rows =
      V1("SELECT s.i_customer, s.i_subscription, a.id FROM subscriptions s "
         "JOIN accounts a USING (i_account) JOIN products p ON p.i_product = "
         "s.i_product WHERE p.code = 'MOB-S' AND s.is_addon = 0 ORDER BY 1 "
         "LIMIT 1");
  ASSERT_EQ(rows.size(), 1u);
  std::vector<std::string> f = absl::StrSplit(rows[0], '\t');
  const int64_t c = std::stoll(f[0]);
  const int64_t sub = std::stoll(f[1]);
  // Give the account an add-on the plan will not carry.
  V1(
      absl::StrCat("INSERT INTO subscriptions (i_customer, i_account, "
                   "i_product, is_addon, status, start_date) SELECT "
                   "i_customer, i_account, 12, 1, 'active', start_date FROM "
                   "subscriptions WHERE i_subscription = ",
                   sub));
  // Every subscription of the customer needs its plan entry to go through
  // the catalog's decisions; take the default plan's answer for the others.
  cv1::CustomerPlan plan;
  plan.set_customer_id(c);
  plan.set_direction(::tandem::common::v1::DIRECTION_MOVE);
  plan.set_can_move(true);
  cv1::SubscriptionPlan* s = plan.add_subscriptions();
  s->set_subscription_id(sub);
  s->set_account_id(f[2]);
  s->mutable_source_product()->set_product_id(1);     // MOB-S
  s->mutable_target_product()->set_product_id(5100);  // MOB-5G
  for (const char* type : {"voice_minutes", "data_mb", "sms"}) {
    cv1::ResourcePlan* r = s->add_resources();
    r->set_source_resource_type(type);
    r->set_target_resource_type(std::string(type) == "data_mb" ? "" : type);
  }
  cv1::AddonPlan* addon = s->add_addons();
  addon->mutable_source_addon()->set_product_id(12);  // ADD-ROAM
  addon->set_carried(false);
  absl::Status copied = CopyCustomerV1ToV2(tb_->v1(), tb_->v2(), plan);
  ASSERT_TRUE(copied.ok()) << copied;
  EXPECT_EQ(V2(absl::StrCat("SELECT product_id FROM subscriptions WHERE "
                            "subscription_id = ",
                            sub)),
            std::vector<std::string>{"5100"});
  EXPECT_EQ(V2(absl::StrCat("SELECT COUNT(*) FROM subscription_usage u JOIN "
                            "resource_types t USING (resource_type_id) WHERE "
                            "u.subscription_id = ",
                            sub, " AND t.type_code = 'data_mb'")),
            std::vector<std::string>{"0"});
  EXPECT_EQ(V2(absl::StrCat("SELECT COUNT(*) FROM subscriptions s JOIN "
                            "accounts a USING (account_id) WHERE "
                            "a.phone_number = '",
                            f[2],
                            "' AND s.is_addon = 1 AND s.product_id = "
                            "5004")),
            std::vector<std::string>{"0"})
      << "ADD-ROAM not carried";
  // A plan that refuses the customer stops the copy.
  plan.set_can_move(false);
  plan.add_reasons("resource overusage: data_mb");
  absl::Status refused = CopyCustomerV1ToV2(tb_->v1(), tb_->v2(), plan);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(refused.message(), "overusage")) << refused;
}

TEST_F(ReferenceTest, TheRealCatalogsPlanDrivesTheCopy) {
  constexpr char kTokens[] = "ops operator operator-token-0123456789\n";
  auto router = StartRouter(*tb_, kTokens);
  ASSERT_TRUE(router.ok()) << router.status();
  auto catalog = StartCatalog(*tb_, (*router)->port(), kTokens,
                              "operator-token-0123456789");
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  auto stub = cv1::CatalogService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*catalog)->port()),
                          grpc::InsecureChannelCredentials()));
  auto ctx = [] {
    auto context = std::make_unique<grpc::ClientContext>();
    AttachBearerToken(*context, "operator-token-0123456789");
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(30));
    return context;
  };
  // The operator accepts the proposals (by code, then by name).
  cv1::ProposeMappingsResponse proposals;
  ASSERT_TRUE(stub->ProposeMappings(ctx().get(), {}, &proposals).ok());
  for (const cv1::MappingProposal& p : proposals.proposals()) {
    cv1::SetMappingRequest set;
    set.set_source_product_id(p.source_product_id());
    set.set_target_product_id(p.target_product_id());
    set.set_origin(cv1::MAPPING_ORIGIN_PROPOSED);
    set.set_reason("accept");
    cv1::SetMappingResponse mapped;
    ASSERT_TRUE(stub->SetMapping(ctx().get(), set, &mapped).ok());
  }
  // Customers over a lowered limit move too (overuse allowed).
  cv1::GetSettingsResponse current;
  ASSERT_TRUE(stub->GetSettings(ctx().get(), {}, &current).ok());
  cv1::UpdateSettingsRequest settings;
  settings.set_allow_overuse_default(true);
  settings.set_auto_lift(current.settings().auto_lift());
  settings.set_expected_version(current.settings().version());
  settings.set_reason("test");
  settings.set_request_id("allow-overuse");
  cv1::UpdateSettingsResponse updated;
  grpc::Status set = stub->UpdateSettings(ctx().get(), settings, &updated);
  ASSERT_TRUE(set.ok()) << set.error_message();
  for (const char* code : {"BB-250", "IOT-10"}) {
    const int64_t c = CustomerWith(code);
    ASSERT_GT(c, 0) << code;
    cv1::PlanCustomerRequest req;
    req.set_customer_id(c);
    cv1::PlanCustomerResponse planned;
    grpc::Status s = stub->PlanCustomer(ctx().get(), req, &planned);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_TRUE(planned.plan().can_move())
        << code << ": " << planned.plan().DebugString();
    absl::Status copied =
        CopyCustomerV1ToV2(tb_->v1(), tb_->v2(), planned.plan());
    ASSERT_TRUE(copied.ok()) << code << ": " << copied;
  }
  // IOT-10's sms is unprovisioned on v2 (limit 0): no sms usage moved.
  EXPECT_EQ(V2("SELECT COUNT(*) FROM subscription_usage u JOIN "
               "subscriptions s USING (subscription_id) JOIN products p "
               "USING (product_id) JOIN resource_types t USING "
               "(resource_type_id) WHERE p.product_code = 'IOT-10' AND "
               "t.type_code = 'sms'"),
            std::vector<std::string>{"0"});
  EXPECT_NE(V2("SELECT COUNT(*) FROM accounts JOIN products USING "
               "(product_id) WHERE product_code = 'FIBER-250'"),
            std::vector<std::string>{"0"});
  (*catalog)->Shutdown(absl::Seconds(1));
  (*router)->Shutdown(absl::Seconds(1));
}

}  // namespace
}  // namespace tandem::testbed
