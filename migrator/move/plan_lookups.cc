#include "migrator/move/plan_lookups.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <mysql_connection.h>

#include "absl/strings/str_cat.h"
#include "migrator/engine/rows.h"

namespace tandem::migrator {

absl::Status CatalogCodes::Load(MysqlPool& pool, const std::string& database,
                                const Mapping& mapping, SchemaSide side,
                                CatalogCodes* codes) {
  const CatalogTable& t = mapping.catalog(side).resource_types;
  return pool.Run("read resource types", [&](sql::Connection& conn) {
    std::unique_ptr<sql::PreparedStatement> ps(
        conn.prepareStatement(absl::StrCat(
            "SELECT ", QuoteIdent(t.id), ", ", QuoteIdent(t.code), " FROM ",
            QuoteIdent(database), ".", QuoteIdent(t.table))));
    std::unique_ptr<sql::ResultSet> rs(ps->executeQuery());
    codes->type_code[side].clear();
    codes->type_id[side].clear();
    while (rs->next()) {
      codes->type_code[side][rs->getString(1)] = rs->getString(2);
      codes->type_id[side][rs->getString(2)] = rs->getString(1);
    }
    return absl::OkStatus();
  });
}

PlanLookups::PlanLookups(
    const ::tandem::catalog::v1::CustomerPlan& plan, Direction direction,
    const CatalogCodes& codes,
    std::map<std::string, std::string> subscription_products, bool inverse)
    : codes_(codes),
      from_side_(inverse ? Mapping::WriteSide(direction)
                         : Mapping::ReadSide(direction)),
      to_side_(inverse ? Mapping::ReadSide(direction)
                       : Mapping::WriteSide(direction)),
      subscription_products_(std::move(subscription_products)),
      inverse_(inverse) {
  for (const auto& s : plan.subscriptions()) {
    const std::string src = absl::StrCat(s.source_product().product_id());
    const std::string dst =
        s.has_target_product() && s.target_product().product_id() != 0
            ? absl::StrCat(s.target_product().product_id())
            : std::string();
    Sub sub;
    sub.from_product = inverse ? dst : src;
    sub.to_product = inverse ? src : dst;
    for (const auto& r : s.resources()) {
      if (!inverse) {
        sub.types[r.source_resource_type()] = r.target_resource_type();
      } else if (!r.target_resource_type().empty()) {
        sub.types[r.target_resource_type()] = r.source_resource_type();
      }
    }
    if (!sub.from_product.empty() && !sub.to_product.empty()) {
      products_[sub.from_product] = sub.to_product;
    }
    for (const auto& a : s.addons()) {
      const std::string from =
          absl::StrCat(inverse ? a.target_addon().product_id()
                               : a.source_addon().product_id());
      const std::string to =
          a.carried() ? absl::StrCat(inverse ? a.source_addon().product_id()
                                             : a.target_addon().product_id())
                      : std::string();
      if (from == "0") continue;
      addons_[from] = to;
      addon_reasons_[from] = a.reason();
    }
    subs_[absl::StrCat(s.subscription_id())] = std::move(sub);
  }
}

absl::StatusOr<CatalogTarget> PlanLookups::Product(
    const std::string& product_id, const std::string& subscription_id) const {
  // A main subscription: the plan decided for it by name.
  auto s = subs_.find(subscription_id);
  if (!subscription_id.empty() && s != subs_.end() &&
      s->second.from_product == product_id) {
    if (s->second.to_product.empty()) {
      return absl::NotFoundError(absl::StrCat("the plan maps product ",
                                              product_id, " of subscription ",
                                              subscription_id, " nowhere"));
    }
    return CatalogTarget{s->second.to_product, ""};
  }
  // An add-on: carried onto the target add-on, or not at all.
  auto a = addons_.find(product_id);
  if (a != addons_.end()) {
    if (!a->second.empty()) return CatalogTarget{a->second, ""};
    if (!subscription_id.empty()) {
      return CatalogTarget{
          "", absl::StrCat("add-on product ", product_id,
                           " is not carried: ", addon_reasons_.at(product_id))};
    }
  }
  // Another row naming a product (an account's main product).
  auto p = products_.find(product_id);
  if (p != products_.end()) return CatalogTarget{p->second, ""};
  return absl::NotFoundError(
      absl::StrCat("the plan has no mapping for product ", product_id));
}

absl::StatusOr<CatalogTarget> PlanLookups::ResourceType(
    const std::string& subscription_id, const std::string& type_id) const {
  auto code = codes_.type_code[from_side_].find(type_id);
  if (code == codes_.type_code[from_side_].end()) {
    return absl::NotFoundError(absl::StrCat("unknown resource type ", type_id));
  }
  auto to_id =
      [&](const std::string& to_code) -> absl::StatusOr<CatalogTarget> {
    auto id = codes_.type_id[to_side_].find(to_code);
    if (id == codes_.type_id[to_side_].end()) {
      return CatalogTarget{
          "", absl::StrCat("resource type ", to_code, " does not exist there")};
    }
    return CatalogTarget{id->second, ""};
  };
  auto s = subs_.find(subscription_id);
  if (s != subs_.end()) {
    auto t = s->second.types.find(code->second);
    if (t != s->second.types.end()) {
      if (t->second.empty()) {
        return CatalogTarget{"", absl::StrCat("resource ", code->second,
                                              " is unprovisioned by the plan")};
      }
      return to_id(t->second);
    }
    if (inverse_) {
      return CatalogTarget{
          "", absl::StrCat("resource ", code->second, " was not carried")};
    }
    return to_id(code->second);
  }
  // An add-on subscription: it goes where its product goes, if anywhere.
  auto product = subscription_products_.find(subscription_id);
  if (product != subscription_products_.end()) {
    auto a = addons_.find(product->second);
    if (a != addons_.end() && a->second.empty()) {
      return CatalogTarget{"",
                           absl::StrCat("add-on subscription ", subscription_id,
                                        " is not carried")};
    }
  }
  if (inverse_) {
    return CatalogTarget{
        "", absl::StrCat("resource ", code->second, " was not carried")};
  }
  return to_id(code->second);
}

}  // namespace tandem::migrator
