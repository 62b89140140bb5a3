// The demo product catalog of both billing systems.
//
// Both versions sell the same products under the same product codes, with
// different product ids, and version 2 changed a few of them the way a new
// major version does, so that every catalog rule of DESIGN.md has a case:
//   * MOB-S: data_mb limit lowered 2000 -> 1500 (customers over the new
//     limit; moves only with "allow overuse"),
//   * IOT-10: sms limit set to 0 (unprovisioned on the target),
//   * FIX-BASIC, FIX-PRO: resource type sip_channels does not exist in v2;
//     voice_channels of the same resource class (voice) takes it over,
//   * FIX-PRO: mailboxes does not exist in v2 at all (lost: dry-run warning),
//   * BB-1000: activation parameter "profile" differs (rewritten),
//   * ADD-SMS: the add-on is not offered with MOB-BIZ on v2 (not carried),
//   * MOB-5G: exists only on v2 (new product),
//   * FIX-ISDN: exists only on v1 (no counterpart: no mapping, a candidate
//     for "generate missing destination packages"),
//   * BB-250: on v2 under another code, FIBER-250, with the same name (the
//     catalog's proposal matches it by name; the product map lists it),
//   * every other product: identical limits and parameters.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "testbed/base/model.h"

namespace tandem::testbed {

struct ResourceClassDef {
  int id;
  std::string name;
};

struct ResourceTypeDef {
  int id;
  std::string code;
  std::string name;
  int class_id;
  std::string unit;
};

struct PaymentSystemDef {
  int id;
  std::string name;
};

struct ResourceLimitDef {
  std::string type_code;
  int64_t limit;
};

struct ProductDef {
  int id;  // local to the system
  std::string code;
  std::string name;
  std::string category;
  std::string contract_pool;
  bool is_addon = false;
  int64_t monthly_fee_micros = 0;
  std::string currency = "EUR";
  // A JSON object of string values.
  std::string activation_params;
  std::vector<ResourceLimitDef> limits;
  // Codes of the add-on products it may carry.
  std::vector<std::string> addon_codes;
  // On v2: the code of the v1 product this one corresponds to when it
  // differs from `code` (empty otherwise).
  std::string v1_code = {};
};

struct CatalogDef {
  std::vector<ResourceClassDef> classes;
  std::vector<ResourceTypeDef> types;
  std::vector<PaymentSystemDef> payment_systems;
  std::vector<ProductDef> products;

  const ProductDef* FindProduct(const std::string& code) const;
  // The product of this (v2) catalog that v1 product `v1_code` corresponds
  // to: by `v1_code` where set, else by equal code. Null when none.
  const ProductDef* CounterpartOf(const std::string& v1_code) const;
  const ResourceTypeDef* FindType(const std::string& code) const;
};

// The catalog of `version`. Deterministic; not seeded.
const CatalogDef& DemoCatalog(SchemaVersion version);

}  // namespace tandem::testbed
