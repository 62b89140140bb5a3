#include "migrator/batch/mysql_batch_store.h"

#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/mysql_pool.h"
#include "common/status_macros.h"
#include "migrator/batch/batch_rows.h"
#include "migrator/move/item_states.h"

namespace tandem::migrator {
namespace {

namespace v1 = ::tandem::migrator::v1;
using Stmt = std::unique_ptr<sql::PreparedStatement>;
using Rows = std::unique_ptr<sql::ResultSet>;
using Blobs = std::vector<std::unique_ptr<std::istringstream>>;

constexpr size_t kRowsPerStatement = 500;

// The request id a control call was already answered under, if any.
absl::StatusOr<std::optional<int64_t>> AnsweredRequest(
    sql::Connection& conn, const std::string& request_id) {
  if (request_id.empty()) return std::optional<int64_t>();
  Stmt ps(conn.prepareStatement(
      "SELECT batch_id FROM migrator_batch_requests WHERE request_id = ?"));
  ps->setString(1, request_id);
  Rows rs(ps->executeQuery());
  if (!rs->next()) return std::optional<int64_t>();
  return std::optional<int64_t>(rs->getInt64(1));
}

void RecordRequest(sql::Connection& conn, const std::string& request_id,
                   int64_t batch_id, int64_t now) {
  if (request_id.empty()) return;
  Stmt ps(conn.prepareStatement(
      "INSERT IGNORE INTO migrator_batch_requests (request_id, batch_id, "
      "created_at_ms) VALUES (?, ?, ?)"));
  ps->setString(1, request_id);
  ps->setInt64(2, batch_id);
  ps->setInt64(3, now);
  ps->executeUpdate();
}

struct Locked {
  v1::BatchState state = v1::BATCH_STATE_UNSPECIFIED;
  int64_t version = 0;
  v1::Batch detail;
};

absl::StatusOr<Locked> LockBatch(sql::Connection& conn, int64_t batch_id,
                                 int64_t expected_version) {
  Stmt ps(conn.prepareStatement(
      "SELECT state, version, detail FROM migrator_batches WHERE batch_id = "
      "? FOR UPDATE"));
  ps->setInt64(1, batch_id);
  Rows rs(ps->executeQuery());
  if (!rs->next()) {
    return absl::NotFoundError(absl::StrCat("no batch ", batch_id));
  }
  Locked l;
  l.state = static_cast<v1::BatchState>(rs->getInt(1));
  l.version = rs->getInt64(2);
  l.detail.ParseFromString(rs->getString(3));
  if (expected_version != 0 && expected_version != l.version) {
    return absl::AbortedError(
        absl::StrCat("batch ", batch_id, " is at version ", l.version, ", not ",
                     expected_version, " (it changed since it was read)"));
  }
  return l;
}

int64_t CountItems(sql::Connection& conn, int64_t batch_id,
                   const std::string& where) {
  Stmt ps(conn.prepareStatement(absl::StrCat(
      "SELECT COUNT(*) FROM migrator_items WHERE batch_id = ? AND ", where)));
  ps->setInt64(1, batch_id);
  Rows rs(ps->executeQuery());
  rs->next();
  return rs->getInt64(1);
}

// Every PENDING item of the batch SKIPPED (BATCH_CANCELLED), its customer
// released and its claim ended (a worker about to start it is refused).
void SkipPending(sql::Connection& conn, int64_t batch_id, int64_t now) {
  Stmt ps(conn.prepareStatement(
      "SELECT customer_id, detail FROM migrator_items WHERE batch_id = ? AND "
      "state = 1 FOR UPDATE"));
  ps->setInt64(1, batch_id);
  Rows rs(ps->executeQuery());
  std::vector<std::pair<int64_t, std::string>> items;
  while (rs->next()) {
    v1::BatchItem item;
    item.ParseFromString(rs->getString(2));
    item.set_state(v1::ITEM_STATE_SKIPPED);
    item.mutable_failure()->set_kind(v1::FAILURE_KIND_BATCH_CANCELLED);
    item.mutable_failure()->set_message(
        "the batch was cancelled before the customer started");
    item.mutable_failure()->set_failed_in(v1::ITEM_STATE_PENDING);
    item.mutable_failure()->set_at_unix_ms(now);
    item.set_finished_at_unix_ms(now);
    item.set_updated_at_unix_ms(now);
    std::string detail;
    item.SerializeToString(&detail);
    items.emplace_back(rs->getInt64(1), std::move(detail));
  }
  for (const auto& [customer, detail] : items) {
    Blobs keep;
    Stmt up(conn.prepareStatement(
        "UPDATE migrator_items SET state = ?, detail = ?, failure_kind = ?, "
        "worker = '', lease_until_ms = 0, epoch = epoch + 1, "
        "updated_at_ms = ?, ended_at_ms = ? WHERE batch_id = ? AND "
        "customer_id = ?"));
    up->setInt(1, v1::ITEM_STATE_SKIPPED);
    SetBlob(*up, 2, detail, keep);
    up->setInt(3, v1::FAILURE_KIND_BATCH_CANCELLED);
    up->setInt64(4, now);
    up->setInt64(5, now);
    up->setInt64(6, batch_id);
    up->setInt64(7, customer);
    up->executeUpdate();
  }
  Stmt release(conn.prepareStatement(
      "DELETE a FROM migrator_active_customers a JOIN migrator_items i ON "
      "i.customer_id = a.customer_id AND i.batch_id = a.batch_id WHERE "
      "a.batch_id = ? AND i.state IN (7, 8, 9, 10)"));
  release->setInt64(1, batch_id);
  release->executeUpdate();
}

void WriteItems(sql::Connection& conn, int64_t batch_id, int64_t now,
                const std::vector<v1::BatchItem>& items) {
  for (size_t start = 0; start < items.size(); start += kRowsPerStatement) {
    const size_t n = std::min(kRowsPerStatement, items.size() - start);
    Blobs keep;
    Stmt add(conn.prepareStatement(
        absl::StrCat("INSERT INTO migrator_items (batch_id, customer_id, "
                     "state, detail, updated_at_ms, failure_kind, "
                     "ended_at_ms) VALUES ",
                     Placeholders(n, "(?, ?, ?, ?, ?, ?, ?)"))));
    int p = 1;
    for (size_t i = start; i < start + n; ++i) {
      const v1::BatchItem& item = items[i];
      std::string detail;
      item.SerializeToString(&detail);
      add->setInt64(p++, batch_id);
      add->setInt64(p++, item.customer_id());
      add->setInt(p++, item.state());
      SetBlob(*add, p++, detail, keep);
      add->setInt64(p++, now);
      add->setInt(p++, item.failure().kind());
      add->setInt64(p++, IsTerminal(item.state()) ? now : 0);
    }
    add->executeUpdate();
  }
}

// The customers of `ids` already in an unfinished batch (customer -> batch).
std::map<int64_t, int64_t> ActiveOf(sql::Connection& conn,
                                    const std::vector<int64_t>& ids) {
  std::map<int64_t, int64_t> out;
  for (size_t start = 0; start < ids.size(); start += kRowsPerStatement) {
    const size_t n = std::min(kRowsPerStatement, ids.size() - start);
    Stmt ps(conn.prepareStatement(
        absl::StrCat("SELECT customer_id, batch_id FROM "
                     "migrator_active_customers WHERE customer_id IN (",
                     Placeholders(n), ")")));
    for (size_t i = 0; i < n; ++i) {
      ps->setInt64(static_cast<int>(i) + 1, ids[start + i]);
    }
    Rows rs(ps->executeQuery());
    while (rs->next()) out[rs->getInt64(1)] = rs->getInt64(2);
  }
  return out;
}

// Takes the customers `free` for `batch_id` where no batch holds them yet
// (INSERT IGNORE: the unique key keeps an earlier holder).
void TakeCustomers(sql::Connection& conn, const std::vector<int64_t>& free,
                   int64_t batch_id) {
  for (size_t start = 0; start < free.size(); start += kRowsPerStatement) {
    const size_t n = std::min(kRowsPerStatement, free.size() - start);
    Stmt take(conn.prepareStatement(
        absl::StrCat("INSERT IGNORE INTO migrator_active_customers "
                     "(customer_id, batch_id) VALUES ",
                     Placeholders(n, "(?, ?)"))));
    int p = 1;
    for (size_t i = start; i < start + n; ++i) {
      take->setInt64(p++, free[i]);
      take->setInt64(p++, batch_id);
    }
    take->executeUpdate();
  }
}

}  // namespace

absl::StatusOr<v1::Batch> MysqlBatchStore::CreateBatch(const NewBatch& b,
                                                       const Selection& sel) {
  v1::Batch result;
  TANDEM_RETURN_IF_ERROR(pool_->Transaction(
      "create batch", [&](sql::Connection& conn) -> absl::Status {
        Blobs keep;
        TANDEM_ASSIGN_OR_RETURN(std::optional<int64_t> retried,
                                BatchOfRequest(conn, b.request_id));
        if (retried.has_value()) {
          TANDEM_ASSIGN_OR_RETURN(result, ReadBatch(conn, *retried));
          return absl::OkStatus();
        }
        const int64_t now = DbNow(conn);
        TANDEM_ASSIGN_OR_RETURN(
            v1::Batch batch,
            InsertBatchRow(
                conn, b, now, b.options.parallelism(),
                absl::StrCat("pending-", now, "-", sel.pending.size()),
                [](int64_t id) { return absl::StrCat("batch-", id); }, keep));
        const int64_t batch_id = batch.batch_id();
        // Customers are taken for this batch where nobody holds them; the
        // unique key decides, even against a creator a moment earlier.
        const std::map<int64_t, int64_t> busy = ActiveOf(conn, sel.pending);
        std::vector<int64_t> free;
        for (int64_t c : sel.pending) {
          if (!busy.count(c)) free.push_back(c);
        }
        TakeCustomers(conn, free, batch_id);
        const std::map<int64_t, int64_t> now_busy = ActiveOf(conn, sel.pending);
        std::vector<v1::BatchItem> items;
        auto next = sel.skipped.begin();
        auto add_skipped = [&](const SkippedCustomer& k) {
          v1::BatchItem item;
          item.set_batch_id(batch_id);
          item.set_customer_id(k.customer_id);
          item.set_state(v1::ITEM_STATE_SKIPPED);
          item.mutable_failure()->set_kind(k.kind);
          item.mutable_failure()->set_message(k.message);
          item.mutable_failure()->set_failed_in(v1::ITEM_STATE_PENDING);
          item.mutable_failure()->set_at_unix_ms(now);
          item.set_finished_at_unix_ms(now);
          item.set_mapping_digest(b.mapping_digest);
          item.set_updated_at_unix_ms(now);
          items.push_back(std::move(item));
        };
        for (int64_t c : sel.pending) {
          for (; next != sel.skipped.end() && next->customer_id < c; ++next) {
            add_skipped(*next);
          }
          auto holder = now_busy.find(c);
          if (holder != now_busy.end() && holder->second != batch_id) {
            add_skipped(
                {c, v1::FAILURE_KIND_IN_OTHER_BATCH,
                 absl::StrCat("customer ", c, " is in unfinished batch ",
                              holder->second)});
            continue;
          }
          v1::BatchItem item;
          item.set_batch_id(batch_id);
          item.set_customer_id(c);
          item.set_state(v1::ITEM_STATE_PENDING);
          item.set_mapping_digest(b.mapping_digest);
          item.set_updated_at_unix_ms(now);
          items.push_back(std::move(item));
        }
        for (; next != sel.skipped.end(); ++next) add_skipped(*next);
        WriteItems(conn, batch_id, now, items);
        TANDEM_ASSIGN_OR_RETURN(result, ReadBatch(conn, batch_id));
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<std::vector<int64_t>> MysqlBatchStore::CustomersOf(
    int64_t batch_id, const std::vector<v1::ItemState>& states) {
  std::vector<int64_t> out;
  TANDEM_RETURN_IF_ERROR(pool_->Run(
      "customers of batch", [&](sql::Connection& conn) -> absl::Status {
        Stmt exists(conn.prepareStatement(
            "SELECT 1 FROM migrator_batches WHERE batch_id = ?"));
        exists->setInt64(1, batch_id);
        Rows e(exists->executeQuery());
        if (!e->next()) {
          return absl::NotFoundError(absl::StrCat("no batch ", batch_id));
        }
        std::vector<std::string> in;
        for (v1::ItemState s : states) in.push_back(absl::StrCat(int{s}));
        Stmt ps(conn.prepareStatement(absl::StrCat(
            "SELECT customer_id FROM migrator_items WHERE batch_id = ?",
            in.empty()
                ? ""
                : absl::StrCat(" AND state IN (", absl::StrJoin(in, ","), ")"),
            " ORDER BY customer_id")));
        ps->setInt64(1, batch_id);
        Rows rs(ps->executeQuery());
        while (rs->next()) out.push_back(rs->getInt64(1));
        return absl::OkStatus();
      }));
  return out;
}

absl::StatusOr<v1::Batch> MysqlBatchStore::GetBatch(int64_t batch_id) {
  v1::Batch result;
  TANDEM_RETURN_IF_ERROR(
      pool_->Run("get batch", [&](sql::Connection& conn) -> absl::Status {
        TANDEM_ASSIGN_OR_RETURN(result, ReadBatch(conn, batch_id));
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<v1::Batch> MysqlBatchStore::Act(int64_t batch_id,
                                               BatchAction action,
                                               const Change& change) {
  v1::Batch result;
  TANDEM_RETURN_IF_ERROR(pool_->Transaction(
      "batch action", [&](sql::Connection& conn) -> absl::Status {
        TANDEM_ASSIGN_OR_RETURN(std::optional<int64_t> answered,
                                AnsweredRequest(conn, change.request_id));
        if (answered.has_value()) {
          TANDEM_ASSIGN_OR_RETURN(result, ReadBatch(conn, *answered));
          return absl::OkStatus();
        }
        TANDEM_ASSIGN_OR_RETURN(
            Locked l, LockBatch(conn, batch_id, change.expected_version));
        TANDEM_ASSIGN_OR_RETURN(BatchState to,
                                BatchActionTarget(action, l.state));
        const int64_t now = DbNow(conn);
        if (to != l.state) {
          Blobs keep;
          ::tandem::common::v1::AuditStamp* stamp = l.detail.mutable_updated();
          stamp->set_actor(change.actor);
          stamp->set_reason(change.reason);
          stamp->set_at_unix_ms(now);
          std::string detail;
          l.detail.SerializeToString(&detail);
          const bool starts =
              action == BatchAction::kStart || action == BatchAction::kResume;
          const int64_t failed =
              starts ? CountItems(conn, batch_id, "state = 8") : 0;
          Stmt up(conn.prepareStatement(
              "UPDATE migrator_batches SET state = ?, version = version + 1, "
              "state_reason = '', detail = ?, started_at_ms = IF(? AND "
              "started_at_ms = 0, ?, started_at_ms), failed_base = IF(?, ?, "
              "failed_base), finished_at_ms = IF(?, ?, finished_at_ms) WHERE "
              "batch_id = ?"));
          up->setInt(1, to);
          SetBlob(*up, 2, detail, keep);
          up->setBoolean(3, to == v1::BATCH_STATE_RUNNING);
          up->setInt64(4, now);
          up->setBoolean(5, starts);
          up->setInt64(6, failed);
          up->setBoolean(7, IsTerminalBatch(to));
          up->setInt64(8, now);
          up->setInt64(9, batch_id);
          up->executeUpdate();
          if (action == BatchAction::kCancel) {
            SkipPending(conn, batch_id, now);
            // Nothing in flight: cancelled at once.
            if (to == v1::BATCH_STATE_CANCELLING &&
                CountItems(conn, batch_id, "state BETWEEN 1 AND 5") == 0) {
              Stmt done(conn.prepareStatement(
                  "UPDATE migrator_batches SET state = ?, version = version "
                  "+ 1, finished_at_ms = ? WHERE batch_id = ?"));
              done->setInt(1, v1::BATCH_STATE_CANCELLED);
              done->setInt64(2, now);
              done->setInt64(3, batch_id);
              done->executeUpdate();
            }
          }
        }
        RecordRequest(conn, change.request_id, batch_id, now);
        TANDEM_ASSIGN_OR_RETURN(result, ReadBatch(conn, batch_id));
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<v1::Batch> MysqlBatchStore::UpdateOptions(
    int64_t batch_id, const v1::BatchOptions& options, const Change& change) {
  v1::Batch result;
  TANDEM_RETURN_IF_ERROR(pool_->Transaction(
      "update batch", [&](sql::Connection& conn) -> absl::Status {
        TANDEM_ASSIGN_OR_RETURN(std::optional<int64_t> answered,
                                AnsweredRequest(conn, change.request_id));
        if (answered.has_value()) {
          TANDEM_ASSIGN_OR_RETURN(result, ReadBatch(conn, *answered));
          return absl::OkStatus();
        }
        TANDEM_ASSIGN_OR_RETURN(
            Locked l, LockBatch(conn, batch_id, change.expected_version));
        if (IsTerminalBatch(l.state)) {
          return absl::FailedPreconditionError(
              absl::StrCat("batch ", batch_id, " is ", BatchStateName(l.state),
                           ": its options no longer change"));
        }
        const int64_t now = DbNow(conn);
        Blobs keep;
        *l.detail.mutable_options() = options;
        ::tandem::common::v1::AuditStamp* stamp = l.detail.mutable_updated();
        stamp->set_actor(change.actor);
        stamp->set_reason(change.reason);
        stamp->set_at_unix_ms(now);
        std::string detail, blob;
        l.detail.SerializeToString(&detail);
        options.SerializeToString(&blob);
        Stmt up(conn.prepareStatement(
            "UPDATE migrator_batches SET options = ?, detail = ?, "
            "parallelism = ?, version = version + 1 WHERE batch_id = ?"));
        SetBlob(*up, 1, blob, keep);
        SetBlob(*up, 2, detail, keep);
        up->setInt(3, options.parallelism());
        up->setInt64(4, batch_id);
        up->executeUpdate();
        RecordRequest(conn, change.request_id, batch_id, now);
        TANDEM_ASSIGN_OR_RETURN(result, ReadBatch(conn, batch_id));
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<int64_t> MysqlBatchStore::ReleaseItems(
    int64_t batch_id, const std::vector<int64_t>& customers, bool all_held,
    const Change& change) {
  int64_t released = 0;
  TANDEM_RETURN_IF_ERROR(pool_->Transaction(
      "release items", [&](sql::Connection& conn) -> absl::Status {
        TANDEM_ASSIGN_OR_RETURN(std::optional<int64_t> answered,
                                AnsweredRequest(conn, change.request_id));
        if (answered.has_value()) return absl::OkStatus();
        TANDEM_ASSIGN_OR_RETURN(Locked l, LockBatch(conn, batch_id, 0));
        if (IsTerminalBatch(l.state)) {
          return absl::FailedPreconditionError(absl::StrCat(
              "batch ", batch_id, " is ", BatchStateName(l.state)));
        }
        const int64_t now = DbNow(conn);
        if (all_held) {
          Stmt up(conn.prepareStatement(
              "UPDATE migrator_items SET gate_released = 1, updated_at_ms = "
              "? WHERE batch_id = ? AND held = 1 AND gate_released = 0"));
          up->setInt64(1, now);
          up->setInt64(2, batch_id);
          released = up->executeUpdate();
        }
        for (size_t start = 0; start < customers.size();
             start += kRowsPerStatement) {
          const size_t n =
              std::min(kRowsPerStatement, customers.size() - start);
          Stmt have(conn.prepareStatement(absl::StrCat(
              "SELECT customer_id FROM migrator_items WHERE batch_id = ? AND "
              "customer_id IN (",
              Placeholders(n), ")")));
          have->setInt64(1, batch_id);
          for (size_t i = 0; i < n; ++i) {
            have->setInt64(static_cast<int>(i) + 2, customers[start + i]);
          }
          Rows rs(have->executeQuery());
          std::set<int64_t> found;
          while (rs->next()) found.insert(rs->getInt64(1));
          for (size_t i = start; i < start + n; ++i) {
            if (!found.count(customers[i])) {
              return absl::NotFoundError(absl::StrCat(
                  "customer ", customers[i], " is not in batch ", batch_id));
            }
          }
          Stmt up(conn.prepareStatement(absl::StrCat(
              "UPDATE migrator_items SET gate_released = 1, updated_at_ms = ? "
              "WHERE batch_id = ? AND gate_released = 0 AND customer_id IN (",
              Placeholders(n), ")")));
          up->setInt64(1, now);
          up->setInt64(2, batch_id);
          for (size_t i = 0; i < n; ++i) {
            up->setInt64(static_cast<int>(i) + 3, customers[start + i]);
          }
          released += up->executeUpdate();
        }
        RecordRequest(conn, change.request_id, batch_id, now);
        return absl::OkStatus();
      }));
  return released;
}

absl::StatusOr<bool> MysqlBatchStore::GateReleased(int64_t batch_id,
                                                   int64_t customer_id) {
  bool released = false;
  TANDEM_RETURN_IF_ERROR(pool_->Run("gate", [&](sql::Connection& conn) {
    Stmt ps(conn.prepareStatement(
        "SELECT gate_released FROM migrator_items WHERE batch_id = ? AND "
        "customer_id = ?"));
    ps->setInt64(1, batch_id);
    ps->setInt64(2, customer_id);
    Rows rs(ps->executeQuery());
    released = rs->next() && rs->getInt(1) != 0;
    return absl::OkStatus();
  }));
  return released;
}

absl::StatusOr<std::vector<v1::Batch>> MysqlBatchStore::ListBatches(
    const BatchFilter& filter, int limit, int64_t before_batch_id) {
  std::vector<v1::Batch> out;
  TANDEM_RETURN_IF_ERROR(
      pool_->Run("list batches", [&](sql::Connection& conn) -> absl::Status {
        std::string where = "batch_id < ?";
        if (!filter.states.empty()) {
          std::vector<std::string> in;
          for (auto s : filter.states) in.push_back(absl::StrCat(int{s}));
          absl::StrAppend(&where, " AND state IN (", absl::StrJoin(in, ","),
                          ")");
        }
        if (filter.mode != v1::BATCH_MODE_UNSPECIFIED) {
          absl::StrAppend(&where, " AND mode = ", int{filter.mode});
        }
        if (filter.direction != 0) {
          absl::StrAppend(&where, " AND direction = ", filter.direction);
        }
        Stmt ps(conn.prepareStatement(
            absl::StrCat("SELECT batch_id FROM migrator_batches WHERE ", where,
                         " ORDER BY batch_id DESC LIMIT ?")));
        ps->setInt64(1, before_batch_id > 0 ? before_batch_id : INT64_MAX);
        ps->setInt(2, limit);
        Rows rs(ps->executeQuery());
        std::vector<int64_t> ids;
        while (rs->next()) ids.push_back(rs->getInt64(1));
        for (int64_t id : ids) {
          TANDEM_ASSIGN_OR_RETURN(v1::Batch b, ReadBatch(conn, id));
          out.push_back(std::move(b));
        }
        return absl::OkStatus();
      }));
  return out;
}

absl::StatusOr<std::vector<v1::BatchItem>> MysqlBatchStore::ListItems(
    int64_t batch_id, const ItemFilter& filter, int limit,
    int64_t after_customer_id) {
  std::vector<v1::BatchItem> out;
  TANDEM_RETURN_IF_ERROR(
      pool_->Run("list items", [&](sql::Connection& conn) -> absl::Status {
        Stmt exists(conn.prepareStatement(
            "SELECT 1 FROM migrator_batches WHERE batch_id = ?"));
        exists->setInt64(1, batch_id);
        Rows e(exists->executeQuery());
        if (!e->next()) {
          return absl::NotFoundError(absl::StrCat("no batch ", batch_id));
        }
        std::string where = "i.batch_id = ? AND i.customer_id > ?";
        if (!filter.states.empty()) {
          std::vector<std::string> in;
          for (auto s : filter.states) in.push_back(absl::StrCat(int{s}));
          absl::StrAppend(&where, " AND i.state IN (", absl::StrJoin(in, ","),
                          ")");
        }
        if (!filter.failure_kinds.empty()) {
          std::vector<std::string> in;
          for (auto k : filter.failure_kinds)
            in.push_back(absl::StrCat(int{k}));
          absl::StrAppend(&where, " AND i.failure_kind IN (",
                          absl::StrJoin(in, ","), ")");
        }
        Stmt ps(conn.prepareStatement(absl::StrCat(
            "SELECT ", kPublicItemColumns, " FROM migrator_items i WHERE ",
            where, " ORDER BY i.customer_id LIMIT ?")));
        ps->setInt64(1, batch_id);
        ps->setInt64(2, after_customer_id);
        ps->setInt(3, limit);
        Rows rs(ps->executeQuery());
        while (rs->next()) {
          v1::BatchItem item = ItemFromColumns(*rs);
          if (!filter.include_details) {
            item.clear_plan();
            item.clear_verification();
          }
          out.push_back(std::move(item));
        }
        return absl::OkStatus();
      }));
  return out;
}

absl::StatusOr<std::vector<v1::BatchItem>> MysqlBatchStore::ItemsChangedSince(
    int64_t batch_id, int64_t since_ms, int limit, int64_t* now_ms) {
  std::vector<v1::BatchItem> out;
  TANDEM_RETURN_IF_ERROR(
      pool_->Run("changed items", [&](sql::Connection& conn) -> absl::Status {
        *now_ms = DbNow(conn);
        Stmt ps(conn.prepareStatement(absl::StrCat(
            "SELECT ", kPublicItemColumns,
            " FROM migrator_items i WHERE i.batch_id = ? AND i.updated_at_ms "
            "> ? AND i.updated_at_ms <= ? ORDER BY i.updated_at_ms, "
            "i.customer_id LIMIT ?")));
        ps->setInt64(1, batch_id);
        ps->setInt64(2, since_ms);
        ps->setInt64(3, *now_ms);
        ps->setInt(4, limit);
        Rows rs(ps->executeQuery());
        while (rs->next()) {
          v1::BatchItem item = ItemFromColumns(*rs);
          item.clear_plan();
          item.clear_verification();
          out.push_back(std::move(item));
        }
        return absl::OkStatus();
      }));
  return out;
}

absl::StatusOr<std::vector<BatchControl>> MysqlBatchStore::ActiveBatches() {
  std::vector<BatchControl> out;
  TANDEM_RETURN_IF_ERROR(
      pool_->Run("active batches", [&](sql::Connection& conn) {
        std::unique_ptr<sql::Statement> s(conn.createStatement());
        Rows rs(s->executeQuery(
            "SELECT batch_id, state, mode, options FROM migrator_batches WHERE "
            "state IN (1, 2, 3, 4, 5) ORDER BY batch_id"));
        while (rs->next()) {
          BatchControl c;
          c.batch_id = rs->getInt64(1);
          c.state = static_cast<v1::BatchState>(rs->getInt(2));
          c.mode = static_cast<v1::BatchMode>(rs->getInt(3));
          c.options.ParseFromString(rs->getString(4));
          out.push_back(std::move(c));
        }
        return absl::OkStatus();
      }));
  return out;
}

absl::Status MysqlBatchStore::Reconcile() {
  return pool_->Run("reconcile batches", [&](sql::Connection& conn) {
    const int64_t now = DbNow(conn);
    // PAUSING -> PAUSED: no cutover left and no worker on an item.
    Stmt paused(conn.prepareStatement(
        "UPDATE migrator_batches b SET state = 4, version = version + 1 "
        "WHERE state = 3 AND NOT EXISTS (SELECT 1 FROM migrator_items i WHERE "
        "i.batch_id = b.batch_id AND (i.state IN (4, 5) OR (i.state IN (2, "
        "3) AND i.worker <> '' AND i.lease_until_ms >= ?)))"));
    paused->setInt64(1, now);
    paused->executeUpdate();
    // CANCELLING -> CANCELLED: nothing unfinished but tails.
    Stmt cancelled(conn.prepareStatement(
        "UPDATE migrator_batches b SET state = 6, version = version + 1, "
        "finished_at_ms = ? WHERE state = 5 AND NOT EXISTS (SELECT 1 FROM "
        "migrator_items i WHERE i.batch_id = b.batch_id AND i.state BETWEEN "
        "1 AND 5)"));
    cancelled->setInt64(1, now);
    cancelled->executeUpdate();
    // RUNNING or PAUSING -> COMPLETED: every item finished. The UPDATE
    // reads the batch row as last committed but the subqueries from the
    // statement's snapshot: a batch committed (with its items, in one
    // transaction) after the snapshot would look empty, hence finished, so
    // its items must be seen too (a batch without any completes after a
    // minute).
    Stmt completed(conn.prepareStatement(
        "UPDATE migrator_batches b SET state = 7, version = version + 1, "
        "finished_at_ms = ? WHERE state IN (2, 3) AND NOT EXISTS (SELECT 1 "
        "FROM migrator_items i WHERE i.batch_id = b.batch_id AND i.state NOT "
        "IN (7, 8, 9, 10)) AND (EXISTS (SELECT 1 FROM migrator_items i WHERE "
        "i.batch_id = b.batch_id) OR b.created_at_ms < ?)"));
    completed->setInt64(1, now);
    completed->setInt64(2, now - 60000);
    completed->executeUpdate();
    // RUNNING -> PAUSING after too many failures since the last start.
    std::unique_ptr<sql::Statement> s(conn.createStatement());
    Rows rs(s->executeQuery(
        "SELECT batch_id, options, failed_base FROM migrator_batches WHERE "
        "state = 2"));
    std::vector<std::pair<int64_t, std::string>> pause;
    while (rs->next()) {
      v1::BatchOptions o;
      o.ParseFromString(rs->getString(2));
      if (o.pause_after_failures() <= 0) continue;
      const int64_t id = rs->getInt64(1);
      const int64_t failed = CountItems(conn, id, "state = 8");
      if (failed - rs->getInt64(3) >= o.pause_after_failures()) {
        pause.emplace_back(
            id, absl::StrCat("paused by itself after ",
                             failed - rs->getInt64(3), " failed customers"));
      }
    }
    for (const auto& [id, reason] : pause) {
      Stmt up(conn.prepareStatement(
          "UPDATE migrator_batches SET state = 3, state_reason = ?, version = "
          "version + 1 WHERE batch_id = ? AND state = 2"));
      up->setString(1, reason);
      up->setInt64(2, id);
      up->executeUpdate();
    }
    return absl::OkStatus();
  });
}

absl::Status MysqlBatchStore::AutoPause(int64_t batch_id,
                                        const std::string& reason) {
  return pool_->Run("auto pause", [&](sql::Connection& conn) {
    Stmt up(conn.prepareStatement(
        "UPDATE migrator_batches SET state = 3, state_reason = ?, version = "
        "version + 1 WHERE batch_id = ? AND state = 2"));
    up->setString(1, reason.substr(0, 1000));
    up->setInt64(2, batch_id);
    up->executeUpdate();
    return absl::OkStatus();
  });
}

absl::Status MysqlBatchStore::SaveThrottle(int64_t batch_id,
                                           const v1::ThrottleStatus& status) {
  return pool_->Run("save throttle", [&](sql::Connection& conn) {
    Blobs keep;
    std::string blob;
    status.SerializeToString(&blob);
    Stmt up(conn.prepareStatement(
        "UPDATE migrator_batches SET throttle = ? WHERE batch_id = ?"));
    SetBlob(*up, 1, blob, keep);
    up->setInt64(2, batch_id);
    up->executeUpdate();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::map<int64_t, int>> MysqlBatchStore::Heartbeat(
    const std::string& worker, const std::map<int64_t, int>& busy,
    int64_t live_ms) {
  std::map<int64_t, int> out;
  TANDEM_RETURN_IF_ERROR(
      pool_->Run("heartbeat", [&](sql::Connection& conn) -> absl::Status {
        const int64_t now = DbNow(conn);
        for (const auto& [batch_id, n] : busy) {
          Stmt up(conn.prepareStatement(
              "INSERT INTO migrator_replica_load (batch_id, worker, busy, "
              "heartbeat_ms) VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE "
              "busy = VALUES(busy), heartbeat_ms = VALUES(heartbeat_ms)"));
          up->setInt64(1, batch_id);
          up->setString(2, worker);
          up->setInt(3, n);
          up->setInt64(4, now);
          up->executeUpdate();
        }
        Stmt idle(conn.prepareStatement(
            "DELETE FROM migrator_replica_load WHERE heartbeat_ms < ?"));
        idle->setInt64(1, now - 10 * live_ms);
        idle->executeUpdate();
        Stmt ps(conn.prepareStatement(
            "SELECT batch_id, SUM(busy) FROM migrator_replica_load WHERE "
            "heartbeat_ms >= ? GROUP BY batch_id"));
        ps->setInt64(1, now - live_ms);
        Rows rs(ps->executeQuery());
        while (rs->next()) out[rs->getInt64(1)] = rs->getInt(2);
        return absl::OkStatus();
      }));
  return out;
}

absl::StatusOr<std::vector<v1::BatchItem>> MysqlBatchStore::AllItems(
    int64_t batch_id) {
  std::vector<v1::BatchItem> out;
  TANDEM_RETURN_IF_ERROR(pool_->Run("all items", [&](sql::Connection& conn) {
    Stmt ps(conn.prepareStatement(absl::StrCat(
        "SELECT ", kPublicItemColumns,
        " FROM migrator_items i WHERE i.batch_id = ? ORDER BY i.customer_id")));
    ps->setInt64(1, batch_id);
    Rows rs(ps->executeQuery());
    while (rs->next()) out.push_back(ItemFromColumns(*rs));
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace tandem::migrator
