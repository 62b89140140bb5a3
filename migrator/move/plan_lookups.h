// CatalogLookups from the catalog's plan of one customer: where each product
// and resource type goes, as PlanCustomer decided it, and the inverse (for
// recognising rows that a previous move wrote and nobody changed since).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/mysql_pool.h"
#include "migrator/engine/lookups.h"
#include "migrator/mapping/mapping.h"
#include "tandem/catalog/v1/catalog.pb.h"

namespace tandem::migrator {

// Resource type ids and codes of both schema sides.
struct CatalogCodes {
  std::map<std::string, std::string> type_code[2];  // id -> code
  std::map<std::string, std::string> type_id[2];    // code -> id

  // Reads the resource types of one side through `pool` (database
  // `database`), as the mapping's `catalog:` section names them.
  static absl::Status Load(MysqlPool& pool, const std::string& database,
                           const Mapping& mapping, SchemaSide side,
                           CatalogCodes* codes);
};

class PlanLookups final : public CatalogLookups {
 public:
  // `plan` is the customer's plan for `direction` (from the side read to
  // the side written). `subscription_products` maps the customer's
  // subscription ids (side read) to their product ids, so add-on
  // subscriptions can be told apart. With `inverse`, answers for the other
  // direction (from the side written back to the side read).
  PlanLookups(const ::tandem::catalog::v1::CustomerPlan& plan,
              Direction direction, const CatalogCodes& codes,
              std::map<std::string, std::string> subscription_products,
              bool inverse);

  absl::StatusOr<CatalogTarget> Product(
      const std::string& product_id,
      const std::string& subscription_id) const override;
  absl::StatusOr<CatalogTarget> ResourceType(
      const std::string& subscription_id,
      const std::string& type_id) const override;

 private:
  struct Sub {
    std::string from_product, to_product;
    std::map<std::string, std::string> types;  // from code -> to code ("")
  };
  const CatalogCodes& codes_;
  const SchemaSide from_side_;
  const SchemaSide to_side_;
  std::map<std::string, Sub> subs_;                   // by subscription id
  std::map<std::string, std::string> products_;       // from -> to
  std::map<std::string, std::string> addons_;         // from -> to ("")
  std::map<std::string, std::string> addon_reasons_;  // from -> reason
  std::map<std::string, std::string> subscription_products_;
  bool inverse_;
};

}  // namespace tandem::migrator
