#include "migrator/move/mysql_move_store.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/mysql_results.h"
#include "common/status_macros.h"
#include "migrator/batch/batch_rows.h"
#include "migrator/move/item_states.h"

namespace tandem::migrator {
namespace {

namespace v1 = ::tandem::migrator::v1;
using Stmt = std::unique_ptr<sql::PreparedStatement>;
using Rows = std::unique_ptr<sql::ResultSet>;

constexpr char kNow[] = "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)";
// Terminal item states, for SQL.
constexpr char kTerminal[] = "(7, 8, 9, 10)";

constexpr char kItemColumns[] =
    "i.batch_id, i.customer_id, i.state, i.detail, i.worker, "
    "i.lease_until_ms, i.epoch, i.migrating_version, i.new_status, "
    "i.cutover_started_ms, i.flipped_at_ms, i.tail_until_ms, b.mode, "
    "b.direction, b.options";

ItemRecord ItemFromRow(sql::ResultSet& rs) {
  ItemRecord r;
  r.item.ParseFromString(rs.getString("detail"));
  r.item.set_batch_id(rs.getInt64("batch_id"));
  r.item.set_customer_id(rs.getInt64("customer_id"));
  r.item.set_state(static_cast<v1::ItemState>(rs.getInt("state")));
  r.worker = rs.getString("worker");
  r.item.set_worker(r.worker);
  r.lease_until_ms = rs.getInt64("lease_until_ms");
  r.epoch = rs.getInt64("epoch");
  r.migrating_version = rs.getInt64("migrating_version");
  r.new_status = rs.getString("new_status");
  r.cutover_started_ms = rs.getInt64("cutover_started_ms");
  r.flipped_at_ms = rs.getInt64("flipped_at_ms");
  r.tail_until_ms = rs.getInt64("tail_until_ms");
  r.mode = static_cast<v1::BatchMode>(rs.getInt("mode"));
  r.direction =
      rs.getInt("direction") == ::tandem::common::v1::DIRECTION_ROLLBACK
          ? Direction::kRollback
          : Direction::kMove;
  r.options.ParseFromString(rs.getString("options"));
  return r;
}

}  // namespace

const std::vector<SchemaMigration>& MigratorSchemaMigrations() {
  static const auto* migrations = new std::vector<SchemaMigration>{
      {1,
       "batches, items, active customers",
       {"CREATE TABLE IF NOT EXISTS migrator_batches ("
        " batch_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " name VARCHAR(128) NOT NULL,"
        " request_id VARCHAR(64) NULL,"
        " state TINYINT NOT NULL,"
        " state_reason VARCHAR(1024) NOT NULL DEFAULT '',"
        " mode TINYINT NOT NULL,"
        " direction TINYINT NOT NULL,"
        " version BIGINT NOT NULL,"
        " options BLOB NOT NULL,"
        " detail MEDIUMBLOB NOT NULL,"
        " created_at_ms BIGINT NOT NULL,"
        " started_at_ms BIGINT NOT NULL DEFAULT 0,"
        " finished_at_ms BIGINT NOT NULL DEFAULT 0,"
        " UNIQUE KEY batches_by_name (name),"
        " UNIQUE KEY batches_by_request (request_id),"
        " KEY batches_by_state (state)) ENGINE=InnoDB",
        "CREATE TABLE IF NOT EXISTS migrator_items ("
        " batch_id BIGINT NOT NULL,"
        " customer_id BIGINT NOT NULL,"
        " state TINYINT NOT NULL,"
        " detail MEDIUMBLOB NOT NULL,"
        " worker VARCHAR(128) NOT NULL DEFAULT '',"
        " lease_until_ms BIGINT NOT NULL DEFAULT 0,"
        " epoch BIGINT NOT NULL DEFAULT 0,"
        " migrating_version BIGINT NOT NULL DEFAULT 0,"
        " new_status VARCHAR(64) NOT NULL DEFAULT '',"
        " cutover_started_ms BIGINT NOT NULL DEFAULT 0,"
        " flipped_at_ms BIGINT NOT NULL DEFAULT 0,"
        " tail_until_ms BIGINT NOT NULL DEFAULT 0,"
        " rows_copied BIGINT NOT NULL DEFAULT 0,"
        " cutover_ms BIGINT NOT NULL DEFAULT 0,"
        " updated_at_ms BIGINT NOT NULL,"
        " PRIMARY KEY (batch_id, customer_id),"
        " KEY items_by_customer (customer_id, batch_id),"
        " KEY items_by_state (state, lease_until_ms)) ENGINE=InnoDB",
        // One row per customer in an unfinished item: the unique key that
        // keeps a customer in one unfinished batch at a time.
        "CREATE TABLE IF NOT EXISTS migrator_active_customers ("
        " customer_id BIGINT NOT NULL PRIMARY KEY,"
        " batch_id BIGINT NOT NULL) ENGINE=InnoDB"}},
      {2,
       "batches: parallelism, throttle, gate, request ids, replica load",
       {"ALTER TABLE migrator_batches"
        " ADD COLUMN parallelism INT NOT NULL DEFAULT 4,"
        " ADD COLUMN throttle BLOB NULL,"
        " ADD COLUMN failed_base BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE migrator_items"
        " ADD COLUMN held TINYINT NOT NULL DEFAULT 0,"
        " ADD COLUMN gate_released TINYINT NOT NULL DEFAULT 0,"
        " ADD COLUMN ended_at_ms BIGINT NOT NULL DEFAULT 0,"
        " ADD COLUMN failure_kind TINYINT NOT NULL DEFAULT 0,"
        " ADD KEY items_by_batch_state (batch_id, state),"
        " ADD KEY items_by_batch_updated (batch_id, updated_at_ms),"
        " ADD KEY items_by_batch_ended (batch_id, ended_at_ms)",
        // A control call's request id, so that a retry is answered, not
        // applied again.
        "CREATE TABLE IF NOT EXISTS migrator_batch_requests ("
        " request_id VARCHAR(64) NOT NULL PRIMARY KEY,"
        " batch_id BIGINT NOT NULL,"
        " created_at_ms BIGINT NOT NULL) ENGINE=InnoDB",
        // Each replica's busy workers per batch, for splitting the batch's
        // write budget.
        "CREATE TABLE IF NOT EXISTS migrator_replica_load ("
        " batch_id BIGINT NOT NULL,"
        " worker VARCHAR(128) NOT NULL,"
        " busy INT NOT NULL,"
        " heartbeat_ms BIGINT NOT NULL,"
        " PRIMARY KEY (batch_id, worker)) ENGINE=InnoDB"}},
  };
  return *migrations;
}

absl::StatusOr<std::unique_ptr<MysqlMoveStore>> MysqlMoveStore::Create(
    MysqlPool* pool) {
  TANDEM_RETURN_IF_ERROR(
      ApplySchemaMigrations(*pool, "migrator", MigratorSchemaMigrations()));
  return std::unique_ptr<MysqlMoveStore>(new MysqlMoveStore(pool));
}

absl::StatusOr<v1::Batch> MysqlMoveStore::CreateBatch(const NewBatch& b) {
  v1::Batch result;
  TANDEM_RETURN_IF_ERROR(pool_->Transaction(
      "create batch", [&](sql::Connection& conn) -> absl::Status {
        std::vector<std::unique_ptr<std::istringstream>> keep;
        TANDEM_ASSIGN_OR_RETURN(std::optional<int64_t> retried,
                                BatchOfRequest(conn, b.request_id));
        if (retried.has_value()) {
          TANDEM_ASSIGN_OR_RETURN(result, ReadBatch(conn, *retried));
          return absl::OkStatus();
        }
        const int64_t now = DbNow(conn);
        const int64_t first = b.customers.empty() ? 0 : b.customers[0];
        TANDEM_ASSIGN_OR_RETURN(
            v1::Batch batch,
            InsertBatchRow(
                conn, b, now,
                b.options.parallelism() > 0 ? b.options.parallelism() : 4,
                absl::StrCat("pending-", now, "-", first),
                [&](int64_t id) {
                  return absl::StrCat(
                      b.direction == Direction::kMove ? "move-" : "rollback-",
                      first, "-", id);
                },
                keep));
        const int64_t batch_id = batch.batch_id();
        for (int64_t customer : b.customers) {
          Stmt active(conn.prepareStatement(
              "INSERT INTO migrator_active_customers (customer_id, batch_id) "
              "VALUES (?, ?)"));
          active->setInt64(1, customer);
          active->setInt64(2, batch_id);
          try {
            active->executeUpdate();
          } catch (const sql::SQLException& e) {
            if (e.getErrorCode() == 1062) {
              return absl::FailedPreconditionError(absl::StrCat(
                  "customer ", customer, " is already in an unfinished batch"));
            }
            throw;
          }
          v1::BatchItem item;
          item.set_batch_id(batch_id);
          item.set_customer_id(customer);
          item.set_state(v1::ITEM_STATE_PENDING);
          item.set_mapping_digest(b.mapping_digest);
          item.set_updated_at_unix_ms(now);
          std::string item_detail;
          item.SerializeToString(&item_detail);
          Stmt add(conn.prepareStatement(
              "INSERT INTO migrator_items (batch_id, customer_id, state, "
              "detail, updated_at_ms) VALUES (?, ?, ?, ?, ?)"));
          add->setInt64(1, batch_id);
          add->setInt64(2, customer);
          add->setInt(3, v1::ITEM_STATE_PENDING);
          SetBlob(*add, 4, item_detail, keep);
          add->setInt64(5, now);
          add->executeUpdate();
        }
        TANDEM_ASSIGN_OR_RETURN(result, ReadBatch(conn, batch_id));
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<std::optional<v1::Batch>> MysqlMoveStore::FindBatchByRequest(
    const std::string& request_id) {
  std::optional<v1::Batch> result;
  TANDEM_RETURN_IF_ERROR(pool_->Run(
      "find batch by request", [&](sql::Connection& conn) -> absl::Status {
        TANDEM_ASSIGN_OR_RETURN(std::optional<int64_t> id,
                                BatchOfRequest(conn, request_id));
        if (!id.has_value()) return absl::OkStatus();
        TANDEM_ASSIGN_OR_RETURN(result, ReadBatch(conn, *id));
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<v1::Batch> MysqlMoveStore::GetBatch(int64_t batch_id) {
  v1::Batch result;
  TANDEM_RETURN_IF_ERROR(
      pool_->Run("get batch", [&](sql::Connection& conn) -> absl::Status {
        TANDEM_ASSIGN_OR_RETURN(result, ReadBatch(conn, batch_id));
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<ItemRecord> MysqlMoveStore::GetItem(int64_t batch_id,
                                                   int64_t customer_id) {
  ItemRecord record;
  TANDEM_RETURN_IF_ERROR(
      pool_->Run("get item", [&](sql::Connection& conn) -> absl::Status {
        Stmt ps(conn.prepareStatement(absl::StrCat(
            "SELECT ", kItemColumns,
            " FROM migrator_items i JOIN migrator_batches b USING (batch_id) "
            "WHERE i.batch_id = ? AND i.customer_id = ?")));
        ps->setInt64(1, batch_id);
        ps->setInt64(2, customer_id);
        Rows rs(ps->executeQuery());
        if (!rs->next()) {
          return absl::NotFoundError(absl::StrCat(
              "customer ", customer_id, " is not in batch ", batch_id));
        }
        record = ItemFromRow(*rs);
        return absl::OkStatus();
      }));
  return record;
}

absl::StatusOr<std::optional<ItemRecord>> MysqlMoveStore::LatestItem(
    int64_t customer_id) {
  std::optional<ItemRecord> record;
  TANDEM_RETURN_IF_ERROR(
      pool_->Run("latest item", [&](sql::Connection& conn) -> absl::Status {
        Stmt ps(conn.prepareStatement(absl::StrCat(
            "SELECT ", kItemColumns,
            " FROM migrator_items i JOIN migrator_batches b USING (batch_id) "
            "WHERE i.customer_id = ? ORDER BY i.batch_id DESC LIMIT 1")));
        ps->setInt64(1, customer_id);
        Rows rs(ps->executeQuery());
        if (rs->next()) record = ItemFromRow(*rs);
        return absl::OkStatus();
      }));
  return record;
}

namespace {

// Gives `worker` the items `keys` (locked by the caller's transaction) until
// `now` + `lease_ms`, each with its epoch raised, and returns them as
// claimed, in the order of `keys`: one update and one read per few hundred
// items.
std::vector<ItemRecord> LeaseItems(
    sql::Connection& conn, const std::vector<std::pair<int64_t, int64_t>>& keys,
    const std::string& worker, int64_t now, int64_t lease_ms) {
  constexpr size_t kChunk = 300;
  std::vector<ItemRecord> claimed;
  for (size_t begin = 0; begin < keys.size(); begin += kChunk) {
    const size_t end = std::min(keys.size(), begin + kChunk);
    std::string in;
    for (size_t i = begin; i < end; ++i) {
      absl::StrAppend(&in, i == begin ? "" : " OR ",
                      "(batch_id = ? AND customer_id = ?)");
    }
    auto bind = [&](sql::PreparedStatement& ps, int first) {
      for (size_t i = begin; i < end; ++i) {
        ps.setInt64(first++, keys[i].first);
        ps.setInt64(first++, keys[i].second);
      }
    };
    Stmt update(conn.prepareStatement(absl::StrCat(
        "UPDATE migrator_items SET worker = ?, lease_until_ms = ? + ?, "
        "epoch = epoch + 1 WHERE ",
        in)));
    update->setString(1, worker);
    update->setInt64(2, now);
    update->setInt64(3, lease_ms);
    bind(*update, 4);
    update->executeUpdate();
    Stmt read(conn.prepareStatement(absl::StrCat(
        "SELECT ", kItemColumns,
        " FROM migrator_items i JOIN migrator_batches b USING (batch_id) "
        "WHERE ",
        in)));
    bind(*read, 1);
    Rows rs(read->executeQuery());
    std::map<std::pair<int64_t, int64_t>, ItemRecord> read_back;
    while (rs->next()) {
      ItemRecord r = ItemFromRow(*rs);
      read_back[{r.item.batch_id(), r.item.customer_id()}] = std::move(r);
    }
    for (size_t i = begin; i < end; ++i) {
      auto it = read_back.find(keys[i]);
      if (it != read_back.end()) claimed.push_back(std::move(it->second));
    }
  }
  return claimed;
}

}  // namespace

absl::StatusOr<std::vector<ItemRecord>> MysqlMoveStore::ClaimItems(
    const std::string& worker, int64_t lease_ms, const ClaimLimits& limits) {
  return TransactReturning(
      *pool_, "claim items",
      [&](sql::Connection& conn) -> absl::StatusOr<std::vector<ItemRecord>> {
        const int64_t now = DbNow(conn);
        // (batch, customer) of the items taken; only item rows are locked
        // (SKIP LOCKED), never batch rows.
        std::vector<std::pair<int64_t, int64_t>> keys;
        auto take = [&](const std::string& where, int64_t batch_id, int limit) {
          if (limit <= 0) return;
          Stmt select(conn.prepareStatement(absl::StrCat(
              "SELECT batch_id, customer_id FROM migrator_items WHERE ", where,
              " AND (worker = '' OR lease_until_ms < ?) ",
              batch_id > 0 ? "AND batch_id = ? " : "",
              "ORDER BY batch_id, customer_id LIMIT ? FOR UPDATE SKIP "
              "LOCKED")));
          int p = 1;
          select->setInt64(p++, now);
          if (batch_id > 0) select->setInt64(p++, batch_id);
          select->setInt(p++, limit);
          Rows rs(select->executeQuery());
          while (rs->next())
            keys.emplace_back(rs->getInt64(1), rs->getInt64(2));
        };
        // Tails: whatever their batch's state, without a worker slot.
        take("state = 6", 0, limits.tail_limit);
        // Per batch, within its parallelism over every replica.
        Stmt batches(conn.prepareStatement(
            "SELECT batch_id, state, parallelism FROM migrator_batches WHERE "
            "state IN (2, 3, 5) ORDER BY batch_id"));
        Rows b(batches->executeQuery());
        int left = limits.limit;
        while (b->next() && left > 0) {
          const int64_t batch_id = b->getInt64(1);
          const auto state = static_cast<v1::BatchState>(b->getInt(2));
          // Busy: claimed and not finished, including an item claimed a
          // moment ago that its worker has not stored a step of yet (so
          // replicas claiming at once stay within the parallelism).
          Stmt busy(conn.prepareStatement(
              "SELECT COUNT(*) FROM migrator_items WHERE batch_id = ? AND "
              "state BETWEEN 1 AND 5 AND worker <> '' AND lease_until_ms >= "
              "?"));
          busy->setInt64(1, batch_id);
          busy->setInt64(2, now);
          Rows n(busy->executeQuery());
          n->next();
          const int free_slots =
              std::min(left, b->getInt(3) - static_cast<int>(n->getInt64(1)));
          const size_t before = keys.size();
          // Items a worker left half way first, then new ones. A pausing
          // batch only has its cutovers finished (what stopped before them
          // stays until resumed); a cancelling one has the rest skipped.
          take(state == v1::BATCH_STATE_PAUSING ? "state BETWEEN 4 AND 5"
                                                : "state BETWEEN 2 AND 5",
               batch_id, free_slots);
          int taken = static_cast<int>(keys.size() - before);
          if (state == v1::BATCH_STATE_RUNNING &&
              (!limits.may_start.has_value() ||
               limits.may_start->count(batch_id))) {
            take("state = 1", batch_id, free_slots - taken);
            taken = static_cast<int>(keys.size() - before);
          }
          left -= taken;
        }
        return LeaseItems(conn, keys, worker, now, lease_ms);
      });
}

absl::Status MysqlMoveStore::RenewLease(const ItemRecord& r, int64_t lease_ms) {
  TANDEM_ASSIGN_OR_RETURN(std::vector<size_t> lost, RenewLeases({r}, lease_ms));
  if (!lost.empty()) {
    return absl::AbortedError(absl::StrCat("lost the claim on customer ",
                                           r.item.customer_id(), " of batch ",
                                           r.item.batch_id()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<size_t>> MysqlMoveStore::RenewLeases(
    const std::vector<ItemRecord>& records, int64_t lease_ms) {
  // A few hundred items a statement; a statement that extends fewer than
  // it names is followed by a read of which it did not (rare: a claim
  // lost, or a lease renewed within the same millisecond it was taken).
  constexpr size_t kChunk = 300;
  std::vector<size_t> lost;
  for (size_t begin = 0; begin < records.size(); begin += kChunk) {
    const size_t end = std::min(records.size(), begin + kChunk);
    std::string held;
    for (size_t i = begin; i < end; ++i) {
      absl::StrAppend(&held, i == begin ? "" : " OR ",
                      "(batch_id = ? AND customer_id = ? AND epoch = ? AND "
                      "worker = ?)");
    }
    auto bind = [&](sql::PreparedStatement& ps, int first) {
      for (size_t i = begin; i < end; ++i) {
        const ItemRecord& r = records[i];
        ps.setInt64(first++, r.item.batch_id());
        ps.setInt64(first++, r.item.customer_id());
        ps.setInt64(first++, r.epoch);
        ps.setString(first++, r.worker);
      }
    };
    absl::Status renewed =
        pool_->Run("renew item leases", [&](sql::Connection& conn) {
          Stmt update(conn.prepareStatement(
              absl::StrCat("UPDATE migrator_items SET lease_until_ms = ", kNow,
                           " + ? WHERE ", held)));
          update->setInt64(1, lease_ms);
          bind(*update, 2);
          if (static_cast<size_t>(update->executeUpdate()) == end - begin) {
            return absl::OkStatus();
          }
          Stmt still(conn.prepareStatement(
              absl::StrCat("SELECT batch_id, customer_id, epoch, worker FROM "
                           "migrator_items WHERE ",
                           held)));
          bind(*still, 1);
          Rows rs(still->executeQuery());
          std::set<std::tuple<int64_t, int64_t, int64_t, std::string>> found;
          while (rs->next()) {
            found.emplace(rs->getInt64(1), rs->getInt64(2), rs->getInt64(3),
                          rs->getString(4));
          }
          for (size_t i = begin; i < end; ++i) {
            const ItemRecord& r = records[i];
            if (!found.count({r.item.batch_id(), r.item.customer_id(), r.epoch,
                              r.worker})) {
              lost.push_back(i);
            }
          }
          return absl::OkStatus();
        });
    if (!renewed.ok()) return renewed;
  }
  return lost;
}

namespace {

// Locks the item and checks the worker still holds it (`r.epoch`) and may
// move it to `r`'s state; returns the database's clock, read with the lock.
absl::StatusOr<int64_t> LockHeldItem(sql::Connection& conn,
                                     const ItemRecord& r) {
  // The database's clock read with the lock: one round trip less on every
  // step of every customer.
  Stmt lock(conn.prepareStatement(absl::StrCat(
      "SELECT state, epoch, worker, ", kNow,
      " FROM migrator_items WHERE batch_id = ? AND customer_id = ? FOR "
      "UPDATE")));
  lock->setInt64(1, r.item.batch_id());
  lock->setInt64(2, r.item.customer_id());
  Rows rs(lock->executeQuery());
  if (!rs->next()) return absl::NotFoundError("no such item");
  const auto from = static_cast<ItemState>(rs->getInt(1));
  if (rs->getInt64(2) != r.epoch || rs->getString(3) != r.worker) {
    return absl::AbortedError(
        absl::StrCat("lost the claim on customer ", r.item.customer_id(),
                     " of batch ", r.item.batch_id(), " (epoch ",
                     rs->getInt64(2), ", not ", r.epoch, ")"));
  }
  if (!IsValidItemTransition(from, r.item.state(), r.mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("illegal item transition ", ItemStateName(from), " -> ",
                     ItemStateName(r.item.state())));
  }
  return rs->getInt64(4);
}

// Writes `r` (its public view `item`, stamped at `now`, and its resume
// data) to the item's row; a terminal item gives up its claim.
void WriteItem(sql::Connection& conn, const ItemRecord& r,
               const v1::BatchItem& item, int64_t now) {
  std::vector<std::unique_ptr<std::istringstream>> keep;
  std::string detail;
  item.SerializeToString(&detail);
  Stmt update(conn.prepareStatement(
      "UPDATE migrator_items SET state = ?, detail = ?, "
      "migrating_version = ?, new_status = ?, cutover_started_ms = ?, "
      "flipped_at_ms = ?, tail_until_ms = ?, rows_copied = ?, "
      "cutover_ms = ?, updated_at_ms = ?, worker = IF(?, '', worker), "
      "held = ?, failure_kind = ?, ended_at_ms = IF(ended_at_ms = 0 "
      "AND ?, ?, ended_at_ms) WHERE batch_id = ? AND customer_id = ?"));
  update->setInt(1, item.state());
  SetBlob(*update, 2, detail, keep);
  update->setInt64(3, r.migrating_version);
  update->setString(4, r.new_status);
  update->setInt64(5, r.cutover_started_ms);
  update->setInt64(6, r.flipped_at_ms);
  update->setInt64(7, r.tail_until_ms);
  update->setInt64(8, item.rows_copied());
  update->setInt64(9, item.cutover_ms());
  update->setInt64(10, now);
  update->setBoolean(11, IsTerminal(item.state()));
  update->setInt(12, item.held_at_gate() ? 1 : 0);
  update->setInt(13, item.failure().kind());
  // When the item's work ended (flipped, or finished): the rates.
  update->setBoolean(
      14, IsTerminal(item.state()) || item.state() == v1::ITEM_STATE_TAIL);
  update->setInt64(15, now);
  update->setInt64(16, item.batch_id());
  update->setInt64(17, item.customer_id());
  update->executeUpdate();
}

// A terminal item releases its customer, and completes its batch when it
// was the batch's last unfinished item.
void EndItem(sql::Connection& conn, const v1::BatchItem& item, int64_t now) {
  Stmt release(conn.prepareStatement(
      "DELETE FROM migrator_active_customers WHERE customer_id = ? "
      "AND batch_id = ?"));
  release->setInt64(1, item.customer_id());
  release->setInt64(2, item.batch_id());
  release->executeUpdate();
  Stmt finish(conn.prepareStatement(absl::StrCat(
      "UPDATE migrator_batches SET state = ?, finished_at_ms = ?, "
      "version = version + 1 WHERE batch_id = ? AND state IN (?, ?) "
      "AND NOT EXISTS (SELECT 1 FROM migrator_items WHERE batch_id = ? "
      "AND state NOT IN ",
      kTerminal, ")")));
  finish->setInt(1, v1::BATCH_STATE_COMPLETED);
  finish->setInt64(2, now);
  finish->setInt64(3, item.batch_id());
  finish->setInt(4, v1::BATCH_STATE_RUNNING);
  finish->setInt(5, v1::BATCH_STATE_PAUSING);
  finish->setInt64(6, item.batch_id());
  finish->executeUpdate();
}

}  // namespace

absl::Status MysqlMoveStore::UpdateItem(const ItemRecord& r) {
  return pool_->Transaction(
      "update item", [&](sql::Connection& conn) -> absl::Status {
        TANDEM_ASSIGN_OR_RETURN(const int64_t now, LockHeldItem(conn, r));
        v1::BatchItem item = r.item;
        item.set_updated_at_unix_ms(now);
        item.set_flipped_at_unix_ms(r.flipped_at_ms);
        if (IsTerminal(item.state()) && item.finished_at_unix_ms() == 0) {
          item.set_finished_at_unix_ms(now);
        }
        WriteItem(conn, r, item, now);
        if (IsTerminal(item.state())) EndItem(conn, item, now);
        return absl::OkStatus();
      });
}

absl::Status MysqlMoveStore::ReleaseItem(const ItemRecord& r) {
  return pool_->Run("release item", [&](sql::Connection& conn) {
    Stmt update(conn.prepareStatement(
        "UPDATE migrator_items SET worker = '', lease_until_ms = 0 WHERE "
        "batch_id = ? AND customer_id = ? AND epoch = ? AND worker = ?"));
    update->setInt64(1, r.item.batch_id());
    update->setInt64(2, r.item.customer_id());
    update->setInt64(3, r.epoch);
    update->setString(4, r.worker);
    update->executeUpdate();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<ItemRecord>> MysqlMoveStore::RecentlyDone(
    int64_t within_ms, int limit) {
  std::vector<ItemRecord> items;
  TANDEM_RETURN_IF_ERROR(
      pool_->Run("recently done", [&](sql::Connection& conn) -> absl::Status {
        Stmt ps(conn.prepareStatement(absl::StrCat(
            "SELECT ", kItemColumns,
            " FROM migrator_items i JOIN migrator_batches b USING (batch_id) "
            "WHERE i.state = ? AND i.tail_until_ms > ",
            kNow, " - ? ORDER BY i.tail_until_ms DESC LIMIT ?")));
        ps->setInt(1, v1::ITEM_STATE_DONE);
        ps->setInt64(2, within_ms);
        ps->setInt(3, limit);
        Rows rs(ps->executeQuery());
        while (rs->next()) items.push_back(ItemFromRow(*rs));
        return absl::OkStatus();
      }));
  return items;
}

absl::Status MysqlMoveStore::RecordLateWrites(int64_t batch_id,
                                              int64_t customer_id,
                                              int64_t writes) {
  return pool_->Transaction(
      "record late writes", [&](sql::Connection& conn) -> absl::Status {
        std::vector<std::unique_ptr<std::istringstream>> keep;
        Stmt find(conn.prepareStatement(
            "SELECT detail FROM migrator_items WHERE batch_id = ? AND "
            "customer_id = ? FOR UPDATE"));
        find->setInt64(1, batch_id);
        find->setInt64(2, customer_id);
        Rows rs(find->executeQuery());
        if (!rs->next()) return absl::NotFoundError("no such item");
        v1::BatchItem item;
        item.ParseFromString(rs->getString(1));
        if (item.late_writes_after_window() == writes) return absl::OkStatus();
        item.set_late_writes_after_window(writes);
        std::string detail;
        item.SerializeToString(&detail);
        Stmt update(conn.prepareStatement(
            "UPDATE migrator_items SET detail = ? WHERE batch_id = ? AND "
            "customer_id = ?"));
        SetBlob(*update, 1, detail, keep);
        update->setInt64(2, batch_id);
        update->setInt64(3, customer_id);
        update->executeUpdate();
        return absl::OkStatus();
      });
}

absl::Status MysqlMoveStore::MarkRolledBack(int64_t customer_id) {
  return pool_->Transaction(
      "mark rolled back", [&](sql::Connection& conn) -> absl::Status {
        std::vector<std::unique_ptr<std::istringstream>> keep;
        Stmt find(conn.prepareStatement(absl::StrCat(
            "SELECT ", kItemColumns,
            " FROM migrator_items i JOIN migrator_batches b USING (batch_id) "
            "WHERE i.customer_id = ? AND i.state = ? AND b.direction = ? "
            "ORDER BY i.batch_id DESC LIMIT 1 FOR UPDATE")));
        find->setInt64(1, customer_id);
        find->setInt(2, v1::ITEM_STATE_DONE);
        find->setInt(3, ::tandem::common::v1::DIRECTION_MOVE);
        Rows rs(find->executeQuery());
        if (!rs->next()) return absl::OkStatus();
        ItemRecord r = ItemFromRow(*rs);
        r.item.set_state(v1::ITEM_STATE_ROLLED_BACK);
        std::string detail;
        r.item.SerializeToString(&detail);
        Stmt update(conn.prepareStatement(
            "UPDATE migrator_items SET state = ?, detail = ? WHERE "
            "batch_id = ? AND customer_id = ?"));
        update->setInt(1, v1::ITEM_STATE_ROLLED_BACK);
        SetBlob(*update, 2, detail, keep);
        update->setInt64(3, r.item.batch_id());
        update->setInt64(4, customer_id);
        update->executeUpdate();
        return absl::OkStatus();
      });
}

}  // namespace tandem::migrator
