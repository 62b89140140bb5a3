// Reading batches and items out of the control tables, shared by the move
// store and the batch store: a batch with its progress (counts, rates, ETA,
// cutover percentiles, throttle), an item's public view, the control
// database's clock, and the one writer of a new batch's row.
#pragma once

#include <cppconn/resultset.h>

#include <cstdint>
#include <functional>
#include <istream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "migrator/move/move_store.h"
#include "tandem/migrator/v1/migrator.pb.h"

namespace sql {
class Connection;
class PreparedStatement;
}  // namespace sql

namespace tandem::migrator {

// The control database's clock, in Unix milliseconds, for SQL.
inline constexpr char kDbNowMs[] =
    "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)";

// Now by the control database's clock.
int64_t DbNow(sql::Connection& conn);

// Binds `bytes` as a blob; `keep` must outlive the statement's execution.
void SetBlob(sql::PreparedStatement& ps, int index, const std::string& bytes,
             std::vector<std::unique_ptr<std::istringstream>>& keep);

// The batch with its progress; NOT_FOUND when unknown.
absl::StatusOr<::tandem::migrator::v1::Batch> ReadBatch(sql::Connection& conn,
                                                        int64_t batch_id);

// The batch a request id created, if any (a retried CreateBatch).
absl::StatusOr<std::optional<int64_t>> BatchOfRequest(
    sql::Connection& conn, const std::string& request_id);

// Inserts the row of new batch `b` in `conn`'s transaction, RUNNING when
// `b.start` (started at `now`) or CREATED, with `parallelism` workers.
// Without a name it carries `placeholder` (unique among pending creations)
// until its id is known, then `default_name(id)`. Returns the batch as its
// detail column holds it (id, name, selector, options, who and when).
// ALREADY_EXISTS when `b.name` is taken. `keep` must outlive the
// transaction's statements.
absl::StatusOr<::tandem::migrator::v1::Batch> InsertBatchRow(
    sql::Connection& conn, const NewBatch& b, int64_t now, int parallelism,
    const std::string& placeholder,
    const std::function<std::string(int64_t batch_id)>& default_name,
    std::vector<std::unique_ptr<std::istringstream>>& keep);

// The columns ItemFromColumns reads, with the items table as `i`.
inline constexpr char kPublicItemColumns[] =
    "i.batch_id, i.customer_id, i.state, i.detail, i.worker, i.held";

// An item's public view from a row of kPublicItemColumns.
::tandem::migrator::v1::BatchItem ItemFromColumns(sql::ResultSet& rs);

// Nearest-rank percentile `p` (0-100) of sorted values; 0 when empty.
int64_t Percentile(const std::vector<int64_t>& sorted, double p);

}  // namespace tandem::migrator
