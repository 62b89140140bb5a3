// Where the database servers spend their time during a benchmark: the
// statements each server ran, grouped by their digest (the statement with
// its literals taken out), from performance_schema. The servers must run
// with --performance-schema=ON (MariaDbServerOptions::extra_args); it costs
// them a few per cent, so the benchmarks turn it on only when asked.
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "tests/testing/mariadb_server.h"

namespace tandem::migrator::bench {

// Forgets what the server ran so far, so that a later StatementProfile
// counts from here. False when the server does not collect digests.
inline bool ResetStatementProfile(
    const ::tandem::testing::MariaDbServer& server) {
  return server
      .Execute(
          "TRUNCATE TABLE "
          "performance_schema.events_statements_summary_by_digest; "
          "TRUNCATE TABLE performance_schema."
          "events_statements_summary_global_by_event_name")
      .ok();
}

// A Markdown table of the `top` statement digests that took the most of the
// server's time since the last reset: calls, total seconds, mean
// milliseconds, rows examined and sent per call, and the digest's text
// (shortened). An explanation instead when it cannot be read.
inline std::string StatementProfile(
    const std::string& name, const ::tandem::testing::MariaDbServer& server,
    int top) {
  auto rows = server.Query(absl::StrCat(
      "SELECT COUNT_STAR, SUM_TIMER_WAIT / 1e12, "
      "SUM_ROWS_EXAMINED / GREATEST(COUNT_STAR, 1), "
      "SUM_ROWS_SENT / GREATEST(COUNT_STAR, 1), "
      "LEFT(REPLACE(REPLACE(IFNULL(DIGEST_TEXT, '?'), '|', '/'), '`', ''), "
      "150) FROM performance_schema.events_statements_summary_by_digest "
      "ORDER BY SUM_TIMER_WAIT DESC LIMIT ",
      top));
  std::string out = absl::StrCat("#### ", name, "\n\n");
  if (!rows.ok()) {
    absl::StrAppend(&out, "not read: ", rows.status().ToString(), "\n\n");
    return out;
  }
  double total = 0;
  auto sum = server.Query(
      "SELECT IFNULL(SUM(SUM_TIMER_WAIT) / 1e12, 0) FROM "
      "performance_schema.events_statements_summary_by_digest");
  if (sum.ok() && !sum->empty()) {
    total = std::strtod((*sum)[0].c_str(), nullptr);
  }
  absl::StrAppend(
      &out,
      absl::StrFormat("All statements: %.1f s of statement time.\n\n", total));
  absl::StrAppend(&out,
                  "| calls | seconds | ms per call | rows examined per call | "
                  "rows sent per call | statement |\n"
                  "| ---: | ---: | ---: | ---: | ---: | --- |\n");
  for (const std::string& row : *rows) {
    std::vector<std::string> c = absl::StrSplit(row, '\t');
    if (c.size() != 5) continue;
    const double calls = std::strtod(c[0].c_str(), nullptr);
    const double seconds = std::strtod(c[1].c_str(), nullptr);
    absl::StrAppend(
        &out,
        absl::StrFormat("| %.0f | %.1f | %.2f | %.0f | %.0f | `%s` |\n", calls,
                        seconds, calls > 0 ? 1000 * seconds / calls : 0,
                        std::strtod(c[2].c_str(), nullptr),
                        std::strtod(c[3].c_str(), nullptr), c[4]));
  }
  absl::StrAppend(&out, "\n");
  return out;
}

}  // namespace tandem::migrator::bench
