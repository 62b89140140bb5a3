// Fast bulk loading: rows are buffered per table and written as multi-row
// INSERTs (about 1,000 rows per prepared statement, values bound, never
// spliced into SQL) by a few writer threads with their own connections,
// while the caller keeps generating.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/mysql_pool.h"

namespace tandem::testbed {

class BulkWriter {
 public:
  // A bound value.
  struct Cell {
    enum class Kind : uint8_t { kNull, kInt, kString } kind;
    int64_t i = 0;
    std::string s;
  };

  // Starts `threads` writers on `pool` (which needs at least that many
  // connections). Each flushed INSERT holds up to `batch_rows` rows.
  BulkWriter(MysqlPool& pool, int threads, int batch_rows);
  // Joins the writers; call Finish() first to learn the outcome.
  ~BulkWriter();
  BulkWriter(const BulkWriter&) = delete;
  BulkWriter& operator=(const BulkWriter&) = delete;

  // One table's row buffer. Add exactly one value per column, then EndRow().
  class Table {
   public:
    Table& Int(int64_t v) {
      cells_.push_back({Cell::Kind::kInt, v, {}});
      return *this;
    }
    Table& Str(std::string v) {
      cells_.push_back({Cell::Kind::kString, 0, std::move(v)});
      return *this;
    }
    Table& Null() {
      cells_.push_back({Cell::Kind::kNull, 0, {}});
      return *this;
    }
    // Completes a row; hands a full batch to the writers (blocking while
    // they are behind).
    void EndRow();
    int64_t rows_written() const { return total_rows_; }

   private:
    friend class BulkWriter;
    Table(BulkWriter* writer, std::string table,
          std::vector<std::string> columns);
    void Flush();

    BulkWriter* writer_;
    std::string table_;
    std::vector<std::string> columns_;
    std::vector<Cell> cells_;
    int rows_ = 0;
    int64_t total_rows_ = 0;
  };

  // Declares a table to load. The returned buffer lives as long as this
  // writer; use it from one thread.
  Table* AddTable(std::string table, std::vector<std::string> columns);

  // Flushes every table, waits for the writers and returns the first error
  // any statement hit (later batches are skipped after an error).
  absl::Status Finish();

 private:
  struct Job {
    std::string sql;
    int columns;
    std::vector<Cell> cells;
  };
  void Submit(Job job);
  void WriterLoop();

  MysqlPool& pool_;
  const int batch_rows_;
  std::vector<std::unique_ptr<Table>> tables_;
  absl::Mutex mu_;
  std::deque<Job> queue_ ABSL_GUARDED_BY(mu_);
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

}  // namespace tandem::testbed
