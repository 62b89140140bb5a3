// The batch benchmark: a testbed population on three MariaDB servers
// (source, target, control), 90 % of its customers moved in one live batch
// while charging writes run against the other 10 %. Reports the total time,
// customers/s and rows/s against INSERT ... SELECT of the same tables on
// the source server (the physical limit, timed in the same run), cutover
// p50/p99, failed customers, and the other customers' write latency before
// and during the batch. Run with `bench/run batch` (CUSTOMERS=20000 for the
// issue's full population: 20,000 customers, 200,000 accounts, 2,000,000
// xDRs).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/migrator/charging_load.h"
#include "testbed/traffic/charging.h"
#include "testbed/traffic/route_view.h"
#include "tests/migrator/migrator_fixture.h"

ABSL_FLAG(std::string, report, "bench/reports/batch.md", "Report file.");
ABSL_FLAG(int64_t, customers, 2000,
          "Customers (accounts 10x, xDRs 100x, as the issue's 20,000).");
ABSL_FLAG(int, parallelism, 8, "The batch's parallelism.");
ABSL_FLAG(double, charging_rate, 200, "Charging writes per second.");
ABSL_FLAG(int, baseline_seconds, 10,
          "How long the charging load runs before the batch.");

namespace tandem::migrator::bench {
namespace {

using testing::MigratorEnv;
namespace v1 = ::tandem::migrator::v1;
namespace cv1 = ::tandem::catalog::v1;

// Every customer-owned v1 table copied by INSERT ... SELECT into a scratch
// database on the source server. Returns rows/s; `*rows` the rows copied.
double InsertSelect(const MigratorEnv& env, int64_t* rows) {
  const auto& server = env.testbed().source_server();
  (void)server.Execute(
      "DROP DATABASE IF EXISTS scratch; CREATE DATABASE scratch");
  const char* tables[] = {"customers",     "accounts",
                          "subscriptions", "subscription_usage",
                          "xdrs",          "balance_transactions",
                          "invoices",      "payment_methods",
                          "api_tokens",    "portal_sessions"};
  std::string sql;
  for (const char* t : tables) {
    absl::StrAppend(&sql, "CREATE TABLE scratch.", t, " LIKE billing_v1.", t,
                    "; ");
  }
  (void)server.Execute(sql);
  sql.clear();
  for (const char* t : tables) {
    absl::StrAppend(&sql, "INSERT INTO scratch.", t,
                    " SELECT * FROM billing_v1.", t, "; ");
  }
  const absl::Time start = absl::Now();
  (void)server.Execute(sql);
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  *rows = 0;
  for (const char* t : tables) {
    auto n = server.Query(absl::StrCat("SELECT COUNT(*) FROM scratch.", t), "");
    int64_t v = 0;
    if (n.ok() && !n->empty() && absl::SimpleAtoi((*n)[0], &v)) *rows += v;
  }
  (void)server.Execute("DROP DATABASE scratch");
  return seconds > 0 ? static_cast<double>(*rows) / seconds : 0;
}

// Clones onto the target what has no counterpart (so every customer can
// move) and freezes the catalog with the target open.
bool PrepareCatalog(MigratorEnv& env) {
  cv1::CatalogService::Stub& catalog = env.catalog_stub();
  cv1::GenerateMissingProductsRequest generate;
  generate.set_reason("batch benchmark: clone what has no counterpart");
  cv1::GenerateMissingProductsResponse generated;
  if (!catalog
           .GenerateMissingProducts(MigratorEnv::Ctx().get(), generate,
                                    &generated)
           .ok()) {
    return false;
  }
  for (auto state :
       {cv1::FREEZE_STATE_FROZEN, cv1::FREEZE_STATE_FROZEN_TARGET_OPEN}) {
    cv1::SetFreezeRequest freeze;
    freeze.set_state(state);
    freeze.set_reason("batch benchmark");
    cv1::SetFreezeResponse frozen;
    if (!catalog.SetFreeze(MigratorEnv::Ctx().get(), freeze, &frozen).ok()) {
      return false;
    }
  }
  return true;
}

int Main() {
  const int64_t n = absl::GetFlag(FLAGS_customers);
  testing::EnvOptions o;
  o.datagen.customers = n;
  o.datagen.accounts = 10 * n;
  o.datagen.xdrs = 100 * n;
  o.datagen.large_customers = 0;
  o.datagen.huge_accounts = 0;
  o.freeze = false;
  const absl::Time setup = absl::Now();
  auto env = MigratorEnv::Start(o);
  if (!env.ok()) {
    std::fprintf(stderr, "population: %s\n", env.status().ToString().c_str());
    return 1;
  }
  if (!PrepareCatalog(**env)) {
    std::fprintf(stderr, "catalog preparation failed\n");
    return 1;
  }
  std::fprintf(stderr, "population ready in %.0f s\n",
               absl::ToDoubleSeconds(absl::Now() - setup));
  const int parallelism = absl::GetFlag(FLAGS_parallelism);
  auto server = (*env)->StartMigrator([&](MigratorServerOptions& m) {
    m.mover.tail_window = absl::Seconds(2);
    m.metrics_address = "";
    m.backend.parallelism = parallelism;
  });
  if (!server.ok()) return 1;
  int64_t insert_rows = 0;
  const double insert_rate = InsertSelect(**env, &insert_rows);
  // 90 % move, 10 % are charged throughout.
  const int64_t moving = n * 9 / 10;
  std::vector<int64_t> batch_ids, others;
  for (int64_t c = 1; c <= n; ++c) {
    (c <= moving ? batch_ids : others).push_back(c);
  }
  ChargingLoad charging;
  charging.Start(**env, others, absl::GetFlag(FLAGS_charging_rate));
  const absl::Time until =
      absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_baseline_seconds));
  while (absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(100));  // the baseline's duration
  }
  charging.SetDuring(true);
  testing::Batches batches((*server)->port());
  v1::BatchOptions options;
  options.set_parallelism(parallelism);
  options.set_cutover_timeout_ms(30000);
  const v1::Batch batch = batches.Start("benchmark", batch_ids, options);
  const bool finished = batches.AwaitFinished(batch.batch_id(), absl::Hours(2));
  charging.SetDuring(false);
  charging.Stop();
  const v1::Batch done = batches.Get(batch.batch_id());
  const v1::BatchProgress& p = done.progress();
  // From the start to the last flip (the tails' windows are not copying).
  int64_t last_flip = 0;
  for (const v1::BatchItem& i : batches.Items(batch.batch_id())) {
    last_flip = std::max(last_flip, i.flipped_at_unix_ms());
  }
  const double seconds =
      static_cast<double>(last_flip - done.started_at_unix_ms()) / 1000.0;
  const double rows_per_second =
      seconds > 0 ? static_cast<double>(p.rows_copied()) / seconds : 0;
  std::string report = absl::StrFormat(
      "# Batch benchmark\n\n"
      "`bench/run batch` (CUSTOMERS=%d): %d customers, %d accounts, %d xDRs "
      "on the source; source, target and control on three MariaDB servers "
      "on one machine (2 cores shared with the other engineers' builds); "
      "one migrator replica, batch parallelism %d; charging writes at %.0f/s "
      "on the %d customers not moved.\n\n"
      "| figure | value |\n| --- | --- |\n"
      "| customers in the batch | %d |\n"
      "| finished | %s (%s) |\n"
      "| moved / failed / skipped | %d / %d / %d |\n"
      "| time, start to last flip | %.1f s |\n"
      "| customers/s | %.1f |\n"
      "| rows written | %d |\n"
      "| rows/s | %.0f |\n"
      "| `INSERT ... SELECT` of the same v1 tables on the source server, "
      "same run (the physical limit: no conversion, no network) | %d rows, "
      "%.0f rows/s |\n"
      "| batch rows/s / `INSERT ... SELECT` rows/s | %.2f |\n"
      "| cutover p50 / p99 / max | %d / %d / %d ms |\n"
      "| other customers' charging writes, before the batch: n, p50, p99 | "
      "%d, %.2f ms, %.2f ms |\n"
      "| the same during the batch | %d, %.2f ms, %.2f ms |\n"
      "| failed charging writes | %d |\n",
      static_cast<int>(n), static_cast<int>(n), static_cast<int>(10 * n),
      static_cast<int>(100 * n), parallelism,
      absl::GetFlag(FLAGS_charging_rate), static_cast<int>(others.size()),
      static_cast<int>(batch_ids.size()), finished ? "yes" : "NO",
      v1::BatchState_Name(done.state()), static_cast<int>(p.items_done()),
      static_cast<int>(p.items_failed()), static_cast<int>(p.items_skipped()),
      seconds, seconds > 0 ? static_cast<double>(p.items_done()) / seconds : 0,
      static_cast<int>(p.rows_copied()), rows_per_second,
      static_cast<int>(insert_rows), insert_rate,
      insert_rate > 0 ? rows_per_second / insert_rate : 0.0,
      static_cast<int>(p.cutover_ms_p50()),
      static_cast<int>(p.cutover_ms_p99()),
      static_cast<int>(p.cutover_ms_max()),
      static_cast<int>(charging.before_ms.size()),
      Percentile(charging.before_ms, 0.5), Percentile(charging.before_ms, 0.99),
      static_cast<int>(charging.during_ms.size()),
      Percentile(charging.during_ms, 0.5), Percentile(charging.during_ms, 0.99),
      static_cast<int>(charging.failed));
  std::ofstream(absl::GetFlag(FLAGS_report)) << report;
  std::fputs(report.c_str(), stdout);
  (*server)->Shutdown(absl::Seconds(10));
  return finished && p.items_failed() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace tandem::migrator::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return tandem::migrator::bench::Main();
}
