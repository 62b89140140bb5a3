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
#include <memory>
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

// The population: `n` customers of ten accounts each, with the catalog
// ready to move them. Null (and a message on stderr) when it cannot start.
std::unique_ptr<MigratorEnv> Populate(int64_t n) {
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
    return nullptr;
  }
  if (!PrepareCatalog(**env)) {
    std::fprintf(stderr, "catalog preparation failed\n");
    return nullptr;
  }
  std::fprintf(stderr, "population ready in %.0f s\n",
               absl::ToDoubleSeconds(absl::Now() - setup));
  return *std::move(env);
}

// What the report says about one run.
struct Run {
  int64_t n = 0;
  int parallelism = 0;
  std::vector<int64_t> batch_ids;
  std::vector<int64_t> others;
  bool finished = false;
  v1::Batch done;
  v1::BatchProgress p;
  // From the start to the last flip, and the rows written per second of it.
  double seconds = 0;
  double rows_per_second = 0;
  int64_t insert_rows = 0;
  double insert_rate = 0;
};

// Seconds from the batch's start to its last flip (the tails' windows are
// not copying).
double SecondsToLastFlip(testing::Batches& batches, const v1::Batch& done) {
  int64_t last_flip = 0;
  for (const v1::BatchItem& i : batches.Items(done.batch_id())) {
    last_flip = std::max(last_flip, i.flipped_at_unix_ms());
  }
  return static_cast<double>(last_flip - done.started_at_unix_ms()) / 1000.0;
}

// The report of `r`, with the charging writes' latency.
std::string Report(const Run& r, const ChargingLoad& charging) {
  return absl::StrFormat(
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
      static_cast<int>(r.n), static_cast<int>(r.n), static_cast<int>(10 * r.n),
      static_cast<int>(100 * r.n), r.parallelism,
      absl::GetFlag(FLAGS_charging_rate), static_cast<int>(r.others.size()),
      static_cast<int>(r.batch_ids.size()), r.finished ? "yes" : "NO",
      v1::BatchState_Name(r.done.state()), static_cast<int>(r.p.items_done()),
      static_cast<int>(r.p.items_failed()),
      static_cast<int>(r.p.items_skipped()), r.seconds,
      r.seconds > 0 ? static_cast<double>(r.p.items_done()) / r.seconds : 0,
      static_cast<int>(r.p.rows_copied()), r.rows_per_second,
      static_cast<int>(r.insert_rows), r.insert_rate,
      r.insert_rate > 0 ? r.rows_per_second / r.insert_rate : 0.0,
      static_cast<int>(r.p.cutover_ms_p50()),
      static_cast<int>(r.p.cutover_ms_p99()),
      static_cast<int>(r.p.cutover_ms_max()),
      static_cast<int>(charging.before_ms.size()),
      Percentile(charging.before_ms, 0.5), Percentile(charging.before_ms, 0.99),
      static_cast<int>(charging.during_ms.size()),
      Percentile(charging.during_ms, 0.5), Percentile(charging.during_ms, 0.99),
      static_cast<int>(charging.failed));
}

int Main() {
  Run r;
  r.n = absl::GetFlag(FLAGS_customers);
  std::unique_ptr<MigratorEnv> env = Populate(r.n);
  if (env == nullptr) return 1;
  r.parallelism = absl::GetFlag(FLAGS_parallelism);
  auto server = env->StartMigrator([&](MigratorServerOptions& m) {
    m.mover.tail_window = absl::Seconds(2);
    m.metrics_address = "";
    m.backend.parallelism = r.parallelism;
  });
  if (!server.ok()) return 1;
  r.insert_rate = InsertSelect(*env, &r.insert_rows);
  // 90 % move, 10 % are charged throughout.
  const int64_t moving = r.n * 9 / 10;
  for (int64_t c = 1; c <= r.n; ++c) {
    (c <= moving ? r.batch_ids : r.others).push_back(c);
  }
  ChargingLoad charging;
  charging.Start(*env, r.others, absl::GetFlag(FLAGS_charging_rate));
  const absl::Time until =
      absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_baseline_seconds));
  while (absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(100));  // the baseline's duration
  }
  charging.SetDuring(true);
  testing::Batches batches((*server)->port());
  v1::BatchOptions options;
  options.set_parallelism(r.parallelism);
  options.set_cutover_timeout_ms(30000);
  const v1::Batch batch = batches.Start("benchmark", r.batch_ids, options);
  r.finished = batches.AwaitFinished(batch.batch_id(), absl::Hours(2));
  charging.SetDuring(false);
  charging.Stop();
  r.done = batches.Get(batch.batch_id());
  r.p = r.done.progress();
  r.seconds = SecondsToLastFlip(batches, r.done);
  r.rows_per_second =
      r.seconds > 0 ? static_cast<double>(r.p.rows_copied()) / r.seconds : 0;
  std::string report = Report(r, charging);
  std::ofstream(absl::GetFlag(FLAGS_report)) << report;
  std::fputs(report.c_str(), stdout);
  (*server)->Shutdown(absl::Seconds(10));
  return r.finished && r.p.items_failed() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace tandem::migrator::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return tandem::migrator::bench::Main();
}
