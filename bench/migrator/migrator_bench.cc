// The migrator's benchmark: customers of 1, 10, 100, 1,000 and 5,000
// accounts moved one at a time on three separate MariaDB servers (source,
// target, control) while charging writes run against other customers.
// Reports the cutover (how long each customer was held), the pre-copy's
// rows/s against INSERT ... SELECT of the same rows on one server (the
// physical limit) and LOAD DATA across the servers, and the capture's cost
// to the other customers' write latency (the same load with and without
// moves). Run with `bench/run migrator`.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "bench/migrator/charging_load.h"
#include "prometheus/collectable.h"
#include "testbed/traffic/charging.h"
#include "testbed/traffic/route_view.h"
#include "tests/migrator/migrator_fixture.h"
#include "tests/testing/subprocess.h"

ABSL_FLAG(std::string, report, "bench/reports/migrator.md", "Report file.");
ABSL_FLAG(int, per_size, 20, "Customers moved per small size class.");
ABSL_FLAG(double, charging_rate, 200, "Charging writes per second.");
ABSL_FLAG(bool, small, true, "Run the customers of 1, 10 and 100 accounts.");
ABSL_FLAG(bool, large, true, "Run the customers of 1,000 and 5,000 accounts.");
ABSL_FLAG(int, baseline_seconds, 10,
          "How long the charging load runs without moves first.");

namespace tandem::migrator::bench {
namespace {

using testing::MigratorEnv;
namespace v1 = ::tandem::migrator::v1;

// Customers with exactly `accounts` accounts (at most `n`), movable.
std::vector<int64_t> WithAccounts(const MigratorEnv& env, int accounts,
                                  size_t n) {
  std::vector<int64_t> out;
  auto rows = env.testbed().source_server().Query(
      absl::StrCat("SELECT i_customer FROM accounts GROUP BY i_customer "
                   "HAVING COUNT(*) = ",
                   accounts, " ORDER BY i_customer"),
      testbed::Testbed::kSourceDb);
  if (!rows.ok()) return out;
  std::vector<int64_t> movable = env.MovableCustomers(100000, 100000);
  for (const std::string& r : *rows) {
    int64_t id = 0;
    if (absl::SimpleAtoi(r, &id) &&
        std::find(movable.begin(), movable.end(), id) != movable.end()) {
      out.push_back(id);
    }
    if (out.size() >= n) break;
  }
  return out;
}

// The pre-copy phase and its parts, as the mover observes them.
constexpr const char* kPreCopyPhases[] = {"pre_copy",          "pre_copy_read",
                                          "pre_copy_convert",  "pre_copy_write",
                                          "pre_copy_catch_up", "pre_copy_hash"};

// The sum of a histogram's observations with label phase=`phase`.
double PhaseSum(MigratorServer& server, const std::string& phase) {
  for (const auto& family : server.registry().Collect()) {
    if (family.name != "tandem_migrator_phase_seconds") continue;
    for (const auto& m : family.metric) {
      for (const auto& l : m.label) {
        if (l.name == "phase" && l.value == phase)
          return m.histogram.sample_sum;
      }
    }
  }
  return 0;
}

struct SizeResult {
  int accounts = 0;
  std::vector<double> held_ms;
  std::vector<double> rows;
  int failed = 0;
};

class Bench {
 public:
  std::string report;

  // Moves each customer (one at a time) and records the cutover.
  SizeResult MoveAll(MigratorServer& server, int accounts,
                     const std::vector<int64_t>& customers) {
    SizeResult r;
    r.accounts = accounts;
    auto stub = testing::MigratorStub(server.port());
    for (int64_t c : customers) {
      v1::MoveCustomerRequest request;
      request.set_customer_id(c);
      request.set_wait(true);
      v1::MoveCustomerResponse response;
      grpc::Status s = stub->MoveCustomer(
          MigratorEnv::Ctx("operator-token-migrator-0001", 600).get(), request,
          &response);
      if (!s.ok() || response.item().state() != v1::ITEM_STATE_TAIL) {
        ++r.failed;
        std::fprintf(stderr, "customer %ld did not move: %s %s\n",
                     static_cast<long>(c), s.error_message().c_str(),
                     response.item().failure().message().c_str());
        continue;
      }
      r.held_ms.push_back(static_cast<double>(response.item().cutover_ms()));
      r.rows.push_back(static_cast<double>(response.item().rows_copied()));
    }
    return r;
  }

  void Row(const SizeResult& r) {
    absl::StrAppendFormat(
        &report, "| %d | %d | %.0f | %.0f | %.0f | %.0f | %d |\n", r.accounts,
        static_cast<int>(r.held_ms.size()), Percentile(r.rows, 0.5),
        Percentile(r.held_ms, 0.5), Percentile(r.held_ms, 0.99),
        r.held_ms.empty()
            ? 0.0
            : *std::max_element(r.held_ms.begin(), r.held_ms.end()),
        r.failed);
  }

  // On the customers not being moved; "during" while customers move.
  ChargingLoad charging;
};

// The customer's rows copied by INSERT ... SELECT into a scratch database on
// the same server: the physical limit of copying them. Returns rows/s.
double InsertSelect(const MigratorEnv& env, int64_t customer, int64_t* rows) {
  const auto& server = env.testbed().source_server();
  (void)server.Execute(
      "DROP DATABASE IF EXISTS scratch; CREATE DATABASE scratch");
  const std::vector<std::pair<std::string, std::string>> tables = {
      {"customers", "i_customer"},
      {"accounts", "i_customer"},
      {"subscriptions", "i_customer"},
      {"xdrs", "i_customer"},
      {"balance_transactions", "i_customer"},
      {"invoices", "i_customer"},
      {"payment_methods", "i_customer"},
      {"api_tokens", "i_customer"}};
  std::string sql;
  for (const auto& [t, c] : tables) {
    absl::StrAppend(&sql, "CREATE TABLE scratch.", t, " LIKE billing_v1.", t,
                    "; ");
  }
  (void)server.Execute(sql);
  sql.clear();
  for (const auto& [t, c] : tables) {
    absl::StrAppend(&sql, "INSERT INTO scratch.", t,
                    " SELECT * FROM billing_v1.", t, " WHERE ", c, " = ",
                    customer, "; ");
  }
  const absl::Time start = absl::Now();
  (void)server.Execute(sql);
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  *rows = 0;
  for (const auto& [t, c] : tables) {
    auto n = server.Query(absl::StrCat("SELECT COUNT(*) FROM scratch.", t));
    int64_t k = 0;
    if (n.ok() && !n->empty() && absl::SimpleAtoi((*n)[0], &k)) *rows += k;
  }
  return seconds > 0 ? static_cast<double>(*rows) / seconds : 0;
}

// The customer's xDRs dumped from the source server and loaded into the
// target server with LOAD DATA LOCAL INFILE. Returns rows/s.
double LoadDataAcross(const MigratorEnv& env, int64_t customer, int64_t* rows) {
  const auto& source = env.testbed().source_server();
  const auto& target = env.testbed().target_server();
  (void)target.Execute(
      "DROP DATABASE IF EXISTS scratch; CREATE DATABASE scratch; "
      "CREATE TABLE scratch.xdrs (i_xdr BIGINT PRIMARY KEY, i_account BIGINT, "
      "i_customer BIGINT, connect_time DATETIME, duration INT, charged_amount "
      "DECIMAL(13,5), CLI VARCHAR(32), CLD VARCHAR(32))");
  const std::string file = absl::StrCat(target.dir(), "/xdrs.tsv");
  const absl::Time start = absl::Now();
  auto dumped = tandem::testing::Run(
      {"/usr/bin/mariadb", "--no-defaults", "-uroot",
       absl::StrCat("--socket=", source.socket_path()), "--batch",
       "--skip-column-names", "billing_v1", "-e",
       absl::StrCat("SELECT * FROM xdrs WHERE i_customer = ", customer)},
      "", 300000);
  if (!dumped.ok() || !dumped->ok()) return 0;
  std::ofstream(file) << dumped->out;
  auto loaded = tandem::testing::Run(
      {"/usr/bin/mariadb", "--no-defaults", "-uroot", "--local-infile=1",
       absl::StrCat("--socket=", target.socket_path()), "scratch", "-e",
       absl::StrCat("LOAD DATA LOCAL INFILE '", file, "' INTO TABLE xdrs")},
      "", 300000);
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (!loaded.ok() || !loaded->ok()) return 0;
  auto n = target.Query("SELECT COUNT(*) FROM scratch.xdrs");
  *rows = 0;
  if (n.ok() && !n->empty()) (void)absl::SimpleAtoi((*n)[0], rows);
  return seconds > 0 ? static_cast<double>(*rows) / seconds : 0;
}

absl::StatusOr<std::unique_ptr<MigratorEnv>> Population(int large_accounts,
                                                        int large_customers,
                                                        int huge) {
  testing::EnvOptions o;
  o.datagen.customers = 1000;
  o.datagen.accounts = 6000 + large_accounts * large_customers + huge;
  o.datagen.xdrs = o.datagen.accounts * 10;
  o.datagen.large_customers = large_customers;
  o.datagen.large_accounts = large_accounts;
  o.datagen.huge_accounts = huge;
  return MigratorEnv::Start(o);
}

// The header of the report and of its cutover table.
void AppendHeader(std::string& report) {
  absl::StrAppend(&report,
                  "# Migrator benchmark\n\n"
                  "Three MariaDB servers on this machine (source v1, target "
                  "v2, control), the real router and catalog, one migrator "
                  "replica moving one customer at a time, while charging "
                  "writes (",
                  absl::GetFlag(FLAGS_charging_rate),
                  " per second, route-blind, on customers not being moved) "
                  "run against the source.\n\n"
                  "## Cutover: how long each customer was held (MIGRATING)\n\n"
                  "| accounts | customers | rows copied (p50) | held p50 ms | "
                  "held p99 ms | held max ms | failed |\n"
                  "| --- | --- | --- | --- | --- | --- | --- |\n");
}

// The figures of copying the 5,000-account customer, each way.
struct CopyComparison {
  double precopy_rate = 0;
  double insert_select_rate = 0;
  double load_data_rate = 0;
  std::map<std::string, double> precopy_phases;
  int64_t precopy_rows = 0;
  int64_t insert_rows = 0;
  int64_t load_rows = 0;
  std::string insert_select_samples;
};

// Moves customers of 1, 10 and 100 accounts under the charging load, after
// the load ran alone for --baseline_seconds. False when the population or
// the migrator did not start.
bool RunSmall(Bench& bench, int per_size) {
  // Small customers: 1 and 10 accounts, and 100 (the population's large
  // ones).
  auto env = Population(100, per_size + 5, 0);
  if (!env.ok()) {
    std::fprintf(stderr, "population: %s\n", env.status().ToString().c_str());
    return false;
  }
  auto server = (*env)->StartMigrator([](MigratorServerOptions& o) {
    o.mover.tail_window = absl::Seconds(2);
    o.metrics_address = "";
  });
  if (!server.ok()) return false;
  std::map<int, std::vector<int64_t>> sizes;
  std::vector<int64_t> moving;
  for (int a : {1, 10, 100}) {
    sizes[a] = WithAccounts(**env, a, static_cast<size_t>(per_size));
    moving.insert(moving.end(), sizes[a].begin(), sizes[a].end());
  }
  std::vector<int64_t> others;
  for (int64_t c = 1; c <= 1000; ++c) {
    if (std::find(moving.begin(), moving.end(), c) == moving.end()) {
      others.push_back(c);
    }
  }
  bench.charging.Start(**env, others, absl::GetFlag(FLAGS_charging_rate));
  // The load without moves first, for the comparison.
  const absl::Time until =
      absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_baseline_seconds));
  while (absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(100));  // the baseline's duration
  }
  bench.charging.SetDuring(true);
  for (int a : {1, 10, 100}) bench.Row(bench.MoveAll(**server, a, sizes[a]));
  bench.charging.SetDuring(false);
  bench.charging.Stop();
  (*server)->Shutdown(absl::Seconds(10));
  return true;
}

// Moves customers of 1,000 accounts and one of 5,000 under the charging
// load, and times the other ways of copying the 5,000-account customer into
// `copy`. False when the population or the migrator did not start.
bool RunLarge(Bench& bench, CopyComparison& copy) {
  // Large customers: 1,000 accounts, and one of 5,000.
  auto env = Population(1000, 3, 5000);
  if (!env.ok()) {
    std::fprintf(stderr, "population: %s\n", env.status().ToString().c_str());
    return false;
  }
  auto server = (*env)->StartMigrator([](MigratorServerOptions& o) {
    o.mover.tail_window = absl::Seconds(2);
    o.mover.cutover_timeout = absl::Seconds(60);
  });
  if (!server.ok()) return false;
  std::vector<int64_t> large = WithAccounts(**env, 1000, 3);
  std::vector<int64_t> huge = WithAccounts(**env, 5000, 1);
  std::vector<int64_t> others;
  for (int64_t c = 1; c <= 1000; ++c) {
    if (std::find(large.begin(), large.end(), c) == large.end() &&
        std::find(huge.begin(), huge.end(), c) == huge.end()) {
      others.push_back(c);
    }
  }
  // INSERT ... SELECT is timed three times (before the charging load,
  // under it just before the 5,000-account move, and under it just
  // after) and its median taken: one sample on a shared machine varies
  // threefold, and the pre-copy it is compared with runs under the load.
  std::vector<double> insert_select_rates;
  if (!huge.empty()) {
    insert_select_rates.push_back(
        InsertSelect(**env, huge[0], &copy.insert_rows));
    copy.load_data_rate = LoadDataAcross(**env, huge[0], &copy.load_rows);
  }
  bench.charging.Start(**env, others, absl::GetFlag(FLAGS_charging_rate));
  bench.charging.SetDuring(true);
  bench.Row(bench.MoveAll(**server, 1000, large));
  if (!huge.empty()) {
    insert_select_rates.push_back(
        InsertSelect(**env, huge[0], &copy.insert_rows));
  }
  std::map<std::string, double> before;
  for (const char* phase : kPreCopyPhases) {
    before[phase] = PhaseSum(**server, phase);
  }
  SizeResult h = bench.MoveAll(**server, 5000, huge);
  for (const char* phase : kPreCopyPhases) {
    copy.precopy_phases[phase] = PhaseSum(**server, phase) - before[phase];
  }
  const double precopy_seconds = copy.precopy_phases["pre_copy"];
  if (!h.rows.empty() && precopy_seconds > 0) {
    copy.precopy_rows = static_cast<int64_t>(h.rows[0]);
    copy.precopy_rate = h.rows[0] / precopy_seconds;
  }
  bench.Row(h);
  if (!huge.empty()) {
    insert_select_rates.push_back(
        InsertSelect(**env, huge[0], &copy.insert_rows));
    std::sort(insert_select_rates.begin(), insert_select_rates.end());
    copy.insert_select_rate =
        insert_select_rates[insert_select_rates.size() / 2];
    copy.insert_select_samples = absl::StrJoin(
        insert_select_rates, ", ", [](std::string* out, double r) {
          absl::StrAppendFormat(out, "%.0f", r);
        });
  }
  bench.charging.SetDuring(false);
  bench.charging.Stop();
  (*server)->Shutdown(absl::Seconds(10));
  return true;
}

// The table of the ways of copying the 5,000-account customer.
void AppendCopyReport(std::string& report, CopyComparison& copy) {
  const double insert_select_seconds =
      copy.insert_select_rate > 0
          ? static_cast<double>(copy.insert_rows) / copy.insert_select_rate
          : 0.0;
  absl::StrAppendFormat(
      &report,
      "\n## Copying the 5,000-account customer\n\n"
      "| how | rows | rows/s | seconds |\n| --- | --- | --- | --- |\n"
      "| the migrator's pre-copy (read a snapshot on the source server, "
      "convert, write the target server, catch up, hash) | %d written | %.0f "
      "| %.2f |\n"
      "| `INSERT ... SELECT` of the same v1 rows on the source server (the "
      "physical limit, no conversion, no network; median of three: %s "
      "rows/s) | %d | %.0f | %.2f |\n"
      "| `mariadb --batch` dump of its xDRs + `LOAD DATA LOCAL INFILE` on the "
      "target server | %d | %.0f | %.2f |\n\n"
      "Pre-copy / INSERT ... SELECT, in rows/s: %.2f. The same customer is "
      "fewer rows on v1 than on v2 (JSON columns become rows), so the ratio "
      "of the times to copy it is the stricter figure: %.2f.\n\n"
      "The pre-copy's parts (seconds): read %.2f, convert %.2f, write %.2f, "
      "catch up %.2f, hash and save the tail's baseline %.2f.\n",
      static_cast<int>(copy.precopy_rows), copy.precopy_rate,
      copy.precopy_phases["pre_copy"], copy.insert_select_samples,
      static_cast<int>(copy.insert_rows), copy.insert_select_rate,
      insert_select_seconds, static_cast<int>(copy.load_rows),
      copy.load_data_rate,
      copy.load_data_rate > 0
          ? static_cast<double>(copy.load_rows) / copy.load_data_rate
          : 0.0,
      copy.insert_select_rate > 0 ? copy.precopy_rate / copy.insert_select_rate
                                  : 0.0,
      copy.precopy_phases["pre_copy"] > 0
          ? insert_select_seconds / copy.precopy_phases["pre_copy"]
          : 0.0,
      copy.precopy_phases["pre_copy_read"],
      copy.precopy_phases["pre_copy_convert"],
      copy.precopy_phases["pre_copy_write"],
      copy.precopy_phases["pre_copy_catch_up"],
      copy.precopy_phases["pre_copy_hash"]);
}

// The charging writes' latency without and with moves.
void AppendChargingReport(std::string& report, const ChargingLoad& charging) {
  absl::StrAppendFormat(
      &report,
      "\n## The capture's cost to other customers' writes\n\n"
      "| charging writes (other customers) | writes | p50 ms | p99 ms |\n"
      "| --- | --- | --- | --- |\n"
      "| no moves | %d | %.2f | %.2f |\n"
      "| while customers move | %d | %.2f | %.2f |\n\n"
      "Failed writes: %d.\n",
      static_cast<int>(charging.before_ms.size()),
      Percentile(charging.before_ms, 0.5), Percentile(charging.before_ms, 0.99),
      static_cast<int>(charging.during_ms.size()),
      Percentile(charging.during_ms, 0.5), Percentile(charging.during_ms, 0.99),
      static_cast<int>(charging.failed));
}

int Main() {
  Bench bench;
  AppendHeader(bench.report);
  const int per_size = absl::GetFlag(FLAGS_per_size);
  CopyComparison copy;
  if (absl::GetFlag(FLAGS_small) && !RunSmall(bench, per_size)) {
    return 1;
  }
  if (absl::GetFlag(FLAGS_large) && !RunLarge(bench, copy)) {
    return 1;
  }
  AppendCopyReport(bench.report, copy);
  AppendChargingReport(bench.report, bench.charging);
  std::ofstream(absl::GetFlag(FLAGS_report)) << bench.report;
  std::fputs(bench.report.c_str(), stdout);
  return 0;
}

}  // namespace
}  // namespace tandem::migrator::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return tandem::migrator::bench::Main();
}
