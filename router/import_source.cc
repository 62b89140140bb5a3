#include "router/import_source.h"

#include <cppconn/parameter_metadata.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <mysql_connection.h>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/config.h"
#include "common/status_macros.h"

namespace tandem::router {

using ::tandem::router::v1::ImportedCustomer;
using ::tandem::router::v1::KeyKind;

KeyKind KeyKindFromName(absl::string_view name) {
  std::string lower = absl::AsciiStrToLower(name);
  if (lower == "login") return ::tandem::router::v1::KEY_KIND_LOGIN;
  if (lower == "account_id") return ::tandem::router::v1::KEY_KIND_ACCOUNT_ID;
  if (lower == "api_token") return ::tandem::router::v1::KEY_KIND_API_TOKEN;
  if (lower == "customer_id") return ::tandem::router::v1::KEY_KIND_CUSTOMER_ID;
  return ::tandem::router::v1::KEY_KIND_UNSPECIFIED;
}

absl::StatusOr<std::map<std::string, ImportQuery>> ParseImportConfig(
    const std::string& contents) {
  std::map<std::string, std::map<std::string, std::string>> sections;
  std::string section;
  std::string last_key;
  int line_number = 0;
  for (absl::string_view raw : absl::StrSplit(contents, '\n')) {
    ++line_number;
    absl::string_view line = absl::StripTrailingAsciiWhitespace(raw);
    absl::string_view trimmed = absl::StripLeadingAsciiWhitespace(line);
    if (trimmed.empty() || trimmed.front() == '#') {
      continue;
    }
    if (line.front() == ' ' || line.front() == '\t') {
      if (section.empty() || last_key.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "import config line ", line_number, ": continuation of nothing"));
      }
      absl::StrAppend(&sections[section][last_key], " ", trimmed);
      continue;
    }
    if (trimmed.front() == '[') {
      if (trimmed.back() != ']' || trimmed.size() < 3) {
        return absl::InvalidArgumentError(absl::StrCat(
            "import config line ", line_number, ": malformed section"));
      }
      section = std::string(trimmed.substr(1, trimmed.size() - 2));
      sections[section];
      last_key.clear();
      continue;
    }
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(trimmed, absl::MaxSplits('=', 1));
    if (section.empty() || kv.second.data() == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("import config line ", line_number,
                       ": want `key = value` in a "
                       "[section]"));
    }
    last_key = std::string(absl::StripAsciiWhitespace(kv.first));
    sections[section][last_key] =
        std::string(absl::StripAsciiWhitespace(kv.second));
  }
  std::map<std::string, ImportQuery> queries;
  for (auto& [name, fields] : sections) {
    for (const char* required : {"url", "user", "password_file", "database",
                                 "customers_query", "keys_query"}) {
      if (fields[required].empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "import config section [", name, "] has no ", required));
      }
    }
    ImportQuery& query = queries[name];
    query.name = name;
    query.db.name = absl::StrCat("import_", name);
    query.db.url = fields["url"];
    query.db.user = fields["user"];
    query.db.database = fields["database"];
    query.db.pool_size = 1;
    TANDEM_ASSIGN_OR_RETURN(query.db.password,
                            ReadSecretFile(fields["password_file"]));
    query.customers_query = fields["customers_query"];
    query.keys_query = fields["keys_query"];
  }
  return queries;
}

absl::Status ReadImportSource(
    const ImportQuery& query, int page_size,
    const std::function<absl::Status(std::vector<ImportedCustomer>)>& sink) {
  TANDEM_ASSIGN_OR_RETURN(std::unique_ptr<MysqlPool> pool,
                          MysqlPool::Create(query.db));
  int64_t after = std::numeric_limits<int64_t>::min();
  while (true) {
    std::vector<ImportedCustomer> page;
    TANDEM_RETURN_IF_ERROR(pool->Run(
        absl::StrCat("import query ", query.name),
        [&](sql::Connection& conn) -> absl::Status {
          std::unique_ptr<sql::PreparedStatement> customers(
              conn.prepareStatement(query.customers_query));
          customers->setInt64(1, after);
          customers->setInt(2, page_size);
          std::unique_ptr<sql::ResultSet> rows(customers->executeQuery());
          absl::flat_hash_map<int64_t, size_t> index;
          while (rows->next()) {
            int64_t id = rows->getInt64(1);
            index[id] = page.size();
            page.emplace_back().set_customer_id(id);
          }
          if (page.empty()) {
            return absl::OkStatus();
          }
          std::unique_ptr<sql::PreparedStatement> keys(
              conn.prepareStatement(query.keys_query));
          int params = keys->getParameterMetaData()->getParameterCount();
          for (int p = 1; p <= params; ++p) {
            keys->setInt64(p, p % 2 == 1 ? page.front().customer_id()
                                         : page.back().customer_id());
          }
          std::unique_ptr<sql::ResultSet> key_rows(keys->executeQuery());
          while (key_rows->next()) {
            auto it = index.find(key_rows->getInt64(1));
            KeyKind kind = KeyKindFromName(std::string(key_rows->getString(2)));
            std::string value = key_rows->getString(3);
            if (it == index.end() || value.empty() ||
                kind == ::tandem::router::v1::KEY_KIND_UNSPECIFIED ||
                kind == ::tandem::router::v1::KEY_KIND_CUSTOMER_ID) {
              continue;
            }
            auto* key = page[it->second].add_keys();
            key->set_kind(kind);
            key->set_value(value);
          }
          return absl::OkStatus();
        }));
    if (page.empty()) {
      return absl::OkStatus();
    }
    after = page.back().customer_id();
    bool last_page = static_cast<int>(page.size()) < page_size;
    TANDEM_RETURN_IF_ERROR(sink(std::move(page)));
    if (last_page) {
      return absl::OkStatus();
    }
  }
}

}  // namespace tandem::router
