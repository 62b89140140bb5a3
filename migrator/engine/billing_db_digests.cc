// BillingDb's digests of a customer's rows, computed by the server: the
// row hashes and per-table totals the catch-up and the verification compare,
// and the cheap per-customer digests the tail probes many customers with.
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <mysql_connection.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "migrator/engine/billing_db.h"

namespace tandem::migrator {
namespace {

using Stmt = std::unique_ptr<sql::PreparedStatement>;
using Rows = std::unique_ptr<sql::ResultSet>;

}  // namespace

absl::StatusOr<Hashes> BillingDb::HashCustomer(
    sql::Connection& conn, int64_t customer_id,
    const std::vector<std::string>& tables) const {
  Hashes out;
  try {
    for (const std::string& name : tables) {
      const TableInfo* info = schema_->Find(name);
      if (info == nullptr) continue;
      std::vector<std::string> keys;
      for (const std::string& k : info->primary_key)
        keys.push_back(QuoteIdent(k));
      Stmt ps(conn.prepareStatement(absl::StrCat(
          "SELECT ", absl::StrJoin(keys, ","), ", ", HashExpression(*info),
          " FROM ", Qualified(name), " ", OwnerFilter(name, true))));
      ps->setInt64(1, customer_id);
      Rows rs(ps->executeQuery());
      std::map<std::string, std::string>& t = out[name];
      const int n = static_cast<int>(keys.size());
      while (rs->next()) {
        std::vector<std::string> parts;
        for (int i = 1; i <= n; ++i) parts.emplace_back(rs->getString(i));
        t.emplace(EncodeKey(parts), std::string(rs->getString(n + 1)));
      }
    }
  } catch (const sql::SQLException& e) {
    return MysqlErrorToStatus(e, "hash customer");
  }
  return out;
}

HashTotal TotalOf(const std::map<std::string, std::string>& hashes) {
  HashTotal total;
  for (const auto& [key, hash] : hashes) {
    ++total.rows;
    uint64_t half[2] = {0, 0};
    for (size_t i = 0; i < hash.size() && i < 32; ++i) {
      const char c = hash[i];
      const uint64_t digit = c >= 'a' ? c - 'a' + 10 : c - '0';
      half[i / 16] = (half[i / 16] << 4) | (digit & 0xf);
    }
    total.high ^= half[0];
    total.low ^= half[1];
  }
  return total;
}

absl::StatusOr<std::map<std::string, HashTotal>> BillingDb::HashTotals(
    sql::Connection& conn, int64_t customer_id,
    const std::vector<std::string>& tables) const {
  // One statement for every table (a round trip and a parse, not one per
  // table): the tail probes each of its customers this way every pass.
  std::vector<std::string> parts;
  std::vector<std::string> names;
  for (const std::string& name : tables) {
    const TableInfo* info = schema_->Find(name);
    if (info == nullptr) continue;
    // CONV reads 16 hex digits exactly (64-bit); BIT_XOR of no rows is 0.
    parts.push_back(absl::StrCat(
        "SELECT ", names.size(),
        ", COUNT(*), "
        "BIT_XOR(CAST(CONV(SUBSTRING(h, 1, 16), 16, 10) AS UNSIGNED)), "
        "BIT_XOR(CAST(CONV(SUBSTRING(h, 17, 16), 16, 10) AS UNSIGNED)) "
        "FROM (SELECT ",
        HashExpression(*info), " AS h FROM ", Qualified(name), " ",
        OwnerFilter(name, true), ") AS hashed"));
    names.push_back(name);
  }
  std::map<std::string, HashTotal> out;
  if (names.empty()) return out;
  try {
    Stmt ps(conn.prepareStatement(absl::StrJoin(parts, " UNION ALL ")));
    for (size_t i = 0; i < names.size(); ++i) {
      ps->setInt64(static_cast<int>(i) + 1, customer_id);
    }
    Rows rs(ps->executeQuery());
    for (const std::string& name : names) out[name];
    while (rs->next()) {
      const int64_t i = rs->getInt64(1);
      if (i < 0 || i >= static_cast<int64_t>(names.size())) continue;
      HashTotal& t = out[names[i]];
      t.rows = rs->getInt64(2);
      t.high = rs->getUInt64(3);
      t.low = rs->getUInt64(4);
    }
  } catch (const sql::SQLException& e) {
    return MysqlErrorToStatus(e, "hash totals");
  }
  return out;
}

absl::StatusOr<std::map<int64_t, std::map<std::string, HashTotal>>>
BillingDb::ColumnDigests(
    sql::Connection& conn, const std::vector<int64_t>& customers,
    const std::map<std::string, std::vector<std::string>>& columns) const {
  std::map<int64_t, std::map<std::string, HashTotal>> out;
  if (customers.empty()) return out;
  const std::string marks =
      absl::StrJoin(std::vector<std::string>(customers.size(), "?"), ",");
  std::vector<std::string> parts;
  std::vector<std::string> names;
  for (const auto& [name, wanted] : columns) {
    const TableInfo* info = schema_->Find(name);
    const OwnerSpec* owner = mapping_->OwnerOf(side_, name);
    if (info == nullptr || owner == nullptr) continue;
    // CONCAT_WS skips NULLs: each value is preceded by its length (-1 for
    // NULL), as in HashExpression.
    std::vector<std::string> args;
    std::vector<std::string> cols = info->primary_key;
    cols.insert(cols.end(), wanted.begin(), wanted.end());
    for (const std::string& c : cols) {
      const std::string col = absl::StrCat("t.", QuoteIdent(c));
      args.push_back(absl::StrCat("IFNULL(LENGTH(", col, "), -1), ", col));
    }
    const std::string x =
        absl::StrCat("CONCAT_WS('|', ", absl::StrJoin(args, ", "), ")");
    const std::string who =
        owner->direct() ? absl::StrCat("t.", QuoteIdent(owner->column))
                        : absl::StrCat("v.", QuoteIdent(owner->via_owner));
    const std::string from =
        owner->direct()
            ? absl::StrCat(Qualified(name), " AS t")
            : absl::StrCat(Qualified(name), " AS t JOIN ",
                           Qualified(owner->via_table), " AS v ON v.",
                           QuoteIdent(owner->via_key), " = t.",
                           QuoteIdent(owner->via_key));
    parts.push_back(absl::StrCat(
        "SELECT ", names.size(), ", ", who, ", COUNT(*), BIT_XOR(CRC32(", x,
        ")), BIT_XOR(CRC32C(", x, ")) FROM ", from, " WHERE ", who, " IN (",
        marks, ") GROUP BY ", who));
    names.push_back(name);
  }
  for (int64_t c : customers) {
    for (const std::string& name : names) out[c][name];
  }
  if (names.empty()) return out;
  try {
    Stmt ps(conn.prepareStatement(absl::StrJoin(parts, " UNION ALL ")));
    int i = 1;
    for (size_t t = 0; t < names.size(); ++t) {
      for (int64_t c : customers) ps->setInt64(i++, c);
    }
    Rows rs(ps->executeQuery());
    while (rs->next()) {
      const int64_t t = rs->getInt64(1);
      auto customer = out.find(rs->getInt64(2));
      if (t < 0 || t >= static_cast<int64_t>(names.size()) ||
          customer == out.end()) {
        continue;
      }
      HashTotal& total = customer->second[names[t]];
      total.rows = rs->getInt64(3);
      total.high = rs->getUInt64(4);
      total.low = rs->getUInt64(5);
    }
  } catch (const sql::SQLException& e) {
    return MysqlErrorToStatus(e, "column digests");
  }
  return out;
}

}  // namespace tandem::migrator
