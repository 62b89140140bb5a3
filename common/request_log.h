// RequestLog: the one idempotency design every service uses.
//
// A mutation that carries a request id records its response in the
// service's requests table, in the same transaction as the change it made;
// a retry with the same id is answered with the recorded response instead of
// being applied again. The record commits or rolls back with the change, so
// a crash between the two cannot leave one without the other.
//
// A response about a resource that changes by compare-and-set (a route)
// also records the version the change left the resource at. Such a record
// answers a retry only while the resource is still at that version: once
// something else has changed it (the router's lease reaper aborting a move,
// say), replaying "MIGRATING, lease granted" would lie, so the retry is
// treated as a new request and meets the compare-and-set like any other.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/message.h"

namespace sql {
class Connection;
}  // namespace sql

namespace tandem {

// The longest request id any method accepts.
inline constexpr size_t kMaxRequestIdBytes = 64;

// INVALID_ARGUMENT when `request_id` is longer than kMaxRequestIdBytes.
absl::Status ValidateRequestId(const std::string& request_id);

// Version stored for a response about no compare-and-set resource: such a
// record answers every retry.
inline constexpr int64_t kAnyVersion = -1;

class RequestLog {
 public:
  // `table` is the service's requests table, a constant of the service
  // (never input): it is written into the statements as it is.
  explicit RequestLog(std::string table) : table_(std::move(table)) {}

  // The statement that creates the table, for the service's schema
  // migrations; safe to run again.
  std::string CreateTableStatement() const;

  // A recorded response.
  struct Record {
    // The serialized response.
    std::string response;
    // The resource's version the change left, or kAnyVersion.
    int64_t version = kAnyVersion;
  };

  // Reads and locks the record of `request_id` in the caller's transaction
  // (FOR UPDATE, so two retries arriving together apply once). Returns false
  // for an empty id and for an id never recorded; INVALID_ARGUMENT when the
  // id was recorded for another method. Database errors are thrown as
  // sql::SQLException, as the pool's transactions expect.
  absl::StatusOr<bool> Find(sql::Connection& conn,
                            const std::string& request_id,
                            const std::string& method, Record* record) const;

  // Like Find, and parses the response into `response`; INTERNAL when it
  // does not parse as that message.
  absl::StatusOr<bool> Find(sql::Connection& conn,
                            const std::string& request_id,
                            const std::string& method,
                            google::protobuf::Message* response,
                            int64_t* version = nullptr) const;

  // Records `response` under `request_id` in the caller's transaction
  // (nothing for an empty id), replacing an earlier record of the same id:
  // one that Find returned but that was no longer current. Database errors
  // are thrown.
  void Save(sql::Connection& conn, const std::string& request_id,
            const std::string& method,
            const google::protobuf::Message& response, int64_t version,
            int64_t now_ms) const;

  // Deletes at most `limit` records made before `before_ms`; returns how many
  // it deleted. A retry that arrives later than that is a new request.
  // Database errors are thrown.
  int64_t Prune(sql::Connection& conn, int64_t before_ms, int limit) const;

 private:
  std::string table_;
};

}  // namespace tandem
