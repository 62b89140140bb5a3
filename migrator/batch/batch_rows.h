// Reading batches and items out of the control tables, shared by the move
// store and the batch store: a batch with its progress (counts, rates, ETA,
// cutover percentiles, throttle), an item's public view, and the control
// database's clock.
#pragma once

#include <cppconn/resultset.h>

#include <cstdint>
#include <istream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
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

// The columns ItemFromColumns reads, with the items table as `i`.
inline constexpr char kPublicItemColumns[] =
    "i.batch_id, i.customer_id, i.state, i.detail, i.worker, i.held";

// An item's public view from a row of kPublicItemColumns.
::tandem::migrator::v1::BatchItem ItemFromColumns(sql::ResultSet& rs);

// Nearest-rank percentile `p` (0-100) of sorted values; 0 when empty.
int64_t Percentile(const std::vector<int64_t>& sorted, double p);

}  // namespace tandem::migrator
