#include "testbed/datagen/catalog.h"

namespace tandem::testbed {
namespace {

constexpr int64_t kUnit = 1000000;  // micro-units per currency unit

std::vector<ResourceClassDef> Classes() {
  return {{1, "voice"},
          {2, "data"},
          {3, "messaging"},
          {4, "network"},
          {5, "storage"}};
}

std::vector<PaymentSystemDef> PaymentSystems() {
  return {{1, "Card (Stripe)"},
          {2, "SEPA Direct Debit"},
          {3, "PayPal"},
          {4, "Bank transfer"}};
}

// The v1 products; v2's are derived from them below. Long because it is a
// data table, one entry per product, which reads best in one piece.
std::vector<ProductDef> V1Products() {
  std::vector<ProductDef> p = {
      {1,
       "MOB-S",
       "Mobile S",
       "mobile",
       "mobile-consumer",
       false,
       9 * kUnit,
       "EUR",
       R"({"apn": "internet", "profile": "4g"})",
       {{"voice_minutes", 300}, {"data_mb", 2000}, {"sms", 100}},
       {"ADD-ROAM", "ADD-INTL", "ADD-SMS"}},
      {2,
       "MOB-M",
       "Mobile M",
       "mobile",
       "mobile-consumer",
       false,
       19 * kUnit + 990000,
       "EUR",
       R"({"apn": "internet", "profile": "4g"})",
       {{"voice_minutes", 1000}, {"data_mb", 10000}, {"sms", 500}},
       {"ADD-ROAM", "ADD-INTL", "ADD-SMS"}},
      {3,
       "MOB-L",
       "Mobile L",
       "mobile",
       "mobile-consumer",
       false,
       34 * kUnit + 500000,
       "EUR",
       R"({"apn": "internet", "profile": "5g"})",
       {{"voice_minutes", 5000}, {"data_mb", 50000}, {"sms", 2000}},
       {"ADD-ROAM", "ADD-INTL"}},
      {4,
       "MOB-BIZ",
       "Mobile Business",
       "mobile",
       "mobile-business",
       false,
       29 * kUnit,
       "EUR",
       R"({"apn": "corp", "profile": "4g"})",
       {{"voice_minutes", 3000}, {"data_mb", 20000}, {"sms", 1000}},
       {"ADD-ROAM", "ADD-INTL", "ADD-SMS"}},
      {5,
       "FIX-BASIC",
       "Fixed Voice Basic",
       "fixed",
       "fixed-voice",
       false,
       12 * kUnit,
       "EUR",
       R"({"codec": "g711", "region": "de"})",
       {{"voice_minutes", 1000}, {"sip_channels", 2}},
       {"ADD-INTL"}},
      {6,
       "FIX-PRO",
       "Fixed Voice Pro",
       "fixed",
       "fixed-voice",
       false,
       24 * kUnit + 900000,
       "EUR",
       R"({"codec": "g722", "region": "de"})",
       {{"voice_minutes", 5000}, {"sip_channels", 10}, {"mailboxes", 5}},
       {"ADD-INTL", "ADD-IP"}},
      {7,
       "BB-100",
       "Broadband 100",
       "broadband",
       "broadband",
       false,
       29 * kUnit + 990000,
       "EUR",
       R"({"profile": "gpon-100m", "vlan": "100"})",
       {{"data_mb", 500000}, {"static_ips", 0}},
       {"ADD-IP"}},
      {8,
       "BB-500",
       "Broadband 500",
       "broadband",
       "broadband",
       false,
       39 * kUnit + 990000,
       "EUR",
       R"({"profile": "gpon-500m", "vlan": "100"})",
       {{"data_mb", 2000000}, {"static_ips", 1}},
       {"ADD-IP"}},
      {9,
       "BB-1000",
       "Broadband 1000",
       "broadband",
       "broadband",
       false,
       59 * kUnit + 990000,
       "EUR",
       R"({"profile": "gpon-1g", "vlan": "100"})",
       {{"data_mb", 5000000}, {"static_ips", 1}},
       {"ADD-IP"}},
      {10,
       "IOT-1",
       "IoT 1 MB",
       "iot",
       "iot",
       false,
       1 * kUnit,
       "EUR",
       R"({"apn": "iot", "profile": "nb-iot"})",
       {{"data_mb", 1}, {"sms", 10}},
       {}},
      {11,
       "IOT-10",
       "IoT 10 MB",
       "iot",
       "iot",
       false,
       3 * kUnit,
       "EUR",
       R"({"apn": "iot", "profile": "lte-m"})",
       {{"data_mb", 10}, {"sms", 50}},
       {}},
      {12,
       "ADD-ROAM",
       "Roaming data 2 GB",
       "addon",
       "addons",
       true,
       5 * kUnit,
       "EUR",
       R"({"zone": "eu"})",
       {{"data_mb", 2000}},
       {}},
      {13,
       "ADD-INTL",
       "International minutes 300",
       "addon",
       "addons",
       true,
       7 * kUnit + 500000,
       "EUR",
       R"({"zone": "world-1"})",
       {{"voice_minutes", 300}},
       {}},
      {14,
       "ADD-SMS",
       "SMS 500",
       "addon",
       "addons",
       true,
       2 * kUnit,
       "EUR",
       R"({})",
       {{"sms", 500}},
       {}},
      {15,
       "ADD-IP",
       "Extra static IP",
       "addon",
       "addons",
       true,
       4 * kUnit,
       "EUR",
       R"({})",
       {{"static_ips", 1}},
       {}},
      {16,
       "FIX-ISDN",
       "Fixed ISDN (legacy)",
       "fixed",
       "fixed-voice",
       false,
       14 * kUnit + 900000,
       "EUR",
       R"({"codec": "g711", "region": "de", "line": "bri"})",
       {{"voice_minutes", 500}, {"sip_channels", 2}},
       {"ADD-INTL"}},
      {17,
       "BB-250",
       "Broadband 250",
       "broadband",
       "broadband",
       false,
       34 * kUnit + 990000,
       "EUR",
       R"({"profile": "gpon-250m", "vlan": "100"})",
       {{"data_mb", 1000000}, {"static_ips", 0}},
       {"ADD-IP"}},
  };
  return p;
}

CatalogDef MakeV1() {
  CatalogDef c;
  c.classes = Classes();
  c.types = {{1, "voice_minutes", "Voice minutes", 1, "min"},
             {2, "sip_channels", "SIP channels", 1, "channel"},
             {3, "data_mb", "Data volume", 2, "MB"},
             {4, "sms", "SMS", 3, "message"},
             {5, "static_ips", "Static IP addresses", 4, "address"},
             {6, "mailboxes", "Voice mailboxes", 5, "mailbox"}};
  c.payment_systems = PaymentSystems();
  c.products = V1Products();
  return c;
}

CatalogDef MakeV2() {
  CatalogDef c;
  c.classes = Classes();
  c.types = {{1, "voice_minutes", "Voice minutes", 1, "min"},
             {3, "data_mb", "Data volume", 2, "MB"},
             {4, "sms", "SMS", 3, "message"},
             {5, "static_ips", "Static IP addresses", 4, "address"},
             {7, "voice_channels", "Voice channels", 1, "channel"}};
  c.payment_systems = PaymentSystems();
  std::vector<ProductDef> products = V1Products();
  for (ProductDef& p : products) {
    // v2 numbers its products from 5000 in reverse v1 order, so ids never
    // coincide by accident.
    p.id = 5016 - p.id;
    for (ResourceLimitDef& l : p.limits) {
      if (l.type_code == "sip_channels") l.type_code = "voice_channels";
      if (p.code == "MOB-S" && l.type_code == "data_mb") l.limit = 1500;
      if (p.code == "IOT-10" && l.type_code == "sms") l.limit = 0;
    }
    if (p.code == "FIX-PRO") {
      std::erase_if(p.limits, [](const ResourceLimitDef& l) {
        return l.type_code == "mailboxes";
      });
    }
    if (p.code == "BB-1000") {
      p.activation_params = R"({"profile": "xgs-1g", "vlan": "100"})";
    }
    if (p.code == "MOB-BIZ") {
      std::erase(p.addon_codes, std::string("ADD-SMS"));
    }
    if (p.code == "BB-250") {
      p.id = 5101;
      p.v1_code = p.code;
      p.code = "FIBER-250";
    }
  }
  std::erase_if(products,
                [](const ProductDef& p) { return p.code == "FIX-ISDN"; });
  products.push_back(
      {5100,
       "MOB-5G",
       "Mobile 5G Unlimited",
       "mobile",
       "mobile-consumer",
       false,
       44 * kUnit + 990000,
       "EUR",
       R"({"apn": "internet", "profile": "5g-sa"})",
       {{"voice_minutes", 100000}, {"data_mb", 1000000}, {"sms", 10000}},
       {"ADD-ROAM"}});
  c.products = std::move(products);
  return c;
}

}  // namespace

const ProductDef* CatalogDef::FindProduct(const std::string& code) const {
  for (const ProductDef& p : products) {
    if (p.code == code) return &p;
  }
  return nullptr;
}

const ProductDef* CatalogDef::CounterpartOf(const std::string& v1_code) const {
  for (const ProductDef& p : products) {
    if (p.v1_code == v1_code) return &p;
  }
  const ProductDef* same = FindProduct(v1_code);
  return same != nullptr && same->v1_code.empty() ? same : nullptr;
}

const ResourceTypeDef* CatalogDef::FindType(const std::string& code) const {
  for (const ResourceTypeDef& t : types) {
    if (t.code == code) return &t;
  }
  return nullptr;
}

const CatalogDef& DemoCatalog(SchemaVersion version) {
  static const CatalogDef* v1 = new CatalogDef(MakeV1());
  static const CatalogDef* v2 = new CatalogDef(MakeV2());
  return version == SchemaVersion::kV1 ? *v1 : *v2;
}

}  // namespace tandem::testbed
