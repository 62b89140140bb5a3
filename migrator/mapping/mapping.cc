#include "migrator/mapping/mapping.h"

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace tandem::migrator {
namespace {

// Parsing context: the file name for locations, and the first error.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  Location At(const YAML::Node& node) const {
    return Location{file_, node.Mark().line + 1};
  }

  absl::Status Error(const YAML::Node& node, absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(At(node).ToString(), ": ", what));
  }

  // A required scalar member `key` of map `node`.
  absl::StatusOr<std::string> Str(const YAML::Node& node,
                                  const std::string& key) const {
    const YAML::Node value = node[key];
    if (!value || !value.IsScalar() || value.Scalar().empty()) {
      return Error(node, absl::StrCat("`", key, "` is required (a string)"));
    }
    return value.Scalar();
  }

  // An optional scalar member; empty when absent.
  absl::StatusOr<std::string> OptStr(const YAML::Node& node,
                                     const std::string& key) const {
    const YAML::Node value = node[key];
    if (!value) return std::string();
    if (!value.IsScalar()) {
      return Error(value, absl::StrCat("`", key, "` must be a string"));
    }
    return value.Scalar();
  }

  absl::StatusOr<bool> OptBool(const YAML::Node& node,
                               const std::string& key) const {
    const YAML::Node value = node[key];
    if (!value) return false;
    if (!value.IsScalar() ||
        (value.Scalar() != "true" && value.Scalar() != "false")) {
      return Error(value, absl::StrCat("`", key, "` must be true or false"));
    }
    return value.Scalar() == "true";
  }

  absl::Status AllowedKeys(const YAML::Node& node,
                           std::initializer_list<const char*> keys) const {
    if (!node.IsMap()) return Error(node, "expected a map");
    for (const auto& item : node) {
      const std::string key = item.first.as<std::string>();
      bool known = false;
      for (const char* k : keys) known = known || key == k;
      if (!known) {
        return Error(item.first, absl::StrCat("unknown key `", key, "`"));
      }
    }
    return absl::OkStatus();
  }

 private:
  std::string file_;
};

std::string Sha256Hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(),
             nullptr);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    absl::StrAppendFormat(&hex, "%02x", digest[i]);
  }
  return hex;
}

absl::StatusOr<ColumnSpec> ParseColumn(const Reader& r, const std::string& name,
                                       const YAML::Node& node) {
  ColumnSpec c;
  c.target = name;
  c.location = r.At(node);
  if (node.IsScalar()) {
    c.from = node.Scalar();
    return c;
  }
  TANDEM_RETURN_IF_ERROR(r.AllowedKeys(
      node,
      {"from", "const", "convert", "enum", "inverse", "catalog", "subscription",
       "drop_row_if_not_carried", "id", "sum", "additive"}));
  TANDEM_ASSIGN_OR_RETURN(c.from, r.OptStr(node, "from"));
  if (node["const"]) {
    TANDEM_ASSIGN_OR_RETURN(c.constant, r.OptStr(node, "const"));
  }
  if (c.from.empty() == !c.constant.has_value()) {
    return r.Error(node, absl::StrCat("column `", name,
                                      "` needs exactly one of `from` and "
                                      "`const`"));
  }
  TANDEM_ASSIGN_OR_RETURN(c.convert, r.OptStr(node, "convert"));
  TANDEM_ASSIGN_OR_RETURN(c.enum_name, r.OptStr(node, "enum"));
  TANDEM_ASSIGN_OR_RETURN(c.inverse, r.OptBool(node, "inverse"));
  TANDEM_ASSIGN_OR_RETURN(c.catalog, r.OptStr(node, "catalog"));
  TANDEM_ASSIGN_OR_RETURN(c.subscription_column,
                          r.OptStr(node, "subscription"));
  TANDEM_ASSIGN_OR_RETURN(c.drop_row_if_not_carried,
                          r.OptBool(node, "drop_row_if_not_carried"));
  TANDEM_ASSIGN_OR_RETURN(c.id_space, r.OptStr(node, "id"));
  TANDEM_ASSIGN_OR_RETURN(c.sum, r.OptBool(node, "sum"));
  TANDEM_ASSIGN_OR_RETURN(c.additive, r.OptBool(node, "additive"));
  int kinds = !c.convert.empty() + !c.enum_name.empty() + !c.catalog.empty() +
              !c.id_space.empty();
  if (kinds > 1) {
    return r.Error(node, absl::StrCat("column `", name,
                                      "` has more than one of convert, enum, "
                                      "catalog and id"));
  }
  if (!c.catalog.empty() && c.catalog != "product" &&
      c.catalog != "resource_type") {
    return r.Error(node, "`catalog` must be product or resource_type");
  }
  if (c.catalog == "resource_type" && c.subscription_column.empty()) {
    return r.Error(node,
                   "a resource type needs `subscription`: the column holding "
                   "the subscription whose plan decides");
  }
  if (c.drop_row_if_not_carried && c.catalog.empty()) {
    return r.Error(node, "drop_row_if_not_carried needs `catalog`");
  }
  if (c.inverse && c.convert.empty() && c.enum_name.empty()) {
    return r.Error(node, "`inverse` needs `convert` or `enum`");
  }
  return c;
}

absl::StatusOr<OwnerSpec> ParseOwner(const Reader& r, const YAML::Node& node) {
  OwnerSpec owner;
  if (!node) return r.Error(node, "`owner` is required");
  if (node.IsScalar()) {
    owner.column = node.Scalar();
    return owner;
  }
  TANDEM_RETURN_IF_ERROR(r.AllowedKeys(node, {"via", "key", "owner"}));
  TANDEM_ASSIGN_OR_RETURN(owner.via_table, r.Str(node, "via"));
  TANDEM_ASSIGN_OR_RETURN(owner.via_key, r.Str(node, "key"));
  TANDEM_ASSIGN_OR_RETURN(owner.via_owner, r.Str(node, "owner"));
  return owner;
}

absl::StatusOr<TableMapping> ParseTable(const Reader& r,
                                        const YAML::Node& node) {
  TableMapping t;
  t.location = r.At(node);
  TANDEM_RETURN_IF_ERROR(
      r.AllowedKeys(node, {"from", "to", "owner", "columns", "append_only",
                           "merge", "split_json", "collect_json", "defaults"}));
  TANDEM_ASSIGN_OR_RETURN(t.from, r.Str(node, "from"));
  TANDEM_ASSIGN_OR_RETURN(t.to, r.Str(node, "to"));
  TANDEM_ASSIGN_OR_RETURN(t.owner, ParseOwner(r, node["owner"]));
  TANDEM_ASSIGN_OR_RETURN(t.append_only, r.OptBool(node, "append_only"));
  TANDEM_ASSIGN_OR_RETURN(std::string merge, r.OptStr(node, "merge"));
  if (!merge.empty() && merge != "sum") {
    return r.Error(node["merge"], "`merge` must be sum");
  }
  t.merge_sum = merge == "sum";
  if (const YAML::Node split = node["split_json"]) {
    TANDEM_RETURN_IF_ERROR(r.AllowedKeys(split, {"from", "name", "value"}));
    TableMapping::SplitJson s;
    TANDEM_ASSIGN_OR_RETURN(s.from, r.Str(split, "from"));
    TANDEM_ASSIGN_OR_RETURN(s.name, r.Str(split, "name"));
    TANDEM_ASSIGN_OR_RETURN(s.value, r.Str(split, "value"));
    t.split_json = s;
  }
  if (const YAML::Node collect = node["collect_json"]) {
    TANDEM_RETURN_IF_ERROR(r.AllowedKeys(collect, {"into", "name", "value"}));
    TableMapping::CollectJson c;
    TANDEM_ASSIGN_OR_RETURN(c.into, r.Str(collect, "into"));
    TANDEM_ASSIGN_OR_RETURN(c.name, r.Str(collect, "name"));
    TANDEM_ASSIGN_OR_RETURN(c.value, r.Str(collect, "value"));
    t.collect_json = c;
  }
  if (t.split_json && t.collect_json) {
    return r.Error(node, "an entry cannot both split and collect JSON");
  }
  if (t.merge_sum && (t.split_json || t.collect_json)) {
    return r.Error(node, "merge: sum cannot be combined with JSON rows");
  }
  if (const YAML::Node defaults = node["defaults"]) {
    if (!defaults.IsMap()) return r.Error(defaults, "`defaults` is a map");
    for (const auto& item : defaults) {
      t.defaults[item.first.as<std::string>()] = item.second.as<std::string>();
    }
  }
  const YAML::Node columns = node["columns"];
  if (!columns || !columns.IsMap() || columns.size() == 0) {
    return r.Error(node, "`columns` is required (a map)");
  }
  std::set<std::string> seen;
  for (const auto& item : columns) {
    const std::string name = item.first.as<std::string>();
    if (!seen.insert(name).second) {
      return r.Error(item.first,
                     absl::StrCat("column `", name, "` is mapped twice"));
    }
    TANDEM_ASSIGN_OR_RETURN(ColumnSpec c, ParseColumn(r, name, item.second));
    if (c.sum && !t.merge_sum) {
      return r.Error(item.second, "`sum` needs `merge: sum` on the entry");
    }
    t.columns.push_back(std::move(c));
  }
  if (t.merge_sum) {
    bool any = false;
    for (const ColumnSpec& c : t.columns) any = any || c.sum;
    if (!any) return r.Error(node, "merge: sum needs a column with sum: true");
  }
  return t;
}

absl::StatusOr<BalanceSide> ParseBalanceSide(const Reader& r,
                                             const YAML::Node& node) {
  BalanceSide b;
  TANDEM_RETURN_IF_ERROR(r.AllowedKeys(node, {"holder", "transactions"}));
  const YAML::Node holder = node["holder"];
  const YAML::Node tx = node["transactions"];
  if (!holder || !tx) return r.Error(node, "needs holder and transactions");
  TANDEM_RETURN_IF_ERROR(
      r.AllowedKeys(holder, {"table", "key", "balance", "owner"}));
  TANDEM_ASSIGN_OR_RETURN(b.holder_table, r.Str(holder, "table"));
  TANDEM_ASSIGN_OR_RETURN(b.holder_key, r.Str(holder, "key"));
  TANDEM_ASSIGN_OR_RETURN(b.balance, r.Str(holder, "balance"));
  TANDEM_ASSIGN_OR_RETURN(b.holder_owner, r.Str(holder, "owner"));
  TANDEM_RETURN_IF_ERROR(
      r.AllowedKeys(tx, {"table", "amount", "holder", "owner", "only_null"}));
  TANDEM_ASSIGN_OR_RETURN(b.tx_table, r.Str(tx, "table"));
  TANDEM_ASSIGN_OR_RETURN(b.tx_amount, r.Str(tx, "amount"));
  TANDEM_ASSIGN_OR_RETURN(b.tx_holder, r.Str(tx, "holder"));
  TANDEM_ASSIGN_OR_RETURN(b.tx_owner, r.Str(tx, "owner"));
  TANDEM_ASSIGN_OR_RETURN(b.tx_only_null, r.OptStr(tx, "only_null"));
  return b;
}

absl::StatusOr<TotalsSide> ParseTotalsSide(const Reader& r,
                                           const YAML::Node& node) {
  TotalsSide t;
  TANDEM_RETURN_IF_ERROR(
      r.AllowedKeys(node, {"table", "owner", "group", "month", "sum"}));
  TANDEM_ASSIGN_OR_RETURN(t.table, r.Str(node, "table"));
  TANDEM_ASSIGN_OR_RETURN(t.owner, r.Str(node, "owner"));
  TANDEM_ASSIGN_OR_RETURN(t.group, r.Str(node, "group"));
  TANDEM_ASSIGN_OR_RETURN(t.month, r.OptStr(node, "month"));
  TANDEM_ASSIGN_OR_RETURN(t.sum, r.Str(node, "sum"));
  return t;
}

// Looks up the two per-schema members ("v1"/"v2") of `node`.
absl::StatusOr<SelectorSpec> ParseSelectors(const Reader& r,
                                            const YAML::Node& node) {
  SelectorSpec spec;
  spec.present = true;
  TANDEM_RETURN_IF_ERROR(
      r.AllowedKeys(node, {"products", "payment_systems", "accounts"}));
  for (const char* key : {"products", "payment_systems", "accounts"}) {
    if (!node[key]) return r.Error(node, absl::StrCat("`", key, "` needed"));
  }
  const YAML::Node products = node["products"];
  TANDEM_RETURN_IF_ERROR(
      r.AllowedKeys(products, {"table", "customer", "product"}));
  TANDEM_ASSIGN_OR_RETURN(spec.products_table, r.Str(products, "table"));
  TANDEM_ASSIGN_OR_RETURN(spec.products_customer, r.Str(products, "customer"));
  TANDEM_ASSIGN_OR_RETURN(spec.products_product, r.Str(products, "product"));
  const YAML::Node payment = node["payment_systems"];
  TANDEM_RETURN_IF_ERROR(
      r.AllowedKeys(payment, {"column", "names_table", "names_id", "name"}));
  TANDEM_ASSIGN_OR_RETURN(spec.payment_column, r.Str(payment, "column"));
  TANDEM_ASSIGN_OR_RETURN(spec.payment_names_table,
                          r.Str(payment, "names_table"));
  TANDEM_ASSIGN_OR_RETURN(spec.payment_names_id, r.Str(payment, "names_id"));
  TANDEM_ASSIGN_OR_RETURN(spec.payment_names_name, r.Str(payment, "name"));
  const YAML::Node accounts = node["accounts"];
  TANDEM_RETURN_IF_ERROR(r.AllowedKeys(accounts, {"table", "customer"}));
  TANDEM_ASSIGN_OR_RETURN(spec.accounts_table, r.Str(accounts, "table"));
  TANDEM_ASSIGN_OR_RETURN(spec.accounts_customer, r.Str(accounts, "customer"));
  return spec;
}

absl::Status PerSide(const Reader& r, const YAML::Node& node,
                     const std::string names[2], YAML::Node out[2]) {
  if (!node || !node.IsMap()) return r.Error(node, "expected a map");
  for (int side = 0; side < 2; ++side) {
    out[side] = node[names[side]];
    if (!out[side]) {
      return r.Error(node, absl::StrCat("`", names[side], "` is required"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

const char* DirectionName(Direction direction) {
  return direction == Direction::kMove ? "move" : "rollback";
}

std::string Location::ToString() const { return absl::StrCat(file, ":", line); }

absl::StatusOr<Mapping> Mapping::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read mapping file ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  TANDEM_ASSIGN_OR_RETURN(Mapping mapping, Parse(text.str(), path));
  mapping.path_ = path;
  return mapping;
}

// Parse's steps, one per section of the file; each fills its part of the
// mapping or says precisely what is wrong, at which line.
class MappingParser {
 public:
  MappingParser(Reader& r, Mapping& m) : r_(r), m_(m) {}

  absl::Status Header(const YAML::Node& root) {
    TANDEM_RETURN_IF_ERROR(r_.AllowedKeys(
        root, {"version", "schemas", "native_id_start", "conversions", "enums",
               "customer", "catalog", "selectors", "balances", "adjustment",
               "checks", "directions"}));
    TANDEM_ASSIGN_OR_RETURN(m_.version_, r_.Str(root, "version"));
    const YAML::Node schemas = root["schemas"];
    if (!schemas) return r_.Error(root, "`schemas` is required");
    TANDEM_RETURN_IF_ERROR(r_.AllowedKeys(schemas, {"source", "target"}));
    TANDEM_ASSIGN_OR_RETURN(m_.schema_names_[0], r_.Str(schemas, "source"));
    TANDEM_ASSIGN_OR_RETURN(m_.schema_names_[1], r_.Str(schemas, "target"));
    if (m_.schema_names_[0] == m_.schema_names_[1]) {
      return r_.Error(schemas, "source and target need different names");
    }
    TANDEM_ASSIGN_OR_RETURN(std::string native,
                            r_.Str(root, "native_id_start"));
    if (!absl::SimpleAtoi(native, &m_.native_id_start_) ||
        m_.native_id_start_ <= 0) {
      return r_.Error(root["native_id_start"], "must be a positive integer");
    }
    return absl::OkStatus();
  }

  absl::Status Conversions(const YAML::Node& conversions) {
    if (!conversions) return absl::OkStatus();
    for (const auto& item : conversions) {
      ScaleConversion c;
      c.name = item.first.as<std::string>();
      TANDEM_RETURN_IF_ERROR(r_.AllowedKeys(item.second, {"scale"}));
      TANDEM_ASSIGN_OR_RETURN(std::string scale, r_.Str(item.second, "scale"));
      if (!absl::SimpleAtoi(scale, &c.scale) || c.scale <= 0) {
        return r_.Error(item.second, "scale must be a positive integer");
      }
      int64_t power = c.scale;
      while (power % 10 == 0) power /= 10;
      if (power != 1) {
        return r_.Error(item.second, "scale must be a power of ten");
      }
      m_.conversions_[c.name] = c;
    }
    return absl::OkStatus();
  }

  absl::Status Enums(const YAML::Node& enums) {
    if (!enums) return absl::OkStatus();
    for (const auto& item : enums) {
      EnumConversion e;
      e.name = item.first.as<std::string>();
      if (!item.second.IsMap() || item.second.size() == 0) {
        return r_.Error(item.second, "an enum is a non-empty map");
      }
      for (const auto& value : item.second) {
        std::string from = value.first.as<std::string>();
        std::string to = value.second.as<std::string>();
        if (!e.backward.emplace(to, from).second) {
          return r_.Error(value.second,
                          absl::StrCat("enum ", e.name, " maps two values to ",
                                       to, ": it cannot go back"));
        }
        e.forward[from] = to;
      }
      m_.enums_[e.name] = e;
    }
    return absl::OkStatus();
  }

  absl::Status Customer(const YAML::Node& customer) {
    YAML::Node sides[2];
    TANDEM_RETURN_IF_ERROR(PerSide(r_, customer, m_.schema_names_, sides));
    for (int s = 0; s < 2; ++s) {
      TANDEM_RETURN_IF_ERROR(
          r_.AllowedKeys(sides[s], {"table", "key", "status", "exported"}));
      CustomerSpec& c = m_.customer_[s];
      TANDEM_ASSIGN_OR_RETURN(c.table, r_.Str(sides[s], "table"));
      TANDEM_ASSIGN_OR_RETURN(c.key, r_.Str(sides[s], "key"));
      TANDEM_ASSIGN_OR_RETURN(c.status, r_.Str(sides[s], "status"));
      TANDEM_ASSIGN_OR_RETURN(c.exported, r_.Str(sides[s], "exported"));
    }
    return absl::OkStatus();
  }

  absl::Status Catalog(const YAML::Node& catalog) {
    YAML::Node sides[2];
    TANDEM_RETURN_IF_ERROR(PerSide(r_, catalog, m_.schema_names_, sides));
    for (int s = 0; s < 2; ++s) {
      for (auto [key, out] :
           {std::pair<const char*, CatalogTable*>{"products",
                                                  &m_.catalog_[s].products},
            {"resource_types", &m_.catalog_[s].resource_types}}) {
        const YAML::Node t = sides[s][key];
        if (!t) return r_.Error(sides[s], absl::StrCat("`", key, "` needed"));
        TANDEM_ASSIGN_OR_RETURN(out->table, r_.Str(t, "table"));
        TANDEM_ASSIGN_OR_RETURN(out->id, r_.Str(t, "id"));
        TANDEM_ASSIGN_OR_RETURN(out->code, r_.Str(t, "code"));
      }
    }
    return absl::OkStatus();
  }

  absl::Status Selectors(const YAML::Node& selectors) {
    if (!selectors) return absl::OkStatus();
    YAML::Node sides[2];
    TANDEM_RETURN_IF_ERROR(PerSide(r_, selectors, m_.schema_names_, sides));
    for (int s = 0; s < 2; ++s) {
      TANDEM_ASSIGN_OR_RETURN(m_.selectors_[s], ParseSelectors(r_, sides[s]));
    }
    return absl::OkStatus();
  }

  absl::Status Balances(const YAML::Node& balances) {
    if (!balances) return absl::OkStatus();
    for (const YAML::Node& b : balances) {
      BalanceSpec spec;
      TANDEM_ASSIGN_OR_RETURN(spec.name, r_.Str(b, "name"));
      TANDEM_ASSIGN_OR_RETURN(spec.convert, r_.Str(b, "convert"));
      TANDEM_RETURN_IF_ERROR(KnownConversion(b, spec.convert));
      YAML::Node sides[2];
      TANDEM_RETURN_IF_ERROR(PerSide(r_, b, m_.schema_names_, sides));
      for (int s = 0; s < 2; ++s) {
        TANDEM_ASSIGN_OR_RETURN(spec.v[s], ParseBalanceSide(r_, sides[s]));
      }
      m_.balances_.push_back(std::move(spec));
    }
    return absl::OkStatus();
  }

  absl::Status Adjustment(const YAML::Node& adjustment) {
    YAML::Node sides[2];
    TANDEM_RETURN_IF_ERROR(PerSide(r_, adjustment, m_.schema_names_, sides));
    for (int s = 0; s < 2; ++s) {
      TANDEM_ASSIGN_OR_RETURN(m_.adjustment_[s].table,
                              r_.Str(sides[s], "table"));
      const YAML::Node columns = sides[s]["columns"];
      if (!columns || !columns.IsMap()) {
        return r_.Error(sides[s], "`columns` is required (a map)");
      }
      for (const auto& item : columns) {
        m_.adjustment_[s].columns[item.first.as<std::string>()] =
            item.second.as<std::string>();
      }
    }
    return absl::OkStatus();
  }

  absl::Status Checks(const YAML::Node& checks) {
    if (!checks) return absl::OkStatus();
    for (const YAML::Node& c : checks) {
      TotalsCheck check;
      TANDEM_ASSIGN_OR_RETURN(check.name, r_.Str(c, "name"));
      TANDEM_ASSIGN_OR_RETURN(check.convert, r_.OptStr(c, "convert"));
      if (!check.convert.empty()) {
        TANDEM_RETURN_IF_ERROR(KnownConversion(c, check.convert));
      }
      YAML::Node sides[2];
      TANDEM_RETURN_IF_ERROR(PerSide(r_, c, m_.schema_names_, sides));
      for (int s = 0; s < 2; ++s) {
        TANDEM_ASSIGN_OR_RETURN(check.v[s], ParseTotalsSide(r_, sides[s]));
      }
      m_.checks_.push_back(std::move(check));
    }
    return absl::OkStatus();
  }

  absl::Status Directions(const YAML::Node& root) {
    const YAML::Node directions = root["directions"];
    if (!directions) return r_.Error(root, "`directions` is required");
    TANDEM_RETURN_IF_ERROR(r_.AllowedKeys(directions, {"move", "rollback"}));
    for (Direction d : {Direction::kMove, Direction::kRollback}) {
      const YAML::Node list = directions[DirectionName(d)];
      if (!list || !list.IsSequence() || list.size() == 0) {
        return r_.Error(directions, absl::StrCat("`", DirectionName(d),
                                                 "` is required (a list)"));
      }
      std::vector<TableMapping>& out =
          d == Direction::kMove ? m_.move_ : m_.rollback_;
      for (const YAML::Node& entry : list) {
        TANDEM_ASSIGN_OR_RETURN(TableMapping t, ParseTable(r_, entry));
        TANDEM_RETURN_IF_ERROR(KnownColumnConversions(t));
        out.push_back(std::move(t));
      }
    }
    return absl::OkStatus();
  }

 private:
  absl::Status KnownConversion(const YAML::Node& at, const std::string& name) {
    if (m_.conversions_.count(name)) return absl::OkStatus();
    return r_.Error(at, absl::StrCat("unknown conversion ", name));
  }

  absl::Status KnownColumnConversions(const TableMapping& t) {
    for (const ColumnSpec& c : t.columns) {
      if (!c.convert.empty() && !m_.conversions_.count(c.convert)) {
        return absl::InvalidArgumentError(absl::StrCat(
            c.location.ToString(), ": unknown conversion `", c.convert, "`"));
      }
      if (!c.enum_name.empty() && !m_.enums_.count(c.enum_name)) {
        return absl::InvalidArgumentError(absl::StrCat(
            c.location.ToString(), ": unknown enum `", c.enum_name, "`"));
      }
    }
    return absl::OkStatus();
  }

  Reader& r_;
  Mapping& m_;
};

absl::StatusOr<Mapping> Mapping::Parse(const std::string& text,
                                       const std::string& file_name) {
  Reader r(file_name);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_name, ":", e.mark.line + 1, ": not YAML: ", e.msg));
  }
  Mapping m;
  m.path_ = file_name;
  m.digest_ = Sha256Hex(text);
  MappingParser p(r, m);
  try {
    TANDEM_RETURN_IF_ERROR(p.Header(root));
    TANDEM_RETURN_IF_ERROR(p.Conversions(root["conversions"]));
    TANDEM_RETURN_IF_ERROR(p.Enums(root["enums"]));
    TANDEM_RETURN_IF_ERROR(p.Customer(root["customer"]));
    TANDEM_RETURN_IF_ERROR(p.Catalog(root["catalog"]));
    TANDEM_RETURN_IF_ERROR(p.Selectors(root["selectors"]));
    TANDEM_RETURN_IF_ERROR(p.Balances(root["balances"]));
    TANDEM_RETURN_IF_ERROR(p.Adjustment(root["adjustment"]));
    TANDEM_RETURN_IF_ERROR(p.Checks(root["checks"]));
    TANDEM_RETURN_IF_ERROR(p.Directions(root));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_name, ":", e.mark.line + 1, ": malformed: ", e.msg));
  }
  return m;
}

const OwnerSpec* Mapping::OwnerOf(SchemaSide side,
                                  const std::string& table) const {
  const Direction reads =
      side == kSourceSide ? Direction::kMove : Direction::kRollback;
  for (const TableMapping& t : tables(reads)) {
    if (t.from == table) return &t.owner;
  }
  return nullptr;
}

std::vector<std::string> Mapping::TablesOf(SchemaSide side) const {
  std::set<std::string> names;
  for (Direction d : {Direction::kMove, Direction::kRollback}) {
    for (const TableMapping& t : tables(d)) {
      names.insert(ReadSide(d) == side ? t.from : t.to);
    }
  }
  return {names.begin(), names.end()};
}

}  // namespace tandem::migrator
