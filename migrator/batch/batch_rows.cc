#include "migrator/batch/batch_rows.h"

#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tandem::migrator {
namespace {

namespace v1 = ::tandem::migrator::v1;
using Stmt = std::unique_ptr<sql::PreparedStatement>;
using Rows = std::unique_ptr<sql::ResultSet>;

// How far back the current rates look.
constexpr int64_t kRateWindowMs = 60000;

void FillCounts(sql::Connection& conn, int64_t now, v1::Batch* batch) {
  Stmt ps(conn.prepareStatement(
      "SELECT state, COUNT(*), SUM(rows_copied), SUM(held), "
      "SUM(worker <> '' AND lease_until_ms >= ? AND state BETWEEN 2 AND 5), "
      "MAX(cutover_ms), SUM(cutover_ms), SUM(cutover_ms > 0) "
      "FROM migrator_items WHERE batch_id = ? GROUP BY state"));
  ps->setInt64(1, now);
  ps->setInt64(2, batch->batch_id());
  Rows rs(ps->executeQuery());
  v1::BatchProgress* p = batch->mutable_progress();
  int64_t cutover_sum = 0, cutover_n = 0;
  while (rs->next()) {
    const auto state = static_cast<v1::ItemState>(rs->getInt(1));
    const int64_t n = rs->getInt64(2);
    p->set_items_total(p->items_total() + n);
    p->set_rows_copied(p->rows_copied() + rs->getInt64(3));
    p->set_items_held(p->items_held() + rs->getInt64(4));
    p->set_workers_busy(p->workers_busy() + rs->getInt64(5));
    p->set_cutover_ms_max(std::max(p->cutover_ms_max(), rs->getInt64(6)));
    cutover_sum += rs->getInt64(7);
    cutover_n += rs->getInt64(8);
    switch (state) {
      case v1::ITEM_STATE_PENDING:
        p->set_items_pending(p->items_pending() + n);
        break;
      case v1::ITEM_STATE_DONE:
        p->set_items_done(p->items_done() + n);
        break;
      case v1::ITEM_STATE_FAILED:
        p->set_items_failed(p->items_failed() + n);
        break;
      case v1::ITEM_STATE_SKIPPED:
        p->set_items_skipped(p->items_skipped() + n);
        break;
      case v1::ITEM_STATE_ROLLED_BACK:
        p->set_items_rolled_back(p->items_rolled_back() + n);
        break;
      default:
        p->set_items_in_progress(p->items_in_progress() + n);
    }
  }
  if (cutover_n > 0) p->set_cutover_ms_mean(cutover_sum / cutover_n);
}

void FillPercentiles(sql::Connection& conn, v1::Batch* batch) {
  Stmt ps(conn.prepareStatement(
      "SELECT cutover_ms FROM migrator_items WHERE batch_id = ? AND "
      "cutover_ms > 0 ORDER BY cutover_ms"));
  ps->setInt64(1, batch->batch_id());
  Rows rs(ps->executeQuery());
  std::vector<int64_t> values;
  while (rs->next()) values.push_back(rs->getInt64(1));
  v1::BatchProgress* p = batch->mutable_progress();
  p->set_cutover_ms_p50(Percentile(values, 50));
  p->set_cutover_ms_p90(Percentile(values, 90));
  p->set_cutover_ms_p99(Percentile(values, 99));
}

// Rates over the last minute (or since the start, when shorter), and the
// ETA they give, while the batch runs.
void FillRates(sql::Connection& conn, int64_t now, v1::Batch* batch) {
  v1::BatchProgress* p = batch->mutable_progress();
  const int64_t started = batch->started_at_unix_ms();
  if (started <= 0) return;
  const int64_t end =
      batch->finished_at_unix_ms() > 0 ? batch->finished_at_unix_ms() : now;
  const int64_t window =
      std::max<int64_t>(1000, std::min<int64_t>(kRateWindowMs, end - started));
  Stmt ps(conn.prepareStatement(
      "SELECT COUNT(*), COALESCE(SUM(rows_copied), 0) FROM migrator_items "
      "WHERE batch_id = ? AND ended_at_ms > ?"));
  ps->setInt64(1, batch->batch_id());
  ps->setInt64(2, end - window);
  Rows rs(ps->executeQuery());
  if (!rs->next()) return;
  const double seconds = static_cast<double>(window) / 1000.0;
  p->set_customers_per_second(static_cast<double>(rs->getInt64(1)) / seconds);
  p->set_customers_per_hour(p->customers_per_second() * 3600.0);
  p->set_rows_per_second(static_cast<double>(rs->getInt64(2)) / seconds);
  const int64_t remaining = p->items_pending() + p->items_in_progress();
  if (batch->state() == v1::BATCH_STATE_RUNNING && remaining > 0 &&
      p->customers_per_second() > 0) {
    p->set_eta_unix_ms(now + static_cast<int64_t>(std::ceil(
                                 1000.0 * static_cast<double>(remaining) /
                                 p->customers_per_second())));
  }
}

}  // namespace

int64_t DbNow(sql::Connection& conn) {
  std::unique_ptr<sql::Statement> s(conn.createStatement());
  Rows rs(s->executeQuery(absl::StrCat("SELECT ", kDbNowMs)));
  rs->next();
  return rs->getInt64(1);
}

void SetBlob(sql::PreparedStatement& ps, int index, const std::string& bytes,
             std::vector<std::unique_ptr<std::istringstream>>& keep) {
  keep.push_back(std::make_unique<std::istringstream>(bytes));
  ps.setBlob(index, keep.back().get());
}

int64_t Percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double rank = std::ceil(p / 100.0 * static_cast<double>(sorted.size()));
  const size_t i = static_cast<size_t>(std::max(1.0, rank)) - 1;
  return sorted[std::min(i, sorted.size() - 1)];
}

absl::StatusOr<v1::Batch> ReadBatch(sql::Connection& conn, int64_t batch_id) {
  Stmt ps(conn.prepareStatement(
      "SELECT detail, state, version, state_reason, started_at_ms, "
      "finished_at_ms, options, throttle FROM migrator_batches WHERE "
      "batch_id = ?"));
  ps->setInt64(1, batch_id);
  Rows rs(ps->executeQuery());
  if (!rs->next()) {
    return absl::NotFoundError(absl::StrCat("no batch ", batch_id));
  }
  v1::Batch batch;
  batch.ParseFromString(rs->getString(1));
  batch.set_batch_id(batch_id);
  batch.set_state(static_cast<v1::BatchState>(rs->getInt(2)));
  batch.set_version(rs->getInt64(3));
  batch.set_state_reason(rs->getString(4));
  batch.set_started_at_unix_ms(rs->getInt64(5));
  batch.set_finished_at_unix_ms(rs->getInt64(6));
  batch.mutable_options()->ParseFromString(rs->getString(7));
  if (!rs->isNull(8)) {
    batch.mutable_progress()->mutable_throttle()->ParseFromString(
        rs->getString(8));
  }
  const int64_t now = DbNow(conn);
  FillCounts(conn, now, &batch);
  FillPercentiles(conn, &batch);
  FillRates(conn, now, &batch);
  return batch;
}

v1::BatchItem ItemFromColumns(sql::ResultSet& rs) {
  v1::BatchItem item;
  item.ParseFromString(rs.getString("detail"));
  item.set_batch_id(rs.getInt64("batch_id"));
  item.set_customer_id(rs.getInt64("customer_id"));
  item.set_state(static_cast<v1::ItemState>(rs.getInt("state")));
  item.set_worker(rs.getString("worker"));
  item.set_held_at_gate(rs.getInt("held") != 0);
  return item;
}

absl::StatusOr<std::optional<int64_t>> BatchOfRequest(
    sql::Connection& conn, const std::string& request_id) {
  if (request_id.empty()) return std::nullopt;
  Stmt find(conn.prepareStatement(
      "SELECT batch_id FROM migrator_batches WHERE request_id = ?"));
  find->setString(1, request_id);
  Rows rs(find->executeQuery());
  if (!rs->next()) return std::nullopt;
  return rs->getInt64(1);
}

absl::StatusOr<v1::Batch> InsertBatchRow(
    sql::Connection& conn, const NewBatch& b, int64_t now, int parallelism,
    const std::string& placeholder,
    const std::function<std::string(int64_t batch_id)>& default_name,
    std::vector<std::unique_ptr<std::istringstream>>& keep) {
  v1::Batch batch;
  batch.set_name(b.name);
  batch.set_description(b.description);
  *batch.mutable_selector() = b.selector;
  batch.set_mode(b.mode);
  batch.set_direction(b.direction == Direction::kMove
                          ? ::tandem::common::v1::DIRECTION_MOVE
                          : ::tandem::common::v1::DIRECTION_ROLLBACK);
  *batch.mutable_options() = b.options;
  batch.set_mapping_digest(b.mapping_digest);
  batch.mutable_created()->set_actor(b.actor);
  batch.mutable_created()->set_reason(b.reason);
  batch.mutable_created()->set_at_unix_ms(now);
  *batch.mutable_updated() = batch.created();
  std::string options;
  b.options.SerializeToString(&options);
  Stmt insert(conn.prepareStatement(
      "INSERT INTO migrator_batches (name, request_id, state, mode, "
      "direction, version, options, detail, created_at_ms, "
      "started_at_ms, parallelism) VALUES (?, ?, ?, ?, ?, 1, ?, '', ?, ?, ?)"));
  insert->setString(1, b.name.empty() ? placeholder : b.name);
  if (b.request_id.empty()) {
    insert->setNull(2, 0);
  } else {
    insert->setString(2, b.request_id);
  }
  insert->setInt(3,
                 b.start ? v1::BATCH_STATE_RUNNING : v1::BATCH_STATE_CREATED);
  insert->setInt(4, b.mode);
  insert->setInt(5, batch.direction());
  SetBlob(*insert, 6, options, keep);
  insert->setInt64(7, now);
  insert->setInt64(8, b.start ? now : 0);
  insert->setInt(9, parallelism);
  try {
    insert->executeUpdate();
  } catch (const sql::SQLException& e) {
    if (e.getErrorCode() == 1062) {
      return absl::AlreadyExistsError(
          absl::StrCat("a batch named \"", b.name, "\" exists already"));
    }
    throw;
  }
  std::unique_ptr<sql::Statement> s(conn.createStatement());
  Rows id(s->executeQuery("SELECT LAST_INSERT_ID()"));
  id->next();
  const int64_t batch_id = id->getInt64(1);
  if (b.name.empty()) batch.set_name(default_name(batch_id));
  batch.set_batch_id(batch_id);
  std::string detail;
  batch.SerializeToString(&detail);
  Stmt update(conn.prepareStatement(
      "UPDATE migrator_batches SET name = ?, detail = ? WHERE batch_id = ?"));
  update->setString(1, batch.name());
  SetBlob(*update, 2, detail, keep);
  update->setInt64(3, batch_id);
  update->executeUpdate();
  return batch;
}

}  // namespace tandem::migrator
