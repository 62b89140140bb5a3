// Who is writing, for every write the migrator makes to a billing database:
// a thread-local context set by the back end around one worker's work on one
// customer. BillingDb calls GuardWrite inside the transaction of each write
// it makes, which
//   * fences the write: the migrator's bookkeeping database on the same
//     server holds one row per customer naming the claim (batch, epoch) that
//     may write for it; the write's transaction reads it under a shared lock
//     and goes on only if it names the writer's own claim. A worker that
//     claims the customer takes the row first (TakeFence, an exclusive lock:
//     it waits for the transactions already checked, and every later
//     transaction of an older claim is refused with ABORTED). So once a
//     lease has passed to another worker, the old one cannot write anything
//     more for that customer, on either server, whatever it believes;
//   * paces it: the context's pacer (the batch's write budget and load
//     throttle) may delay each statement.
// Without a context (tests calling BillingDb directly, read-only work) there
// is nothing to check.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "common/mysql_pool.h"

namespace sql {
class Connection;
}

namespace tandem::migrator {

// Delays writes to hold a budget and back off under load.
class WritePacer {
 public:
  virtual ~WritePacer() = default;
  // Called before a statement writing (or deleting) `rows` rows. `urgent`
  // writes (a customer held MIGRATING) are never delayed but are counted.
  virtual void BeforeWrite(int64_t rows, bool urgent) = 0;
};

struct WorkerContext {
  int64_t batch_id = 0;
  int64_t customer_id = 0;
  // The claim's epoch in the control database.
  int64_t epoch = 0;
  std::string worker;
  // False for rehearsals, whose writes are always rolled back.
  bool fenced = true;
  WritePacer* pacer = nullptr;  // may be null
  // True while the writes are urgent (the customer is held); may be empty.
  std::function<bool()> urgent;
};

// The context of the calling thread; nullptr outside a worker's work.
WorkerContext* CurrentWorkerContext();

// Sets the calling thread's context for its lifetime (restoring the previous
// one after). `context` may be null and must outlive the scope. Threads a
// worker starts for its own work set the same context.
class ScopedWorkerContext {
 public:
  explicit ScopedWorkerContext(WorkerContext* context);
  ~ScopedWorkerContext();
  ScopedWorkerContext(const ScopedWorkerContext&) = delete;
  ScopedWorkerContext& operator=(const ScopedWorkerContext&) = delete;

 private:
  WorkerContext* previous_;
};

// The bookkeeping table of fences (`<bookkeeping_db>.fences`), created by
// BillingDb::EnsureBookkeeping.
std::string FenceTableDdl(const std::string& qualified_table);

// Inside the caller's transaction on `conn`: ABORTED unless the fence row of
// `customer_id` names the context's claim. OK without a context, for an
// unfenced one, or for another customer's row (never expected).
absl::Status GuardWrite(sql::Connection& conn,
                        const std::string& qualified_fence_table,
                        int64_t customer_id);

// Lets the context's pacer delay a statement of `rows` rows.
void PaceWrite(int64_t rows);

// Takes the fence of `context`'s customer on one server for its claim, in a
// transaction of its own: ABORTED when a newer claim (a later batch, or a
// higher epoch of the same) holds it already.
absl::Status TakeFence(MysqlPool& pool,
                       const std::string& qualified_fence_table,
                       const WorkerContext& context);

}  // namespace tandem::migrator
