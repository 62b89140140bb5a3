// A batch's report, what an operator attaches to a change ticket: built
// from the batch and its items alone (no database), as a message and as
// Markdown.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tandem/migrator/v1/migrator.pb.h"

namespace tandem::migrator {

// The report of `batch` from its `items` (with details), listing at most
// `max_customers` customers per section; `now_ms` is when it is made.
::tandem::migrator::v1::BatchReport BuildReport(
    const ::tandem::migrator::v1::Batch& batch,
    const std::vector<::tandem::migrator::v1::BatchItem>& items,
    int max_customers, int64_t now_ms);

// The report as Markdown (sections: summary, outcomes, failures, warnings,
// key conflicts, rows, timings).
std::string ReportMarkdown(const ::tandem::migrator::v1::BatchReport& report);

}  // namespace tandem::migrator
