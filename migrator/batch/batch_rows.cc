#include "migrator/batch/batch_rows.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

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

}  // namespace tandem::migrator
