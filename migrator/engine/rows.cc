#include "migrator/engine/rows.h"

#include <openssl/evp.h>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tandem::migrator {

std::string EncodeKey(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) {
    absl::StrAppend(&out, p.size(), ":", p);
  }
  return out;
}

std::vector<std::string> DecodeKey(absl::string_view key) {
  std::vector<std::string> parts;
  while (!key.empty()) {
    size_t colon = key.find(':');
    size_t len = 0;
    if (colon == absl::string_view::npos ||
        !absl::SimpleAtoi(key.substr(0, colon), &len) ||
        colon + 1 + len > key.size()) {
      break;  // not produced by EncodeKey
    }
    parts.emplace_back(key.substr(colon + 1, len));
    key.remove_prefix(colon + 1 + len);
  }
  return parts;
}

std::string KeyOf(const TableInfo& table, const Row& row) {
  // EncodeKey of the key columns' values, appended in place: this runs for
  // every row read and converted.
  std::string out;
  for (const std::string& k : table.primary_key) {
    const int i = table.IndexOf(k);
    const std::string* value =
        i >= 0 && row[i].has_value() ? &*row[i] : nullptr;
    absl::StrAppend(&out, value == nullptr ? 0 : value->size(), ":");
    if (value != nullptr) out.append(*value);
  }
  return out;
}

TableRows& CustomerRows::Table(const TableInfo& info) {
  TableRows& t = tables[info.name];
  t.info = &info;
  return t;
}

const TableRows* CustomerRows::Find(const std::string& table) const {
  auto it = tables.find(table);
  return it == tables.end() ? nullptr : &it->second;
}

size_t CustomerRows::RowCount() const {
  size_t n = 0;
  for (const auto& [name, t] : tables) n += t.rows.size();
  return n;
}

std::string RowHash(const Row& row) {
  std::string text;
  size_t length_hint = 0;
  for (const auto& value : row) {
    length_hint += 24 + (value.has_value() ? value->size() : 0);
  }
  text.reserve(length_hint);
  for (size_t i = 0; i < row.size(); ++i) {
    if (i > 0) text.push_back('|');
    if (row[i].has_value()) {
      absl::StrAppend(&text, row[i]->size(), "|", *row[i]);
    } else {
      text.append("-1");
    }
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_md5(), nullptr);
  // Lower-case hex, as the server's MD5() gives it.
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), length));
}

std::string HashExpression(const TableInfo& table) {
  // CONCAT_WS skips NULL arguments, so a NULL value contributes only its
  // "-1" length; LENGTH counts bytes, like RowHash.
  std::string args;
  for (const ColumnInfo& c : table.columns) {
    if (!args.empty()) args += ", ";
    const std::string col = QuoteIdent(c.name);
    absl::StrAppend(&args, "IFNULL(LENGTH(", col, "), -1), ", col);
  }
  return absl::StrCat("MD5(CONCAT_WS('|', ", args, "))");
}

std::string QuoteIdent(absl::string_view name) {
  std::string out = "`";
  for (char c : name) {
    if (c == '`') out.push_back('`');
    out.push_back(c);
  }
  out.push_back('`');
  return out;
}

}  // namespace tandem::migrator
