// MysqlBillingCatalog against a real throwaway MariaDB holding both testbed
// schemas (billing_v1, billing_v2), their demo catalogs
// (testbed/datagen/catalog.h), customers generated into v1 and two of them
// copied to v2 with the reference transform. Every parameterised test runs
// the same body against both schema versions; facts checked come from the
// demo catalog and testbed/MAPPING.md's "Catalog differences" table.
//
// One database server is shared by the tests of a process; tests that change
// it use their own product codes or restore what they changed, so they pass
// in any order, alone (as ctest runs them) or together.
#include "catalog/mysql_billing_catalog.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testbed/base/schema.h"
#include "testbed/datagen/catalog.h"
#include "testbed/reference/v1_to_v2.h"
#include "tests/testbed/testbed_fixture.h"

namespace tandem::catalog {
namespace {

using ::tandem::catalog::v1::ActivationParameter;
using ::tandem::catalog::v1::ProductKind;
using ::tandem::catalog::v1::ProductSpec;
using ::tandem::catalog::v1::ResourceType;
using ::tandem::common::v1::System;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// ---------------------------------------------------------------------------
// The shared database
// ---------------------------------------------------------------------------

struct SharedDb {
  testbed::TestbedDb db;
  // Two generated customers with at least three subscriptions, one of them
  // an add-on, copied to v2 as well.
  int64_t customer = 0;
  int64_t other_customer = 0;
};

SharedDb* shared_db = nullptr;

absl::Status StartSharedDb() {
  testbed::DatagenOptions o;
  o.seed = 5;
  o.customers = 30;
  o.accounts = 150;
  o.xdrs = 300;
  o.password_iterations = 100;
  absl::StatusOr<testbed::TestbedDb> db = testbed::StartTestbedDb(o);
  if (!db.ok()) {
    return db.status();
  }
  auto shared = std::make_unique<SharedDb>();
  shared->db = *std::move(db);
  absl::StatusOr<std::vector<std::string>> rows = shared->db.server->Query(
      "SELECT i_customer FROM subscriptions GROUP BY i_customer "
      "HAVING COUNT(*) >= 3 AND SUM(is_addon) >= 1 ORDER BY i_customer "
      "LIMIT 2",
      "billing_v1");
  if (!rows.ok()) {
    return rows.status();
  }
  if (rows->size() != 2 || !absl::SimpleAtoi((*rows)[0], &shared->customer) ||
      !absl::SimpleAtoi((*rows)[1], &shared->other_customer)) {
    return absl::InternalError("the generated data has no suitable customers");
  }
  for (int64_t c : {shared->customer, shared->other_customer}) {
    if (absl::Status s =
            testbed::CopyCustomerV1ToV2(*shared->db.v1, *shared->db.v2, c);
        !s.ok()) {
      return s;
    }
  }
  shared_db = shared.release();
  return absl::OkStatus();
}

// Starts the shared database on first use (from the test's main thread, as
// MariaDbServer requires) and stops it after the last test.
class SharedDbEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    delete shared_db;
    shared_db = nullptr;
  }
};
[[maybe_unused]] ::testing::Environment* const kSharedDbEnvironment =
    ::testing::AddGlobalTestEnvironment(new SharedDbEnvironment);

// ---------------------------------------------------------------------------
// The two versions
// ---------------------------------------------------------------------------

struct VersionCase {
  std::string name;
  BillingSchemaVersion version;
  testbed::SchemaVersion testbed_version;
  System system;
  std::string database;
  // Column names and status encodings for the tests' own SQL.
  std::vector<std::pair<std::string, std::string>> names;
  // MAPPING.md, "Catalog differences".
  int64_t mob_s_id;
  int64_t mob_s_data_mb;
  int64_t iot_10_sms;
  std::string fix_channels_type;
  bool fix_pro_has_mailboxes;
  std::string bb_1000_profile;
  std::vector<std::string> mob_biz_addons;
  bool has_mob_5g;
  // A product id that exists only on the other system.
  int64_t other_system_addon_id;
  // Resource types only the other system knows.
  std::vector<std::string> other_system_types;
};

// Names the case in test output (ctest shows GetParam() in test names).
void PrintTo(const VersionCase& c, std::ostream* os) { *os << c.name; }

VersionCase V1Case() {
  return {"v1",
          BillingSchemaVersion::kV1,
          testbed::SchemaVersion::kV1,
          System::SYSTEM_SOURCE,
          "billing_v1",
          {{"{product_id}", "i_product"},
           {"{fee}", "monthly_fee"},
           {"{changed_at}", "last_changed"},
           {"{customer_id}", "i_customer"},
           {"{account_id}", "i_account"},
           {"{subscription_id}", "i_subscription"},
           {"{start}", "start_date"},
           {"{type_id}", "i_resource_type"},
           {"{type_code}", "code"},
           {"{used}", "used_amount"},
           {"{addon_id}", "i_addon"},
           {"{closed}", "'closed'"},
           {"{pending}", "'pending'"}},
          1,
          2000,
          50,
          "sip_channels",
          true,
          "gpon-1g",
          {"ADD-INTL", "ADD-ROAM", "ADD-SMS"},
          false,
          5004,  // ADD-ROAM on v2
          {"voice_channels"}};
}

VersionCase V2Case() {
  return {"v2",
          BillingSchemaVersion::kV2,
          testbed::SchemaVersion::kV2,
          System::SYSTEM_TARGET,
          "billing_v2",
          {{"{product_id}", "product_id"},
           {"{fee}", "monthly_fee_micros"},
           {"{changed_at}", "updated_at"},
           {"{customer_id}", "customer_id"},
           {"{account_id}", "account_id"},
           {"{subscription_id}", "subscription_id"},
           {"{start}", "activated_on"},
           {"{type_id}", "resource_type_id"},
           {"{type_code}", "type_code"},
           {"{used}", "used_quantity"},
           {"{addon_id}", "addon_product_id"},
           {"{closed}", "3"},
           {"{pending}", "2"}},
          5015,
          1500,
          0,
          "voice_channels",
          false,
          "xgs-1g",
          {"ADD-INTL", "ADD-ROAM"},
          true,
          12,  // ADD-ROAM on v1
          {"sip_channels", "mailboxes"}};
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const BillingProduct* FindByCode(const std::vector<BillingProduct>& products,
                                 const std::string& code) {
  for (const BillingProduct& p : products) {
    if (p.spec.code() == code) {
      return &p;
    }
  }
  return nullptr;
}

const BillingProduct* FindById(const std::vector<BillingProduct>& products,
                               int64_t id) {
  for (const BillingProduct& p : products) {
    if (p.product_id == id) {
      return &p;
    }
  }
  return nullptr;
}

std::map<std::string, int64_t> Limits(const ProductSpec& spec) {
  std::map<std::string, int64_t> out;
  for (const ResourceType& t : spec.resource_types()) {
    out[t.code()] = t.limit();
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> Params(
    const ProductSpec& spec) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const ActivationParameter& p : spec.activation_parameters()) {
    out.emplace_back(p.name(), p.value());
  }
  return out;
}

// The demo catalog's JSON object of strings as sorted pairs.
std::vector<std::pair<std::string, std::string>> ParamsOfJson(
    const std::string& json) {
  google::protobuf::Struct object;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &object).ok())
      << json;
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, value] : object.fields()) {
    out.emplace_back(name, value.string_value());
  }
  std::sort(out.begin(), out.end());
  return out;
}

ProductSpec Spec(const std::string& code,
                 ProductKind kind = ProductKind::PRODUCT_KIND_MAIN) {
  ProductSpec spec;
  spec.set_code(code);
  spec.set_name(absl::StrCat("Test product ", code));
  spec.set_category("test");
  spec.set_kind(kind);
  spec.set_contract_pool("test-pool");
  spec.mutable_pricing()->set_currency("EUR");
  spec.mutable_pricing()->set_monthly_fee_micros(5 * 1000000);
  return spec;
}

void AddType(ProductSpec& spec, const std::string& code, int64_t limit) {
  ResourceType* t = spec.add_resource_types();
  t->set_code(code);
  t->set_limit(limit);
}

void AddParam(ProductSpec& spec, const std::string& name,
              const std::string& value) {
  ActivationParameter* p = spec.add_activation_parameters();
  p->set_name(name);
  p->set_value(value);
}

class MysqlBillingCatalogTest : public ::testing::TestWithParam<VersionCase> {
 protected:
  void SetUp() override {
    if (shared_db == nullptr) {
      absl::Status started = StartSharedDb();
      ASSERT_TRUE(started.ok()) << started;
    }
    catalog_ = std::make_unique<MysqlBillingCatalog>(pool(), GetParam().version,
                                                     GetParam().system);
  }

  MysqlPool* pool() const {
    return GetParam().version == BillingSchemaVersion::kV1
               ? shared_db->db.v1.get()
               : shared_db->db.v2.get();
  }

  // The test's own SQL with the version's column names filled in.
  std::string Sql(absl::string_view query) const {
    return absl::StrReplaceAll(query, GetParam().names);
  }

  // Runs a query in this version's database; the rows, columns joined by
  // tabs.
  std::vector<std::string> Query(absl::string_view query) const {
    absl::StatusOr<std::vector<std::string>> rows =
        shared_db->db.server->Query(Sql(query), GetParam().database);
    EXPECT_TRUE(rows.ok()) << rows.status() << "\n" << Sql(query);
    return rows.ok() ? *rows : std::vector<std::string>();
  }

  std::string QueryOne(absl::string_view query) const {
    std::vector<std::string> rows = Query(query);
    EXPECT_EQ(rows.size(), 1u) << Sql(query);
    return rows.empty() ? "" : rows[0];
  }

  void Execute(absl::string_view query) const {
    absl::Status s =
        shared_db->db.server->Execute(Sql(query), GetParam().database);
    ASSERT_TRUE(s.ok()) << s << "\n" << Sql(query);
  }

  std::vector<BillingProduct> Products() const {
    absl::StatusOr<std::vector<BillingProduct>> products =
        catalog_->ReadProducts();
    EXPECT_TRUE(products.ok()) << products.status();
    return products.ok() ? *std::move(products) : std::vector<BillingProduct>();
  }

  // The product `id` as read now; an empty one (and a failure) if missing.
  BillingProduct Read(int64_t id) const {
    const std::vector<BillingProduct> products = Products();
    const BillingProduct* p = FindById(products, id);
    EXPECT_NE(p, nullptr) << id;
    return p == nullptr ? BillingProduct() : *p;
  }

  int64_t IdOf(const std::string& code) const {
    const std::vector<BillingProduct> products = Products();
    const BillingProduct* p = FindByCode(products, code);
    EXPECT_NE(p, nullptr) << code;
    return p == nullptr ? 0 : p->product_id;
  }

  bool v1() const { return GetParam().version == BillingSchemaVersion::kV1; }

  std::unique_ptr<MysqlBillingCatalog> catalog_;
};

// ---------------------------------------------------------------------------
// Reading the catalog
// ---------------------------------------------------------------------------

TEST_P(MysqlBillingCatalogTest, ReadsTheDemoCatalogAsDefined) {
  const testbed::CatalogDef& def =
      testbed::DemoCatalog(GetParam().testbed_version);
  std::vector<BillingProduct> products = Products();
  EXPECT_EQ(catalog_->system(), GetParam().system);
  ASSERT_GE(products.size(), def.products.size());
  for (size_t i = 1; i < products.size(); ++i) {
    EXPECT_LT(products[i - 1].product_id, products[i].product_id);
  }
  for (const testbed::ProductDef& want : def.products) {
    SCOPED_TRACE(want.code);
    const BillingProduct* got = FindByCode(products, want.code);
    ASSERT_NE(got, nullptr);
    EXPECT_EQ(got->product_id, want.id);
    EXPECT_EQ(got->spec.name(), want.name);
    EXPECT_EQ(got->spec.category(), want.category);
    EXPECT_EQ(got->spec.contract_pool(), want.contract_pool);
    EXPECT_EQ(got->spec.kind(), want.is_addon ? ProductKind::PRODUCT_KIND_ADDON
                                              : ProductKind::PRODUCT_KIND_MAIN);
    EXPECT_EQ(got->spec.pricing().monthly_fee_micros(),
              want.monthly_fee_micros);
    EXPECT_EQ(got->spec.pricing().currency(), want.currency);
    EXPECT_EQ(Params(got->spec), ParamsOfJson(want.activation_params));

    std::map<std::string, int64_t> want_limits;
    for (const testbed::ResourceLimitDef& l : want.limits) {
      want_limits[l.type_code] = l.limit;
    }
    EXPECT_EQ(Limits(got->spec), want_limits);
    for (int i = 0; i < got->spec.resource_types_size(); ++i) {
      const ResourceType& t = got->spec.resource_types(i);
      if (i > 0) {
        EXPECT_LT(got->spec.resource_types(i - 1).code(), t.code());
      }
      const testbed::ResourceTypeDef* type = def.FindType(t.code());
      ASSERT_NE(type, nullptr) << t.code();
      EXPECT_EQ(t.name(), type->name);
      EXPECT_EQ(t.unit(), type->unit);
      std::string class_name;
      for (const testbed::ResourceClassDef& c : def.classes) {
        if (c.id == type->class_id) {
          class_name = c.name;
        }
      }
      EXPECT_EQ(t.resource_class(), class_name);
    }

    std::vector<int64_t> want_addons;
    for (const std::string& code : want.addon_codes) {
      want_addons.push_back(def.FindProduct(code)->id);
    }
    std::sort(want_addons.begin(), want_addons.end());
    EXPECT_EQ(std::vector<int64_t>(got->spec.addon_product_ids().begin(),
                                   got->spec.addon_product_ids().end()),
              want_addons);
  }
}

TEST_P(MysqlBillingCatalogTest, ShowsTheCatalogDifferencesOfMappingMd) {
  const VersionCase& c = GetParam();
  std::vector<BillingProduct> products = Products();

  const BillingProduct* mob_s = FindByCode(products, "MOB-S");
  ASSERT_NE(mob_s, nullptr);
  EXPECT_EQ(mob_s->product_id, c.mob_s_id);
  EXPECT_EQ(Limits(mob_s->spec)["data_mb"], c.mob_s_data_mb);
  EXPECT_EQ(mob_s->spec.pricing().monthly_fee_micros(), 9000000);

  const BillingProduct* iot_10 = FindByCode(products, "IOT-10");
  ASSERT_NE(iot_10, nullptr);
  ASSERT_EQ(Limits(iot_10->spec).count("sms"), 1u);
  EXPECT_EQ(Limits(iot_10->spec)["sms"], c.iot_10_sms);

  const BillingProduct* fix_basic = FindByCode(products, "FIX-BASIC");
  ASSERT_NE(fix_basic, nullptr);
  EXPECT_THAT(
      Limits(fix_basic->spec),
      ElementsAre(Pair(c.fix_channels_type, 2), Pair("voice_minutes", 1000)));
  for (const ResourceType& t : fix_basic->spec.resource_types()) {
    EXPECT_EQ(t.resource_class(), "voice") << t.code();
  }

  const BillingProduct* fix_pro = FindByCode(products, "FIX-PRO");
  ASSERT_NE(fix_pro, nullptr);
  std::map<std::string, int64_t> fix_pro_limits = Limits(fix_pro->spec);
  EXPECT_EQ(fix_pro_limits.count("mailboxes"), c.fix_pro_has_mailboxes);
  EXPECT_EQ(fix_pro_limits[c.fix_channels_type], 10);
  if (c.fix_pro_has_mailboxes) {
    const ResourceType& mailboxes = fix_pro->spec.resource_types(0);
    EXPECT_EQ(mailboxes.code(), "mailboxes");
    EXPECT_EQ(mailboxes.resource_class(), "storage");
    EXPECT_EQ(mailboxes.unit(), "mailbox");
    EXPECT_EQ(mailboxes.limit(), 5);
  }

  const BillingProduct* bb_1000 = FindByCode(products, "BB-1000");
  ASSERT_NE(bb_1000, nullptr);
  EXPECT_THAT(
      Params(bb_1000->spec),
      ElementsAre(Pair("profile", c.bb_1000_profile), Pair("vlan", "100")));
  EXPECT_EQ(bb_1000->spec.pricing().monthly_fee_micros(), 59990000);

  const BillingProduct* mob_biz = FindByCode(products, "MOB-BIZ");
  ASSERT_NE(mob_biz, nullptr);
  std::vector<std::string> addon_codes;
  for (int64_t id : mob_biz->spec.addon_product_ids()) {
    const BillingProduct* addon = FindById(products, id);
    ASSERT_NE(addon, nullptr) << id;
    EXPECT_EQ(addon->spec.kind(), ProductKind::PRODUCT_KIND_ADDON);
    addon_codes.push_back(addon->spec.code());
  }
  std::sort(addon_codes.begin(), addon_codes.end());
  EXPECT_EQ(addon_codes, c.mob_biz_addons);

  const BillingProduct* mob_5g = FindByCode(products, "MOB-5G");
  EXPECT_EQ(mob_5g != nullptr, c.has_mob_5g);
  if (mob_5g != nullptr) {
    EXPECT_EQ(mob_5g->product_id, 5100);
  }
}

TEST_P(MysqlBillingCatalogTest, ReadsResourceTypesInCodeOrder) {
  const testbed::CatalogDef& def =
      testbed::DemoCatalog(GetParam().testbed_version);
  absl::StatusOr<std::vector<ResourceType>> types =
      catalog_->ReadResourceTypes();
  ASSERT_TRUE(types.ok()) << types.status();
  ASSERT_EQ(types->size(), def.types.size());
  for (size_t i = 0; i < types->size(); ++i) {
    const ResourceType& t = (*types)[i];
    SCOPED_TRACE(t.code());
    if (i > 0) {
      EXPECT_LT((*types)[i - 1].code(), t.code());
    }
    const testbed::ResourceTypeDef* want = def.FindType(t.code());
    ASSERT_NE(want, nullptr);
    EXPECT_EQ(t.name(), want->name);
    EXPECT_EQ(t.unit(), want->unit);
    EXPECT_EQ(t.resource_class(), def.classes[want->class_id - 1].name);
    EXPECT_EQ(t.limit(), 0);
  }
  for (const std::string& code : GetParam().other_system_types) {
    for (const ResourceType& t : *types) {
      EXPECT_NE(t.code(), code);
    }
  }
}

TEST_P(MysqlBillingCatalogTest, CountsSubscriptionsThatAreNotClosed) {
  std::vector<BillingProduct> products = Products();
  int64_t subscriptions = 0;
  for (const BillingProduct& p : products) {
    subscriptions += p.subscription_count;
    EXPECT_LE(p.customer_count, p.subscription_count) << p.spec.code();
    EXPECT_EQ(p.customer_count == 0, p.subscription_count == 0)
        << p.spec.code();
  }
  EXPECT_EQ(absl::StrCat(subscriptions),
            QueryOne("SELECT COUNT(*) FROM subscriptions WHERE status <> "
                     "{closed}"));
  EXPECT_GT(subscriptions, 0);
  // Per product, against the customers' own subscription lists.
  std::map<int64_t, int64_t> per_product;
  std::map<int64_t, std::set<int64_t>> customers_per_product;
  for (const std::string& row :
       Query("SELECT {product_id}, {customer_id} FROM subscriptions WHERE "
             "status <> {closed}")) {
    std::vector<std::string> cols = absl::StrSplit(row, '\t');
    int64_t product = std::stoll(cols[0]);
    ++per_product[product];
    customers_per_product[product].insert(std::stoll(cols[1]));
  }
  for (const BillingProduct& p : products) {
    EXPECT_EQ(p.subscription_count, per_product[p.product_id]) << p.spec.code();
    EXPECT_EQ(p.customer_count,
              static_cast<int64_t>(customers_per_product[p.product_id].size()))
        << p.spec.code();
  }
}

TEST_P(MysqlBillingCatalogTest, ClosedSubscriptionsAreNeitherCountedNorRead) {
  const int64_t customer = shared_db->other_customer;
  absl::StatusOr<CustomerSubscriptions> before =
      catalog_->ReadCustomer(customer);
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_FALSE(before->subscriptions.empty());
  const BillingSubscription closing = before->subscriptions.front();
  const BillingProduct before_product =
      *FindById(Products(), closing.product_id);

  const std::string where =
      absl::StrCat(" WHERE {subscription_id} = ", closing.subscription_id);
  const std::string status =
      QueryOne("SELECT QUOTE(status) FROM subscriptions" + where);
  Execute("UPDATE subscriptions SET status = {closed}" + where);
  absl::StatusOr<CustomerSubscriptions> after =
      catalog_->ReadCustomer(customer);
  const std::vector<BillingProduct> products_after = Products();
  Execute("UPDATE subscriptions SET status = " + status + where);  // restore

  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_EQ(after->subscriptions.size(), before->subscriptions.size() - 1);
  for (const BillingSubscription& s : after->subscriptions) {
    EXPECT_NE(s.subscription_id, closing.subscription_id);
  }
  const BillingProduct* after_product =
      FindById(products_after, closing.product_id);
  ASSERT_NE(after_product, nullptr);
  EXPECT_EQ(after_product->subscription_count,
            before_product.subscription_count - 1);
}

// ---------------------------------------------------------------------------
// Writing products
// ---------------------------------------------------------------------------

TEST_P(MysqlBillingCatalogTest, CreateUpdateDeleteRoundTrip) {
  const int64_t roam = IdOf("ADD-ROAM");
  const int64_t intl = IdOf("ADD-INTL");
  ProductSpec spec = Spec("TEST-RT");
  spec.set_name("Round trip");
  spec.mutable_pricing()->set_monthly_fee_micros(12345670);
  AddType(spec, "sms", 5);
  AddType(spec, "data_mb", 100);
  AddParam(spec, "zeta", "1");
  AddParam(spec, "apn", "test");
  spec.add_addon_product_ids(intl);
  spec.add_addon_product_ids(roam);
  spec.add_addon_product_ids(roam);  // repeats count once

  absl::StatusOr<int64_t> id = catalog_->CreateProduct(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_GT(*id, 0);
  std::vector<BillingProduct> products = Products();
  const BillingProduct* created = FindById(products, *id);
  ASSERT_NE(created, nullptr);
  EXPECT_EQ(created->spec.code(), "TEST-RT");
  EXPECT_EQ(created->spec.name(), "Round trip");
  EXPECT_EQ(created->spec.category(), "test");
  EXPECT_EQ(created->spec.contract_pool(), "test-pool");
  EXPECT_EQ(created->spec.kind(), ProductKind::PRODUCT_KIND_MAIN);
  EXPECT_EQ(created->spec.pricing().currency(), "EUR");
  EXPECT_EQ(created->spec.pricing().monthly_fee_micros(), 12345670);
  ASSERT_EQ(created->spec.resource_types_size(), 2);
  const ResourceType& data = created->spec.resource_types(0);
  EXPECT_EQ(data.code(), "data_mb");
  EXPECT_EQ(data.name(), "Data volume");
  EXPECT_EQ(data.resource_class(), "data");
  EXPECT_EQ(data.unit(), "MB");
  EXPECT_EQ(data.limit(), 100);
  const ResourceType& sms = created->spec.resource_types(1);
  EXPECT_EQ(sms.code(), "sms");
  EXPECT_EQ(sms.resource_class(), "messaging");
  EXPECT_EQ(sms.limit(), 5);
  EXPECT_THAT(Params(created->spec),
              ElementsAre(Pair("apn", "test"), Pair("zeta", "1")));
  EXPECT_THAT(created->spec.addon_product_ids(),
              ElementsAre(std::min(roam, intl), std::max(roam, intl)));
  EXPECT_EQ(created->subscription_count, 0);
  EXPECT_EQ(created->customer_count, 0);
  // Written just now, not with the demo catalog's old timestamps.
  EXPECT_EQ(QueryOne(absl::StrCat(
                "SELECT {changed_at} > NOW(3) - INTERVAL 1 MINUTE FROM "
                "products WHERE {product_id} = ",
                *id)),
            "1");

  ProductSpec changed = Spec("TEST-RT2");
  changed.set_name("Round trip, changed");
  changed.mutable_pricing()->set_currency("USD");
  changed.mutable_pricing()->set_monthly_fee_micros(1000000);
  changed.set_contract_pool("");
  AddType(changed, "voice_minutes", 60);
  changed.add_addon_product_ids(intl);
  // Make the update visible in the timestamp column too.
  Execute(
      absl::StrCat("UPDATE products SET {changed_at} = '2020-01-01' "
                   "WHERE {product_id} = ",
                   *id));
  ASSERT_TRUE(catalog_->UpdateProduct(*id, changed).ok());
  products = Products();
  const BillingProduct* updated = FindById(products, *id);
  ASSERT_NE(updated, nullptr);
  EXPECT_EQ(updated->spec.code(), "TEST-RT2");
  EXPECT_EQ(updated->spec.name(), "Round trip, changed");
  EXPECT_EQ(updated->spec.contract_pool(), "");
  EXPECT_EQ(updated->spec.pricing().currency(), "USD");
  EXPECT_EQ(updated->spec.pricing().monthly_fee_micros(), 1000000);
  EXPECT_THAT(Limits(updated->spec), ElementsAre(Pair("voice_minutes", 60)));
  EXPECT_TRUE(updated->spec.activation_parameters().empty());
  EXPECT_THAT(updated->spec.addon_product_ids(), ElementsAre(intl));
  EXPECT_EQ(FindByCode(products, "TEST-RT"), nullptr);
  EXPECT_EQ(QueryOne(absl::StrCat(
                "SELECT {changed_at} > NOW(3) - INTERVAL 1 MINUTE, "
                "activation_params FROM products WHERE {product_id} = ",
                *id)),
            "1\t{}");

  ASSERT_TRUE(catalog_->DeleteProduct(*id).ok());
  EXPECT_EQ(FindById(Products(), *id), nullptr);
  EXPECT_EQ(QueryOne(absl::StrCat(
                "SELECT (SELECT COUNT(*) FROM product_resources WHERE "
                "{product_id} = ",
                *id,
                ") + (SELECT COUNT(*) FROM product_addons WHERE "
                "{product_id} = ",
                *id, ")")),
            "0");
}

TEST_P(MysqlBillingCatalogTest, DeletingAnAddonRemovesItFromAddonLists) {
  absl::StatusOr<int64_t> addon = catalog_->CreateProduct(
      Spec("TEST-ADDON", ProductKind::PRODUCT_KIND_ADDON));
  ASSERT_TRUE(addon.ok()) << addon.status();
  ProductSpec main = Spec("TEST-WITH-ADDON");
  main.add_addon_product_ids(*addon);
  main.add_addon_product_ids(IdOf("ADD-ROAM"));
  absl::StatusOr<int64_t> id = catalog_->CreateProduct(main);
  ASSERT_TRUE(id.ok()) << id.status();

  ASSERT_TRUE(catalog_->DeleteProduct(*addon).ok());
  std::vector<BillingProduct> products = Products();
  const BillingProduct* left = FindById(products, *id);
  ASSERT_NE(left, nullptr);
  EXPECT_THAT(left->spec.addon_product_ids(), ElementsAre(IdOf("ADD-ROAM")));
  EXPECT_EQ(FindById(products, *addon), nullptr);
  ASSERT_TRUE(catalog_->DeleteProduct(*id).ok());
}

TEST_P(MysqlBillingCatalogTest, MoneyIsExact) {
  ProductSpec spec = Spec("TEST-MONEY");
  spec.mutable_pricing()->set_monthly_fee_micros(12345670);  // 12.34567
  absl::StatusOr<int64_t> id = catalog_->CreateProduct(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  const std::string fee_sql =
      absl::StrCat("SELECT {fee} FROM products WHERE {product_id} = ", *id);
  EXPECT_EQ(QueryOne(fee_sql), v1() ? "12.34567" : "12345670");
  EXPECT_EQ(Read(*id).spec.pricing().monthly_fee_micros(), 12345670);

  // The largest fee v1 holds, written behind the catalog's back: no double
  // on the way would keep all 13 digits.
  Execute(absl::StrCat("UPDATE products SET {fee} = ",
                       v1() ? "'99999999.99999'" : "99999999999990",
                       " WHERE {product_id} = ", *id));
  EXPECT_EQ(Read(*id).spec.pricing().monthly_fee_micros(), 99999999999990);
  spec.mutable_pricing()->set_monthly_fee_micros(99999999999990);
  ASSERT_TRUE(catalog_->UpdateProduct(*id, spec).ok());
  EXPECT_EQ(QueryOne(fee_sql), v1() ? "99999999.99999" : "99999999999990");

  // v1 keeps five decimal places; v2 any micro.
  spec.mutable_pricing()->set_monthly_fee_micros(12345671);
  absl::Status odd = catalog_->UpdateProduct(*id, spec);
  if (v1()) {
    EXPECT_EQ(odd.code(), absl::StatusCode::kInvalidArgument) << odd;
    EXPECT_EQ(QueryOne(fee_sql), "99999999.99999");
  } else {
    EXPECT_TRUE(odd.ok()) << odd;
    EXPECT_EQ(QueryOne(fee_sql), "12345671");
  }
  spec.mutable_pricing()->set_monthly_fee_micros(100000000000000);  // 10^8
  absl::Status large = catalog_->UpdateProduct(*id, spec);
  if (v1()) {
    EXPECT_EQ(large.code(), absl::StatusCode::kInvalidArgument) << large;
  } else {
    EXPECT_TRUE(large.ok()) << large;
  }
  ASSERT_TRUE(catalog_->DeleteProduct(*id).ok());
}

TEST_P(MysqlBillingCatalogTest, ActivationParametersSurviveJsonEscaping) {
  ProductSpec spec = Spec("TEST-JSON");
  // Given out of order; read back sorted by name.
  AddParam(spec, "quote", "say \"hi\"");
  AddParam(spec, "backslash", "C:\\path\\");
  AddParam(spec, "unicode", "Gr\u00fc\u00dfe \u2713 \U0001F600");
  AddParam(spec, "control", "line1\nline2\ttab\x01");
  AddParam(spec, "name \"with\" quotes", "v");
  AddParam(spec, "empty", "");
  absl::StatusOr<int64_t> id = catalog_->CreateProduct(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(QueryOne(absl::StrCat(
                "SELECT JSON_VALID(activation_params), "
                "JSON_LENGTH(activation_params), "
                "JSON_VALUE(activation_params, '$.quote') FROM products "
                "WHERE {product_id} = ",
                *id)),
            "1\t6\tsay \"hi\"");
  EXPECT_THAT(
      Params(Read(*id).spec),
      ElementsAre(Pair("backslash", "C:\\path\\"),
                  Pair("control", "line1\nline2\ttab\x01"), Pair("empty", ""),
                  Pair("name \"with\" quotes", "v"),
                  Pair("quote", "say \"hi\""),
                  Pair("unicode", "Gr\u00fc\u00dfe \u2713 \U0001F600")));

  // Values that are not strings, written behind the catalog's back, read as
  // their JSON text.
  Execute(absl::StrCat(
      "UPDATE products SET activation_params = "
      "'{\"n\": 5, \"b\": true, \"s\": \"x\"}' WHERE {product_id} = ",
      *id));
  EXPECT_THAT(Params(Read(*id).spec),
              ElementsAre(Pair("b", "true"), Pair("n", "5"), Pair("s", "x")));
  ASSERT_TRUE(catalog_->DeleteProduct(*id).ok());
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

TEST_P(MysqlBillingCatalogTest, TakenCodeIsAlreadyExists) {
  absl::StatusOr<int64_t> dup = catalog_->CreateProduct(Spec("MOB-S"));
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists)
      << dup.status();
  EXPECT_THAT(dup.status().message(), HasSubstr("MOB-S"));

  ProductSpec spec = Spec("TEST-DUP");
  AddType(spec, "sms", 7);
  absl::StatusOr<int64_t> id = catalog_->CreateProduct(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  ProductSpec renamed = spec;
  renamed.set_code("MOB-L");
  renamed.clear_resource_types();
  absl::Status update = catalog_->UpdateProduct(*id, renamed);
  EXPECT_EQ(update.code(), absl::StatusCode::kAlreadyExists) << update;
  // Nothing of the failed update stayed.
  const BillingProduct kept = Read(*id);
  EXPECT_EQ(kept.spec.code(), "TEST-DUP");
  EXPECT_THAT(Limits(kept.spec), ElementsAre(Pair("sms", 7)));
  // Updating a product to its own code is not a clash.
  EXPECT_TRUE(catalog_->UpdateProduct(*id, spec).ok());
  ASSERT_TRUE(catalog_->DeleteProduct(*id).ok());
}

TEST_P(MysqlBillingCatalogTest, UnknownResourceTypeIsInvalidArgument) {
  const size_t before = Products().size();
  ProductSpec spec = Spec("TEST-TYPES");
  AddType(spec, "data_mb", 1);
  AddType(spec, "no_such_type", 1);
  absl::StatusOr<int64_t> id = catalog_->CreateProduct(spec);
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument)
      << id.status();
  EXPECT_THAT(id.status().message(), HasSubstr("no_such_type"));

  // Codes match exactly, not by the column's case-insensitive collation.
  ProductSpec upper = Spec("TEST-TYPES");
  AddType(upper, "DATA_MB", 1);
  EXPECT_EQ(catalog_->CreateProduct(upper).status().code(),
            absl::StatusCode::kInvalidArgument);

  // Types only the other system knows (MAPPING.md: sip_channels and
  // mailboxes are gone on v2, voice_channels is new).
  for (const std::string& code : GetParam().other_system_types) {
    ProductSpec other = Spec("TEST-TYPES");
    AddType(other, code, 1);
    absl::StatusOr<int64_t> other_id = catalog_->CreateProduct(other);
    EXPECT_EQ(other_id.status().code(), absl::StatusCode::kInvalidArgument)
        << code;
    EXPECT_THAT(other_id.status().message(), HasSubstr(code));
  }
  EXPECT_EQ(Products().size(), before);

  // On update too, leaving the product as it was.
  ProductSpec good = Spec("TEST-TYPES");
  AddType(good, "sms", 3);
  absl::StatusOr<int64_t> good_id = catalog_->CreateProduct(good);
  ASSERT_TRUE(good_id.ok()) << good_id.status();
  absl::Status update = catalog_->UpdateProduct(*good_id, spec);
  EXPECT_EQ(update.code(), absl::StatusCode::kInvalidArgument) << update;
  EXPECT_THAT(Limits(Read(*good_id).spec), ElementsAre(Pair("sms", 3)));
  ASSERT_TRUE(catalog_->DeleteProduct(*good_id).ok());
}

TEST_P(MysqlBillingCatalogTest, AddonThatIsNotAnAddonIsInvalidArgument) {
  const size_t before = Products().size();
  const int64_t main_product = IdOf("MOB-M");
  for (int64_t addon :
       {main_product, int64_t{999999}, GetParam().other_system_addon_id}) {
    ProductSpec spec = Spec("TEST-ADDONS");
    spec.add_addon_product_ids(IdOf("ADD-ROAM"));
    spec.add_addon_product_ids(addon);
    absl::StatusOr<int64_t> id = catalog_->CreateProduct(spec);
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument)
        << addon << ": " << id.status();
    EXPECT_THAT(id.status().message(), HasSubstr(absl::StrCat(addon)));
  }
  // An add-on cannot carry add-ons.
  ProductSpec addon_spec = Spec("TEST-ADDONS", ProductKind::PRODUCT_KIND_ADDON);
  addon_spec.add_addon_product_ids(IdOf("ADD-ROAM"));
  EXPECT_EQ(catalog_->CreateProduct(addon_spec).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Products().size(), before);

  // Nor can an update add one, or change the product's kind.
  ProductSpec spec = Spec("TEST-ADDONS");
  absl::StatusOr<int64_t> id = catalog_->CreateProduct(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  ProductSpec bad = spec;
  bad.add_addon_product_ids(main_product);
  EXPECT_EQ(catalog_->UpdateProduct(*id, bad).code(),
            absl::StatusCode::kInvalidArgument);
  ProductSpec now_addon = spec;
  now_addon.set_kind(ProductKind::PRODUCT_KIND_ADDON);
  EXPECT_EQ(catalog_->UpdateProduct(*id, now_addon).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Read(*id).spec.addon_product_ids().empty());
  ASSERT_TRUE(catalog_->DeleteProduct(*id).ok());
}

TEST_P(MysqlBillingCatalogTest,
       DeleteWithOpenSubscriptionsIsFailedPrecondition) {
  // A demo product the generated (or copied) customers subscribe to.
  absl::StatusOr<CustomerSubscriptions> customer =
      catalog_->ReadCustomer(shared_db->customer);
  ASSERT_TRUE(customer.ok()) << customer.status();
  ASSERT_FALSE(customer->subscriptions.empty());
  const int64_t used = customer->subscriptions.front().product_id;
  absl::Status refused = catalog_->DeleteProduct(used);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_FALSE(Read(used).spec.resource_types().empty());

  // A pending subscription blocks the delete; once closed it does not.
  absl::StatusOr<int64_t> id = catalog_->CreateProduct(Spec("TEST-SUBS"));
  ASSERT_TRUE(id.ok()) << id.status();
  Execute(absl::StrCat(
      "INSERT INTO subscriptions ({customer_id}, {account_id}, {product_id}, "
      "is_addon, status, {start}) VALUES (999999, 999999, ",
      *id, ", 0, {pending}, '2024-01-01')"));
  refused = catalog_->DeleteProduct(*id);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_THAT(refused.message(), HasSubstr("1 subscription"));
  Execute(absl::StrCat(
      "UPDATE subscriptions SET status = {closed} WHERE {product_id} = ", *id));
  EXPECT_TRUE(catalog_->DeleteProduct(*id).ok());
  Execute(absl::StrCat("DELETE FROM subscriptions WHERE {product_id} = ", *id));
}

TEST_P(MysqlBillingCatalogTest, UnknownProductIsNotFound) {
  absl::Status update = catalog_->UpdateProduct(999999, Spec("TEST-NONE"));
  EXPECT_EQ(update.code(), absl::StatusCode::kNotFound) << update;
  absl::Status del = catalog_->DeleteProduct(999999);
  EXPECT_EQ(del.code(), absl::StatusCode::kNotFound) << del;
  EXPECT_EQ(FindByCode(Products(), "TEST-NONE"), nullptr);
}

// ---------------------------------------------------------------------------
// Customers
// ---------------------------------------------------------------------------

TEST_P(MysqlBillingCatalogTest, ReadsACustomersSubscriptionsWithUsageByCode) {
  const int64_t id = shared_db->customer;
  absl::StatusOr<CustomerSubscriptions> customer = catalog_->ReadCustomer(id);
  ASSERT_TRUE(customer.ok()) << customer.status();
  EXPECT_EQ(customer->customer_id, id);
  const std::string raw_status = QueryOne(
      absl::StrCat("SELECT status FROM customers WHERE {customer_id} = ", id));
  const std::map<std::string, std::string> names = {
      {"1", "open"}, {"2", "suspended"}, {"3", "closed"}, {"4", "exported"}};
  EXPECT_EQ(customer->status, v1() ? raw_status : names.at(raw_status));

  EXPECT_EQ(absl::StrCat(customer->subscriptions.size()),
            QueryOne(absl::StrCat("SELECT COUNT(*) FROM subscriptions WHERE "
                                  "status <> {closed} AND {customer_id} = ",
                                  id)));
  ASSERT_GE(customer->subscriptions.size(), 3u);
  const std::vector<BillingProduct> products = Products();
  bool saw_addon = false;
  int64_t previous = 0;
  for (const BillingSubscription& s : customer->subscriptions) {
    SCOPED_TRACE(s.subscription_id);
    EXPECT_GT(s.subscription_id, previous);
    previous = s.subscription_id;
    // The generator's phone numbers are derived from the account row id.
    EXPECT_EQ(s.account_id, absl::StrFormat("+49151%08d", s.account_row_id));
    const BillingProduct* product = FindById(products, s.product_id);
    ASSERT_NE(product, nullptr);
    EXPECT_EQ(s.is_addon,
              product->spec.kind() == ProductKind::PRODUCT_KIND_ADDON);
    saw_addon |= s.is_addon;
    std::map<std::string, int64_t> limits = Limits(product->spec);
    for (const auto& [code, usage] : s.usage) {
      EXPECT_EQ(limits.count(code), 1u) << code;
      EXPECT_GE(usage, 0) << code;
    }
    // Usage rows, by code, straight from the database.
    std::map<std::string, int64_t> want;
    for (const std::string& row : Query(absl::StrCat(
             "SELECT t.{type_code}, u.{used} FROM subscription_usage u "
             "JOIN resource_types t ON t.{type_id} = u.{type_id} "
             "WHERE u.{subscription_id} = ",
             s.subscription_id))) {
      std::vector<std::string> cols = absl::StrSplit(row, '\t');
      want[cols[0]] = std::stoll(cols[1]);
    }
    EXPECT_EQ(s.usage, want);
  }
  EXPECT_TRUE(saw_addon);
}

TEST_P(MysqlBillingCatalogTest, UnknownCustomerIsNotFound) {
  absl::StatusOr<CustomerSubscriptions> customer =
      catalog_->ReadCustomer(987654321);
  EXPECT_EQ(customer.status().code(), absl::StatusCode::kNotFound)
      << customer.status();
}

TEST_P(MysqlBillingCatalogTest, UnavailableWhileTheDatabaseIsDown) {
  // A server of its own: killing the shared one would disturb other tests.
  auto server = tandem::testing::MariaDbServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->CreateDatabase("billing").ok());
  MysqlOptions options = testbed::PoolOptions(**server, "billing", 1);
  options.connect_timeout = absl::Seconds(1);
  auto pool = MysqlPool::Create(options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  ASSERT_TRUE(testbed::ApplySchema(**pool, GetParam().testbed_version).ok());
  MysqlBillingCatalog catalog(pool->get(), GetParam().version,
                              GetParam().system);
  absl::StatusOr<std::vector<BillingProduct>> empty = catalog.ReadProducts();
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());

  (*server)->Kill();
  EXPECT_EQ(catalog.ReadProducts().status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(catalog.ReadCustomer(1).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(catalog.CreateProduct(Spec("TEST-DOWN")).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(catalog.DeleteProduct(1).code(), absl::StatusCode::kUnavailable);
}

INSTANTIATE_TEST_SUITE_P(Schemas, MysqlBillingCatalogTest,
                         ::testing::Values(V1Case(), V2Case()),
                         [](const ::testing::TestParamInfo<VersionCase>& info) {
                           return info.param.name;
                         });

// ---------------------------------------------------------------------------
// Across versions
// ---------------------------------------------------------------------------

// The reference transform (MAPPING.md as code) copied two customers to v2;
// reading them there must give what v1 gives, with products matched by code
// and resource types renamed as MAPPING.md says.
TEST(MysqlBillingCatalogCrossVersionTest, V2ReadsACopiedCustomerAsV1Does) {
  if (shared_db == nullptr) {
    absl::Status started = StartSharedDb();
    ASSERT_TRUE(started.ok()) << started;
  }
  MysqlBillingCatalog source(shared_db->db.v1.get(), BillingSchemaVersion::kV1,
                             System::SYSTEM_SOURCE);
  MysqlBillingCatalog target(shared_db->db.v2.get(), BillingSchemaVersion::kV2,
                             System::SYSTEM_TARGET);
  absl::StatusOr<std::vector<BillingProduct>> source_products =
      source.ReadProducts();
  absl::StatusOr<std::vector<BillingProduct>> target_products =
      target.ReadProducts();
  ASSERT_TRUE(source_products.ok()) << source_products.status();
  ASSERT_TRUE(target_products.ok()) << target_products.status();

  for (int64_t id : {shared_db->customer, shared_db->other_customer}) {
    SCOPED_TRACE(id);
    absl::StatusOr<CustomerSubscriptions> v1 = source.ReadCustomer(id);
    absl::StatusOr<CustomerSubscriptions> v2 = target.ReadCustomer(id);
    ASSERT_TRUE(v1.ok()) << v1.status();
    ASSERT_TRUE(v2.ok()) << v2.status();
    EXPECT_EQ(v1->status, v2->status);
    ASSERT_EQ(v1->subscriptions.size(), v2->subscriptions.size());
    for (size_t i = 0; i < v1->subscriptions.size(); ++i) {
      const BillingSubscription& a = v1->subscriptions[i];
      const BillingSubscription& b = v2->subscriptions[i];
      EXPECT_EQ(a.subscription_id, b.subscription_id);
      EXPECT_EQ(a.account_row_id, b.account_row_id);
      EXPECT_EQ(a.account_id, b.account_id);
      EXPECT_EQ(a.is_addon, b.is_addon);
      EXPECT_EQ(FindById(*source_products, a.product_id)->spec.code(),
                FindById(*target_products, b.product_id)->spec.code());
      std::map<std::string, int64_t> want;
      for (const auto& [code, usage] : a.usage) {
        if (code == "mailboxes") {
          continue;  // no storage type on v2: dropped
        }
        want[code == "sip_channels" ? "voice_channels" : code] += usage;
      }
      EXPECT_EQ(b.usage, want);
    }
  }
}

}  // namespace
}  // namespace tandem::catalog
