#include "testbed/datagen/bulk_writer.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tandem::testbed {
namespace {
constexpr size_t kMaxQueuedJobs = 8;
}  // namespace

BulkWriter::Table::Table(BulkWriter* writer, std::string table,
                         std::vector<std::string> columns)
    : writer_(writer), table_(std::move(table)), columns_(std::move(columns)) {
  cells_.reserve(columns_.size() * writer_->batch_rows_);
}

void BulkWriter::Table::EndRow() {
  ++rows_;
  ++total_rows_;
  if (rows_ >= writer_->batch_rows_) Flush();
}

void BulkWriter::Table::Flush() {
  if (rows_ == 0) return;
  std::string row = absl::StrCat(
      "(", absl::StrJoin(std::vector<std::string>(columns_.size(), "?"), ","),
      ")");
  std::string sql = absl::StrCat("INSERT INTO ", table_, " (",
                                 absl::StrJoin(columns_, ","), ") VALUES ");
  sql.reserve(sql.size() + rows_ * (row.size() + 1));
  for (int i = 0; i < rows_; ++i) {
    if (i > 0) sql.push_back(',');
    sql.append(row);
  }
  Job job{std::move(sql), static_cast<int>(columns_.size()), std::move(cells_)};
  cells_ = {};
  cells_.reserve(columns_.size() * writer_->batch_rows_);
  rows_ = 0;
  writer_->Submit(std::move(job));
}

BulkWriter::BulkWriter(MysqlPool& pool, int threads, int batch_rows)
    : pool_(pool), batch_rows_(batch_rows) {
  for (int i = 0; i < std::max(1, threads); ++i) {
    threads_.emplace_back([this] { WriterLoop(); });
  }
}

BulkWriter::~BulkWriter() {
  {
    absl::MutexLock lock(&mu_);
    closing_ = true;
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

BulkWriter::Table* BulkWriter::AddTable(std::string table,
                                        std::vector<std::string> columns) {
  tables_.push_back(std::unique_ptr<Table>(
      new Table(this, std::move(table), std::move(columns))));
  return tables_.back().get();
}

void BulkWriter::Submit(Job job) {
  absl::MutexLock lock(&mu_);
  auto not_full = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return queue_.size() < kMaxQueuedJobs;
  };
  mu_.Await(absl::Condition(&not_full));
  if (!error_.ok()) return;  // drop: the load has failed
  queue_.push_back(std::move(job));
}

absl::Status BulkWriter::Finish() {
  for (auto& t : tables_) t->Flush();
  {
    absl::MutexLock lock(&mu_);
    closing_ = true;
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  absl::MutexLock lock(&mu_);
  return error_;
}

void BulkWriter::WriterLoop() {
  absl::StatusOr<MysqlPool::Lease> lease = pool_.Acquire();
  std::map<std::string, std::unique_ptr<sql::PreparedStatement>> prepared;
  while (true) {
    Job job;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return closing_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      if (!lease.ok() && error_.ok()) error_ = lease.status();
      if (!error_.ok()) continue;  // drain
    }
    absl::Status status;
    try {
      auto it = prepared.find(job.sql);
      if (it == prepared.end()) {
        if (prepared.empty()) {
          std::unique_ptr<sql::Statement> stmt((*lease)->createStatement());
          stmt->execute("SET SESSION unique_checks = 0");
        }
        it = prepared
                 .emplace(job.sql, std::unique_ptr<sql::PreparedStatement>(
                                       (*lease)->prepareStatement(job.sql)))
                 .first;
      }
      sql::PreparedStatement& ps = *it->second;
      for (size_t i = 0; i < job.cells.size(); ++i) {
        const Cell& c = job.cells[i];
        unsigned int index = static_cast<unsigned int>(i + 1);
        switch (c.kind) {
          case Cell::Kind::kNull:
            ps.setNull(index, 0);
            break;
          case Cell::Kind::kInt:
            ps.setInt64(index, c.i);
            break;
          case Cell::Kind::kString:
            ps.setString(index, c.s);
            break;
        }
      }
      ps.executeUpdate();
    } catch (const sql::SQLException& e) {
      status = MysqlErrorToStatus(e, "bulk insert");
    }
    if (!status.ok()) {
      absl::MutexLock lock(&mu_);
      if (error_.ok()) error_ = status;
    }
  }
}

}  // namespace tandem::testbed
