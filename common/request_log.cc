#include "common/request_log.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <mysql_connection.h>

#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace tandem {

absl::Status ValidateRequestId(const std::string& request_id) {
  if (request_id.size() > kMaxRequestIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("request_id is at most ", kMaxRequestIdBytes, " bytes"));
  }
  return absl::OkStatus();
}

std::string RequestLog::CreateTableStatement() const {
  return absl::StrCat("CREATE TABLE IF NOT EXISTS ", table_,
                      " ("
                      " request_id VARCHAR(64) NOT NULL PRIMARY KEY,"
                      " method VARCHAR(64) NOT NULL,"
                      " response MEDIUMBLOB NOT NULL,"
                      " resource_version BIGINT NOT NULL DEFAULT -1,"
                      " created_at_ms BIGINT NOT NULL,"
                      " KEY k_created (created_at_ms)) ENGINE=InnoDB");
}

absl::StatusOr<bool> RequestLog::Find(sql::Connection& conn,
                                      const std::string& request_id,
                                      const std::string& method,
                                      Record* record) const {
  if (request_id.empty()) return false;
  std::unique_ptr<sql::PreparedStatement> select(conn.prepareStatement(
      absl::StrCat("SELECT method, response, resource_version FROM ", table_,
                   " WHERE request_id = ? FOR UPDATE")));
  select->setString(1, request_id);
  std::unique_ptr<sql::ResultSet> rows(select->executeQuery());
  if (!rows->next()) return false;
  if (std::string(rows->getString("method")) != method) {
    return absl::InvalidArgumentError(
        absl::StrCat("request_id ", request_id, " was used for ",
                     std::string(rows->getString("method"))));
  }
  record->response = rows->getString("response");
  record->version = rows->getInt64("resource_version");
  return true;
}

absl::StatusOr<bool> RequestLog::Find(sql::Connection& conn,
                                      const std::string& request_id,
                                      const std::string& method,
                                      google::protobuf::Message* response,
                                      int64_t* version) const {
  Record record;
  absl::StatusOr<bool> found = Find(conn, request_id, method, &record);
  if (!found.ok() || !*found) return found;
  if (!response->ParseFromString(record.response)) {
    return absl::InternalError(absl::StrCat(
        "the recorded response of request_id ", request_id, " is unreadable"));
  }
  if (version != nullptr) *version = record.version;
  return true;
}

void RequestLog::Save(sql::Connection& conn, const std::string& request_id,
                      const std::string& method,
                      const google::protobuf::Message& response,
                      int64_t version, int64_t now_ms) const {
  if (request_id.empty()) return;
  std::unique_ptr<sql::PreparedStatement> upsert(conn.prepareStatement(
      absl::StrCat("INSERT INTO ", table_,
                   " (request_id, method, response, resource_version, "
                   "created_at_ms) VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY "
                   "UPDATE response = VALUES(response), resource_version = "
                   "VALUES(resource_version), created_at_ms = "
                   "VALUES(created_at_ms)")));
  const std::string bytes = response.SerializeAsString();
  std::istringstream blob(bytes);
  upsert->setString(1, request_id);
  upsert->setString(2, method);
  upsert->setBlob(3, &blob);
  upsert->setInt64(4, version);
  upsert->setInt64(5, now_ms);
  upsert->executeUpdate();
}

int64_t RequestLog::Prune(sql::Connection& conn, int64_t before_ms,
                          int limit) const {
  std::unique_ptr<sql::PreparedStatement> remove(conn.prepareStatement(
      absl::StrCat("DELETE FROM ", table_,
                   " WHERE created_at_ms < ? ORDER BY created_at_ms LIMIT ?")));
  remove->setInt64(1, before_ms);
  remove->setInt(2, limit);
  return remove->executeUpdate();
}

}  // namespace tandem
