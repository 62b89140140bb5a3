#include "migrator/engine/write_guard.h"

#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <mysql_connection.h>

#include <memory>

#include "absl/strings/str_cat.h"

namespace tandem::migrator {
namespace {

thread_local WorkerContext* current_context = nullptr;

using Stmt = std::unique_ptr<sql::PreparedStatement>;
using Rows = std::unique_ptr<sql::ResultSet>;

}  // namespace

WorkerContext* CurrentWorkerContext() { return current_context; }

ScopedWorkerContext::ScopedWorkerContext(WorkerContext* context)
    : previous_(current_context) {
  current_context = context;
}

ScopedWorkerContext::~ScopedWorkerContext() { current_context = previous_; }

std::string FenceTableDdl(const std::string& table) {
  return absl::StrCat(
      "CREATE TABLE IF NOT EXISTS ", table,
      " (customer_id BIGINT NOT NULL PRIMARY KEY, batch_id BIGINT NOT NULL,"
      " epoch BIGINT NOT NULL, worker VARCHAR(128) NOT NULL,"
      " taken_at DATETIME(3) NOT NULL) ENGINE=InnoDB");
}

absl::Status GuardWrite(sql::Connection& conn, const std::string& table,
                        int64_t customer_id) {
  const WorkerContext* c = current_context;
  if (c == nullptr || !c->fenced || c->customer_id != customer_id) {
    return absl::OkStatus();
  }
  try {
    Stmt ps(conn.prepareStatement(
        absl::StrCat("SELECT batch_id, epoch, worker FROM ", table,
                     " WHERE customer_id = ? LOCK IN SHARE MODE")));
    ps->setInt64(1, customer_id);
    Rows rs(ps->executeQuery());
    if (!rs->next()) {
      return absl::AbortedError(
          absl::StrCat("fenced: no claim holds customer ", customer_id,
                       " on this server (the fence was never taken)"));
    }
    const int64_t batch = rs->getInt64(1);
    const int64_t epoch = rs->getInt64(2);
    if (batch != c->batch_id || epoch != c->epoch) {
      return absl::AbortedError(absl::StrCat(
          "fenced: customer ", customer_id, " is held by ",
          std::string(rs->getString(3)), " (batch ", batch, ", epoch ", epoch,
          "), not by this worker's claim (batch ", c->batch_id, ", epoch ",
          c->epoch, ")"));
    }
  } catch (const sql::SQLException& e) {
    return MysqlErrorToStatus(e, "check fence");
  }
  return absl::OkStatus();
}

void PaceWrite(int64_t rows) {
  const WorkerContext* c = current_context;
  if (c == nullptr || c->pacer == nullptr || rows <= 0) return;
  c->pacer->BeforeWrite(rows, c->urgent && c->urgent());
}

absl::Status TakeFence(MysqlPool& pool, const std::string& table,
                       const WorkerContext& c) {
  return pool.Transaction("take fence", [&](sql::Connection& conn) {
    Stmt lock(conn.prepareStatement(
        absl::StrCat("SELECT batch_id, epoch FROM ", table,
                     " WHERE customer_id = ? FOR UPDATE")));
    lock->setInt64(1, c.customer_id);
    Rows rs(lock->executeQuery());
    if (rs->next()) {
      const int64_t batch = rs->getInt64(1);
      const int64_t epoch = rs->getInt64(2);
      if (batch > c.batch_id || (batch == c.batch_id && epoch > c.epoch)) {
        return absl::AbortedError(
            absl::StrCat("fenced: a newer claim (batch ", batch, ", epoch ",
                         epoch, ") holds customer ", c.customer_id));
      }
    }
    Stmt put(conn.prepareStatement(absl::StrCat(
        "INSERT INTO ", table,
        " (customer_id, batch_id, epoch, worker, taken_at) VALUES "
        "(?, ?, ?, ?, NOW(3)) ON DUPLICATE KEY UPDATE batch_id = "
        "VALUES(batch_id), epoch = VALUES(epoch), worker = VALUES(worker), "
        "taken_at = VALUES(taken_at)")));
    put->setInt64(1, c.customer_id);
    put->setInt64(2, c.batch_id);
    put->setInt64(3, c.epoch);
    put->setString(4, c.worker);
    put->executeUpdate();
    return absl::OkStatus();
  });
}

}  // namespace tandem::migrator
