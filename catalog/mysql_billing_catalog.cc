#include "catalog/mysql_billing_catalog.h"

#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "catalog/billing_values.h"
#include "common/mysql_results.h"
#include "common/status_macros.h"

namespace tandem::catalog {
namespace {

using ::tandem::catalog::v1::ActivationParameter;
using ::tandem::catalog::v1::ProductKind;
using ::tandem::catalog::v1::ProductSpec;
using ::tandem::catalog::v1::ResourceType;
using ::tandem::common::v1::System;

using Stmt = std::unique_ptr<sql::PreparedStatement>;
using Rows = std::unique_ptr<sql::ResultSet>;

// MariaDB error numbers handled here rather than by the pool's mapping.
constexpr int kErDupEntry = 1062;
constexpr int kErDataTooLong = 1406;

// A status value in both encodings (testbed/MAPPING.md, "Conversions").
struct StatusValue {
  const char* name;  // v1
  int code;          // v2
};

constexpr StatusValue kSubscriptionClosed = {"closed", 3};
constexpr StatusValue kCustomerStatuses[] = {
    {"open", 1}, {"suspended", 2}, {"closed", 3}, {"exported", 4}};

// How one schema version names the catalog's tables' columns and encodes
// money and statuses. Table names are the same in both versions. A key has
// the same name in every table that refers to it (v1 `i_product` in
// products, product_resources, product_addons and subscriptions; v2
// `product_id`), so each key appears once.
struct Dialect {
  // Placeholder -> column name, substituted into the query templates below.
  std::vector<std::pair<std::string, std::string>> names;
  // v1: money as DECIMAL(13,5) text; v2: BIGINT micro-units.
  bool decimal_money;
  // v1: statuses as names; v2: as TINYINT codes.
  bool numeric_status;
};

const Dialect& DialectOf(BillingSchemaVersion version) {
  static const Dialect* v1 =
      new Dialect{{{"{product_id}", "i_product"},
                   {"{addon_id}", "i_addon"},
                   {"{product_code}", "code"},
                   {"{product_name}", "name"},
                   {"{fee}", "monthly_fee"},
                   {"{currency}", "iso_4217"},
                   {"{changed_at}", "last_changed"},
                   {"{limit}", "max_amount"},
                   {"{type_id}", "i_resource_type"},
                   {"{type_code}", "code"},
                   {"{type_name}", "name"},
                   {"{class_id}", "i_resource_class"},
                   {"{class_name}", "name"},
                   {"{customer_id}", "i_customer"},
                   {"{account_id}", "i_account"},
                   {"{phone}", "id"},
                   {"{subscription_id}", "i_subscription"},
                   {"{used}", "used_amount"}},
                  /*decimal_money=*/true,
                  /*numeric_status=*/false};
  static const Dialect* v2 =
      new Dialect{{{"{product_id}", "product_id"},
                   {"{addon_id}", "addon_product_id"},
                   {"{product_code}", "product_code"},
                   {"{product_name}", "display_name"},
                   {"{fee}", "monthly_fee_micros"},
                   {"{currency}", "currency"},
                   {"{changed_at}", "updated_at"},
                   {"{limit}", "limit_value"},
                   {"{type_id}", "resource_type_id"},
                   {"{type_code}", "type_code"},
                   {"{type_name}", "type_name"},
                   {"{class_id}", "resource_class_id"},
                   {"{class_name}", "class_name"},
                   {"{customer_id}", "customer_id"},
                   {"{account_id}", "account_id"},
                   {"{phone}", "phone_number"},
                   {"{subscription_id}", "subscription_id"},
                   {"{used}", "used_quantity"}},
                  /*decimal_money=*/false,
                  /*numeric_status=*/true};
  return version == BillingSchemaVersion::kV1 ? *v1 : *v2;
}

// The queries, written once with {placeholders} for the dialect's names.
constexpr char kSelectProducts[] =
    "SELECT {product_id}, {product_code}, {product_name}, category, "
    "contract_pool, is_addon, {fee}, {currency}, activation_params "
    "FROM products ORDER BY {product_id}";
constexpr char kSelectAllLimits[] =
    "SELECT r.{product_id}, t.{type_code}, t.{type_name}, "
    "COALESCE(c.{class_name}, ''), t.unit, r.{limit} "
    "FROM product_resources r "
    "JOIN resource_types t ON t.{type_id} = r.{type_id} "
    "LEFT JOIN resource_classes c ON c.{class_id} = t.{class_id}";
constexpr char kSelectResourceTypes[] =
    "SELECT t.{type_code}, t.{type_name}, COALESCE(c.{class_name}, ''), "
    "t.unit FROM resource_types t "
    "LEFT JOIN resource_classes c ON c.{class_id} = t.{class_id}";
constexpr char kSelectAllAddons[] =
    "SELECT {product_id}, {addon_id} FROM product_addons";
constexpr char kCountSubscriptions[] =
    "SELECT {product_id}, COUNT(*), COUNT(DISTINCT {customer_id}) "
    "FROM subscriptions WHERE status <> ? GROUP BY {product_id}";
constexpr char kSelectTypes[] =
    "SELECT {type_id}, {type_code} FROM resource_types";
// The shared lock keeps the add-ons from being deleted or turned into main
// products before this transaction commits.
constexpr char kSelectAddonCandidates[] =
    "SELECT {product_id}, is_addon FROM products WHERE {product_id} IN "
    "({ids}) LOCK IN SHARE MODE";
constexpr char kInsertProduct[] =
    "INSERT INTO products ({product_code}, {product_name}, category, "
    "contract_pool, is_addon, {fee}, {currency}, activation_params, "
    "{changed_at}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NOW(3))";
constexpr char kLastInsertId[] = "SELECT LAST_INSERT_ID()";
constexpr char kLockProduct[] =
    "SELECT is_addon FROM products WHERE {product_id} = ? FOR UPDATE";
constexpr char kUpdateProduct[] =
    "UPDATE products SET {product_code} = ?, {product_name} = ?, "
    "category = ?, contract_pool = ?, {fee} = ?, {currency} = ?, "
    "activation_params = ?, {changed_at} = NOW(3) WHERE {product_id} = ?";
constexpr char kDeleteLimits[] =
    "DELETE FROM product_resources WHERE {product_id} = ?";
constexpr char kInsertLimit[] =
    "INSERT INTO product_resources ({product_id}, {type_id}, {limit}) "
    "VALUES (?, ?, ?)";
constexpr char kDeleteAddonList[] =
    "DELETE FROM product_addons WHERE {product_id} = ?";
constexpr char kDeleteAddonRowsNaming[] =
    "DELETE FROM product_addons WHERE {product_id} = ? OR {addon_id} = ?";
constexpr char kInsertAddon[] =
    "INSERT INTO product_addons ({product_id}, {addon_id}) VALUES (?, ?)";
constexpr char kCountOpenSubscriptionsOf[] =
    "SELECT COUNT(*) FROM subscriptions "
    "WHERE {product_id} = ? AND status <> ?";
constexpr char kDeleteProduct[] = "DELETE FROM products WHERE {product_id} = ?";
constexpr char kSelectCustomer[] =
    "SELECT status FROM customers WHERE {customer_id} = ?";
constexpr char kSelectCustomerSubscriptions[] =
    "SELECT s.{subscription_id}, s.{account_id}, COALESCE(a.{phone}, ''), "
    "s.{product_id}, s.is_addon FROM subscriptions s "
    "LEFT JOIN accounts a ON a.{account_id} = s.{account_id} "
    "WHERE s.{customer_id} = ? AND s.status <> ? ORDER BY s.{subscription_id}";
constexpr char kSelectCustomerUsage[] =
    "SELECT u.{subscription_id}, t.{type_code}, u.{used} "
    "FROM subscription_usage u "
    "JOIN subscriptions s ON s.{subscription_id} = u.{subscription_id} "
    "JOIN resource_types t ON t.{type_id} = u.{type_id} "
    "WHERE s.{customer_id} = ? AND s.status <> ?";

std::string Sql(const Dialect& d, absl::string_view query) {
  return absl::StrReplaceAll(query, d.names);
}

std::string Str(sql::ResultSet& rows, int column) {
  if (rows.isNull(column)) {
    return "";
  }
  return rows.getString(column);
}

void BindStatus(const Dialect& d, sql::PreparedStatement& stmt, int index,
                const StatusValue& value) {
  if (d.numeric_status) {
    stmt.setInt(index, value.code);
  } else {
    stmt.setString(index, value.name);
  }
}

const char* SystemName(System system) {
  return system == System::SYSTEM_SOURCE ? "source" : "target";
}

}  // namespace

absl::StatusOr<BillingSchemaVersion> ParseBillingSchemaVersion(
    absl::string_view name) {
  if (name == "v1") {
    return BillingSchemaVersion::kV1;
  }
  if (name == "v2") {
    return BillingSchemaVersion::kV2;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("billing schema version `", name, "` is not v1 or v2"));
}

MysqlBillingCatalog::MysqlBillingCatalog(MysqlPool* pool,
                                         BillingSchemaVersion version,
                                         System system)
    : pool_(pool), version_(version), system_(system) {
  if (pool == nullptr ||
      (system != System::SYSTEM_SOURCE && system != System::SYSTEM_TARGET)) {
    std::abort();  // a wiring error, not a runtime condition
  }
}

namespace {

// Runs `fn` (sql::Connection& -> absl::StatusOr<T>) in a read-only
// transaction with one snapshot for all its queries, and returns what the
// committed attempt returned. The pool's sessions default to READ
// COMMITTED, where each statement would see its own snapshot; SET
// TRANSACTION changes only the next transaction.
template <typename Fn>
auto ReadSnapshot(MysqlPool& pool, absl::string_view what, Fn&& fn)
    -> std::invoke_result_t<Fn&, sql::Connection&> {
  return TransactReturning(pool, what, [&](sql::Connection& conn) {
    std::unique_ptr<sql::Statement> stmt(conn.createStatement());
    stmt->execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    return fn(conn);
  });
}

// The product row's values that need converting, converted before the
// transaction so that a spec the schema cannot hold fails without a
// connection.
struct ProductRowValues {
  std::string fee_decimal;  // v1
  std::string activation_json;
};

absl::StatusOr<ProductRowValues> RowValues(const Dialect& d,
                                           const ProductSpec& spec) {
  ProductRowValues values;
  if (d.decimal_money) {
    TANDEM_ASSIGN_OR_RETURN(
        values.fee_decimal,
        MicrosToDecimal(spec.pricing().monthly_fee_micros()));
  }
  TANDEM_ASSIGN_OR_RETURN(values.activation_json,
                          ActivationParametersJson(spec));
  return values;
}

void BindFee(const Dialect& d, sql::PreparedStatement& stmt, int index,
             const ProductSpec& spec, const ProductRowValues& values) {
  if (d.decimal_money) {
    stmt.setString(index, values.fee_decimal);
  } else {
    stmt.setInt64(index, spec.pricing().monthly_fee_micros());
  }
}

// Resolves the spec's resource type codes to the system's ids, exactly (the
// column's collation would also match other cases). Returns (type id, limit)
// pairs.
absl::StatusOr<std::vector<std::pair<int64_t, int64_t>>> ResolveLimits(
    const Dialect& d, sql::Connection& conn, const ProductSpec& spec,
    System system) {
  std::map<std::string, int64_t> ids;
  {
    Stmt select(conn.prepareStatement(Sql(d, kSelectTypes)));
    Rows rows(select->executeQuery());
    while (rows->next()) {
      ids[Str(*rows, 2)] = rows->getInt64(1);
    }
  }
  std::vector<std::pair<int64_t, int64_t>> limits;
  std::vector<std::string> unknown;
  for (const ResourceType& type : spec.resource_types()) {
    auto it = ids.find(type.code());
    if (it == ids.end()) {
      unknown.push_back(absl::StrCat("`", type.code(), "`"));
    } else {
      limits.emplace_back(it->second, type.limit());
    }
  }
  if (!unknown.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("resource type ", absl::StrJoin(unknown, ", "),
                     unknown.size() == 1 ? " is" : " are", " unknown on the ",
                     SystemName(system), " system"));
  }
  return limits;
}

// Checks that every add-on id names an add-on product of this system and
// locks those rows; returns the ids ascending without repeats.
absl::StatusOr<std::vector<int64_t>> CheckAddons(const Dialect& d,
                                                 sql::Connection& conn,
                                                 const ProductSpec& spec,
                                                 System system) {
  std::set<int64_t> wanted(spec.addon_product_ids().begin(),
                           spec.addon_product_ids().end());
  if (wanted.empty()) {
    return std::vector<int64_t>();
  }
  std::vector<std::string> marks(wanted.size(), "?");
  std::string query = Sql(d, kSelectAddonCandidates);
  absl::StrReplaceAll({{"{ids}", absl::StrJoin(marks, ", ")}}, &query);
  Stmt select(conn.prepareStatement(query));
  int index = 1;
  for (int64_t id : wanted) {
    select->setInt64(index++, id);
  }
  std::map<int64_t, bool> found;  // id -> is_addon
  Rows rows(select->executeQuery());
  while (rows->next()) {
    found[rows->getInt64(1)] = rows->getInt(2) != 0;
  }
  for (int64_t id : wanted) {
    auto it = found.find(id);
    if (it == found.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("add-on ", id, ": the ", SystemName(system),
                       " system has no product ", id));
    }
    if (!it->second) {
      return absl::InvalidArgumentError(
          absl::StrCat("add-on ", id, ": product ", id, " of the ",
                       SystemName(system), " system is not an add-on"));
    }
  }
  return std::vector<int64_t>(wanted.begin(), wanted.end());
}

// Replaces the resource limits and add-on list of `product_id`.
void WriteLists(const Dialect& d, sql::Connection& conn, int64_t product_id,
                const std::vector<std::pair<int64_t, int64_t>>& limits,
                const std::vector<int64_t>& addons) {
  Stmt delete_limits(conn.prepareStatement(Sql(d, kDeleteLimits)));
  delete_limits->setInt64(1, product_id);
  delete_limits->executeUpdate();
  Stmt insert_limit(conn.prepareStatement(Sql(d, kInsertLimit)));
  for (const auto& [type_id, limit] : limits) {
    insert_limit->setInt64(1, product_id);
    insert_limit->setInt64(2, type_id);
    insert_limit->setInt64(3, limit);
    insert_limit->executeUpdate();
  }
  Stmt delete_addons(conn.prepareStatement(Sql(d, kDeleteAddonList)));
  delete_addons->setInt64(1, product_id);
  delete_addons->executeUpdate();
  Stmt insert_addon(conn.prepareStatement(Sql(d, kInsertAddon)));
  for (int64_t addon : addons) {
    insert_addon->setInt64(1, product_id);
    insert_addon->setInt64(2, addon);
    insert_addon->executeUpdate();
  }
}

// Runs the statement that writes the product row, turning the errors the
// spec can cause into statuses for the caller: a taken code, a value too
// long for its column (a backstop for CheckFitsSchema when the server's
// character counting differs).
absl::Status ExecuteProductWrite(sql::PreparedStatement& stmt,
                                 const ProductSpec& spec, System system) {
  try {
    stmt.executeUpdate();
  } catch (const sql::SQLException& e) {
    if (e.getErrorCode() == kErDupEntry) {
      return absl::AlreadyExistsError(
          absl::StrCat("product code `", spec.code(), "` is taken on the ",
                       SystemName(system), " system"));
    }
    if (e.getErrorCode() == kErDataTooLong) {
      return absl::InvalidArgumentError(
          absl::StrCat("product `", spec.code(),
                       "` does not fit the billing schema: ", e.what()));
    }
    throw;
  }
  return absl::OkStatus();
}

}  // namespace

namespace {

// The product rows, without resource types, add-ons or counts.
absl::StatusOr<std::vector<BillingProduct>> ReadProductRows(
    const Dialect& d, sql::Connection& conn) {
  std::vector<BillingProduct> products;
  Stmt select(conn.prepareStatement(Sql(d, kSelectProducts)));
  Rows rows(select->executeQuery());
  while (rows->next()) {
    BillingProduct& p = products.emplace_back();
    p.product_id = rows->getInt64(1);
    ProductSpec& spec = p.spec;
    spec.set_code(Str(*rows, 2));
    spec.set_name(Str(*rows, 3));
    spec.set_category(Str(*rows, 4));
    spec.set_contract_pool(Str(*rows, 5));
    spec.set_kind(rows->getInt(6) != 0 ? ProductKind::PRODUCT_KIND_ADDON
                                       : ProductKind::PRODUCT_KIND_MAIN);
    if (d.decimal_money) {
      absl::StatusOr<int64_t> micros = DecimalToMicros(Str(*rows, 7));
      if (!micros.ok()) {
        return absl::InternalError(
            absl::StrCat("product ", p.product_id,
                         " monthly fee: ", micros.status().message()));
      }
      spec.mutable_pricing()->set_monthly_fee_micros(*micros);
    } else {
      spec.mutable_pricing()->set_monthly_fee_micros(rows->getInt64(7));
    }
    spec.mutable_pricing()->set_currency(Str(*rows, 8));
    if (absl::Status s = ParseActivationParameters(Str(*rows, 9), &spec);
        !s.ok()) {
      return absl::InternalError(
          absl::StrCat("product ", p.product_id, ": ", s.message()));
    }
  }
  return products;
}

// Adds the resource limits, add-on lists and subscription counts to
// `by_id`'s products.
void AddListsAndCounts(const Dialect& d, sql::Connection& conn,
                       const std::map<int64_t, BillingProduct*>& by_id) {
  {
    Stmt select(conn.prepareStatement(Sql(d, kSelectAllLimits)));
    Rows rows(select->executeQuery());
    while (rows->next()) {
      auto it = by_id.find(rows->getInt64(1));
      if (it == by_id.end()) continue;  // a limit of a product that is gone
      ResourceType* type = it->second->spec.add_resource_types();
      type->set_code(Str(*rows, 2));
      type->set_name(Str(*rows, 3));
      type->set_resource_class(Str(*rows, 4));
      type->set_unit(Str(*rows, 5));
      type->set_limit(rows->getInt64(6));
    }
  }
  {
    Stmt select(conn.prepareStatement(Sql(d, kSelectAllAddons)));
    Rows rows(select->executeQuery());
    while (rows->next()) {
      auto it = by_id.find(rows->getInt64(1));
      if (it != by_id.end()) {
        it->second->spec.add_addon_product_ids(rows->getInt64(2));
      }
    }
  }
  Stmt select(conn.prepareStatement(Sql(d, kCountSubscriptions)));
  BindStatus(d, *select, 1, kSubscriptionClosed);
  Rows rows(select->executeQuery());
  while (rows->next()) {
    auto it = by_id.find(rows->getInt64(1));
    if (it != by_id.end()) {
      it->second->subscription_count = rows->getInt64(2);
      it->second->customer_count = rows->getInt64(3);
    }
  }
}

}  // namespace

absl::StatusOr<std::vector<BillingProduct>>
MysqlBillingCatalog::ReadProducts() {
  const Dialect& d = DialectOf(version_);
  TANDEM_ASSIGN_OR_RETURN(
      std::vector<BillingProduct> products,
      ReadSnapshot(*pool_, "read products",
                   [&](sql::Connection& conn)
                       -> absl::StatusOr<std::vector<BillingProduct>> {
                     TANDEM_ASSIGN_OR_RETURN(std::vector<BillingProduct> read,
                                             ReadProductRows(d, conn));
                     std::map<int64_t, BillingProduct*> by_id;
                     for (BillingProduct& p : read) by_id[p.product_id] = &p;
                     AddListsAndCounts(d, conn, by_id);
                     return read;
                   }));
  // Sorted here rather than in SQL: the promised order is by bytes, the
  // columns' collation is case-insensitive.
  for (BillingProduct& p : products) {
    auto* types = p.spec.mutable_resource_types();
    std::sort(types->begin(), types->end(),
              [](const ResourceType& a, const ResourceType& b) {
                return a.code() < b.code();
              });
    auto* addons = p.spec.mutable_addon_product_ids();
    std::sort(addons->begin(), addons->end());
  }
  return products;
}

absl::StatusOr<std::vector<ResourceType>>
MysqlBillingCatalog::ReadResourceTypes() {
  const Dialect& d = DialectOf(version_);
  TANDEM_ASSIGN_OR_RETURN(
      std::vector<ResourceType> types,
      RunReturning(*pool_, "read resource types",
                   [&](sql::Connection& conn)
                       -> absl::StatusOr<std::vector<ResourceType>> {
                     std::vector<ResourceType> read;
                     Stmt select(
                         conn.prepareStatement(Sql(d, kSelectResourceTypes)));
                     Rows rows(select->executeQuery());
                     while (rows->next()) {
                       ResourceType& type = read.emplace_back();
                       type.set_code(Str(*rows, 1));
                       type.set_name(Str(*rows, 2));
                       type.set_resource_class(Str(*rows, 3));
                       type.set_unit(Str(*rows, 4));
                     }
                     return read;
                   }));
  // Byte order, as for ReadProducts.
  std::sort(types.begin(), types.end(),
            [](const ResourceType& a, const ResourceType& b) {
              return a.code() < b.code();
            });
  return types;
}

absl::StatusOr<int64_t> MysqlBillingCatalog::CreateProduct(
    const ProductSpec& spec) {
  const Dialect& d = DialectOf(version_);
  TANDEM_RETURN_IF_ERROR(CheckFitsSchema(spec));
  TANDEM_ASSIGN_OR_RETURN(ProductRowValues values, RowValues(d, spec));
  return TransactReturning(
      *pool_, "create product",
      [&](sql::Connection& conn) -> absl::StatusOr<int64_t> {
        TANDEM_ASSIGN_OR_RETURN(auto limits,
                                ResolveLimits(d, conn, spec, system_));
        TANDEM_ASSIGN_OR_RETURN(std::vector<int64_t> addons,
                                CheckAddons(d, conn, spec, system_));
        Stmt insert(conn.prepareStatement(Sql(d, kInsertProduct)));
        insert->setString(1, spec.code());
        insert->setString(2, spec.name());
        insert->setString(3, spec.category());
        insert->setString(4, spec.contract_pool());
        insert->setInt(5, spec.kind() == ProductKind::PRODUCT_KIND_ADDON);
        BindFee(d, *insert, 6, spec, values);
        insert->setString(7, spec.pricing().currency());
        insert->setString(8, values.activation_json);
        TANDEM_RETURN_IF_ERROR(ExecuteProductWrite(*insert, spec, system_));
        std::unique_ptr<sql::Statement> stmt(conn.createStatement());
        Rows rows(stmt->executeQuery(kLastInsertId));
        rows->next();
        const int64_t product_id = rows->getInt64(1);
        WriteLists(d, conn, product_id, limits, addons);
        return product_id;
      });
}

absl::Status MysqlBillingCatalog::UpdateProduct(int64_t product_id,
                                                const ProductSpec& spec) {
  const Dialect& d = DialectOf(version_);
  TANDEM_RETURN_IF_ERROR(CheckFitsSchema(spec));
  TANDEM_ASSIGN_OR_RETURN(ProductRowValues values, RowValues(d, spec));
  return pool_->Transaction(
      "update product", [&](sql::Connection& conn) -> absl::Status {
        {
          Stmt lock(conn.prepareStatement(Sql(d, kLockProduct)));
          lock->setInt64(1, product_id);
          Rows rows(lock->executeQuery());
          if (!rows->next()) {
            return absl::NotFoundError(absl::StrCat("the ", SystemName(system_),
                                                    " system has no product ",
                                                    product_id));
          }
          const bool is_addon = rows->getInt(1) != 0;
          if (is_addon != (spec.kind() == ProductKind::PRODUCT_KIND_ADDON)) {
            return absl::InvalidArgumentError(
                absl::StrCat("product ", product_id, " is ",
                             is_addon ? "an add-on" : "a main product",
                             "; a product's kind never changes"));
          }
        }
        TANDEM_ASSIGN_OR_RETURN(auto limits,
                                ResolveLimits(d, conn, spec, system_));
        TANDEM_ASSIGN_OR_RETURN(std::vector<int64_t> addons,
                                CheckAddons(d, conn, spec, system_));
        Stmt update(conn.prepareStatement(Sql(d, kUpdateProduct)));
        update->setString(1, spec.code());
        update->setString(2, spec.name());
        update->setString(3, spec.category());
        update->setString(4, spec.contract_pool());
        BindFee(d, *update, 5, spec, values);
        update->setString(6, spec.pricing().currency());
        update->setString(7, values.activation_json);
        update->setInt64(8, product_id);
        TANDEM_RETURN_IF_ERROR(ExecuteProductWrite(*update, spec, system_));
        WriteLists(d, conn, product_id, limits, addons);
        return absl::OkStatus();
      });
}

absl::Status MysqlBillingCatalog::DeleteProduct(int64_t product_id) {
  const Dialect& d = DialectOf(version_);
  return pool_->Transaction(
      "delete product", [&](sql::Connection& conn) -> absl::Status {
        {
          Stmt lock(conn.prepareStatement(Sql(d, kLockProduct)));
          lock->setInt64(1, product_id);
          Rows rows(lock->executeQuery());
          if (!rows->next()) {
            return absl::NotFoundError(absl::StrCat("the ", SystemName(system_),
                                                    " system has no product ",
                                                    product_id));
          }
        }
        {
          Stmt count(conn.prepareStatement(Sql(d, kCountOpenSubscriptionsOf)));
          count->setInt64(1, product_id);
          BindStatus(d, *count, 2, kSubscriptionClosed);
          Rows rows(count->executeQuery());
          rows->next();
          if (int64_t open = rows->getInt64(1); open > 0) {
            return absl::FailedPreconditionError(absl::StrCat(
                "product ", product_id, " of the ", SystemName(system_),
                " system has ", open, " subscription", open == 1 ? "" : "s",
                " that are not closed"));
          }
        }
        Stmt delete_limits(conn.prepareStatement(Sql(d, kDeleteLimits)));
        delete_limits->setInt64(1, product_id);
        delete_limits->executeUpdate();
        Stmt delete_addons(
            conn.prepareStatement(Sql(d, kDeleteAddonRowsNaming)));
        delete_addons->setInt64(1, product_id);
        delete_addons->setInt64(2, product_id);
        delete_addons->executeUpdate();
        Stmt delete_product(conn.prepareStatement(Sql(d, kDeleteProduct)));
        delete_product->setInt64(1, product_id);
        delete_product->executeUpdate();
        return absl::OkStatus();
      });
}

absl::StatusOr<CustomerSubscriptions> MysqlBillingCatalog::ReadCustomer(
    int64_t customer_id) {
  const Dialect& d = DialectOf(version_);
  return ReadSnapshot(
      *pool_, "read customer",
      [&](sql::Connection& conn) -> absl::StatusOr<CustomerSubscriptions> {
        CustomerSubscriptions out;
        out.customer_id = customer_id;
        {
          Stmt select(conn.prepareStatement(Sql(d, kSelectCustomer)));
          select->setInt64(1, customer_id);
          Rows rows(select->executeQuery());
          if (!rows->next()) {
            return absl::NotFoundError(
                absl::StrCat("customer ", customer_id, " is not on the ",
                             SystemName(system_), " system"));
          }
          if (!d.numeric_status) {
            out.status = Str(*rows, 1);
          } else {
            const int code = rows->getInt(1);
            for (const StatusValue& v : kCustomerStatuses) {
              if (v.code == code) {
                out.status = v.name;
              }
            }
            if (out.status.empty()) {
              return absl::InternalError(
                  absl::StrCat("customer ", customer_id,
                               " has an unknown status code ", code));
            }
          }
        }
        std::map<int64_t, size_t> index;
        {
          Stmt select(
              conn.prepareStatement(Sql(d, kSelectCustomerSubscriptions)));
          select->setInt64(1, customer_id);
          BindStatus(d, *select, 2, kSubscriptionClosed);
          Rows rows(select->executeQuery());
          while (rows->next()) {
            BillingSubscription& s = out.subscriptions.emplace_back();
            s.subscription_id = rows->getInt64(1);
            s.account_row_id = rows->getInt64(2);
            s.account_id = Str(*rows, 3);
            s.product_id = rows->getInt64(4);
            s.is_addon = rows->getInt(5) != 0;
            index[s.subscription_id] = out.subscriptions.size() - 1;
          }
        }
        if (out.subscriptions.empty()) {
          return out;
        }
        {
          Stmt select(conn.prepareStatement(Sql(d, kSelectCustomerUsage)));
          select->setInt64(1, customer_id);
          BindStatus(d, *select, 2, kSubscriptionClosed);
          Rows rows(select->executeQuery());
          while (rows->next()) {
            auto it = index.find(rows->getInt64(1));
            if (it != index.end()) {
              out.subscriptions[it->second].usage[Str(*rows, 2)] =
                  rows->getInt64(3);
            }
          }
        }
        return out;
      });
}

}  // namespace tandem::catalog
