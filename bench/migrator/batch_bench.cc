// The batch benchmark (issue 17): a testbed population on three MariaDB
// servers (source, target, control), 90 % of its customers moved in one
// live batch while the portal traffic runs through the real portal-proxy
// (in front of the two billing simulators) and the charging dispatcher,
// with a share of route-blind writes (a legacy rating job), writes to every
// customer, moved or not, recording each committed write in a ledger.
//
// The customers are split four ways, so the portal's own top-ups and
// settings edits never meet the ledger's (the checker would count them as
// extra rows): of those moved, half get portal visits and half charging
// writes; of the others (not moved) likewise.
//
// Reports the total time, customers/s and rows/s against INSERT ... SELECT
// of the same tables on the source server (the physical limit, timed in the
// same run), cutover p50/p99, failed customers; the other customers' portal
// and charging latency before and during the batch; the portal requests
// that failed, held requests, 503s (the client's count and the proxy's
// metrics); the ledger checker's verdict once the tails ended; and the
// issue's targets, each met or NOT met. Exits non-zero when the batch did
// not finish, a customer failed (other than refused by the catalog's plan:
// the charging load can push a customer's usage past its target limit), a
// portal request failed or the ledger is not clean (the speed targets are
// only reported). Run with `bench/run
// batch` (CUSTOMERS=20000 for the full population: 20,000
// customers, 200,000 accounts, 2,000,000 xDRs).
//
// Over 800 lines (about 830): the scene (groups, flips, loads, proxy
// figures, ledger verdict) and the report's five sections are this
// benchmark's alone, kept in one file; what it shares with migrator_bench
// (the loads, the registry figures, the statement profile) is in the
// headers beside it.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "bench/migrator/charging_load.h"
#include "bench/migrator/portal_load.h"
#include "bench/migrator/registry_figures.h"
#include "bench/migrator/statement_profile.h"
#include "router/client/route_cache.h"
#include "testbed/traffic/charging.h"
#include "testbed/traffic/ledger_check.h"
#include "testbed/traffic/route_view.h"
#include "tests/migrator/migrator_fixture.h"

ABSL_FLAG(std::string, report, "bench/reports/batch.md", "Report file.");
ABSL_FLAG(int64_t, customers, 2000,
          "Customers (accounts 10x, xDRs 100x, as the issue's 20,000).");
ABSL_FLAG(int, parallelism, 8, "The batch's parallelism.");
ABSL_FLAG(int, max_query_latency_ms, 0,
          "The batch's load throttle: back off while the source's probe "
          "query is slower than this (0: no throttle).");
ABSL_FLAG(double, charging_rate, 200,
          "Charging writes per second on the customers not moved.");
ABSL_FLAG(double, moved_charging_rate, 100,
          "Charging writes per second on the customers being moved.");
ABSL_FLAG(double, route_blind_share, 0.1,
          "Share of the charging writes that ignore the router (a legacy "
          "rating job writing v1).");
ABSL_FLAG(double, portal_rate, 40,
          "Portal requests per second through the proxy, for each of the "
          "two groups (customers moved, customers not moved).");
ABSL_FLAG(int, tail_window_seconds, 30,
          "The batch's tail window: how long late writes on the source are "
          "carried after each flip. A moved customer gets charging writes "
          "until half of it has passed.");
ABSL_FLAG(int, baseline_seconds, 10,
          "How long the loads run before the batch (the 'before' figures).");
ABSL_FLAG(bool, statement_profile, false,
          "Run the three servers with performance_schema and add the "
          "statements that took most of each server's time during the "
          "batch to the report (costs the servers a few per cent).");

namespace tandem::migrator::bench {
namespace {

using testing::MigratorEnv;
namespace v1 = ::tandem::migrator::v1;
namespace cv1 = ::tandem::catalog::v1;

// The batch's cutover timeout; the proxy and the charging writers hold a
// customer's requests longer than that, so a cutover never becomes a 503
// or a write not made.
constexpr int kCutoverTimeoutMs = 30000;
constexpr absl::Duration kHoldTimeout = absl::Seconds(40);

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
  if (absl::GetFlag(FLAGS_statement_profile)) {
    o.server.extra_args = {"--performance-schema=ON"};
  }
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

// The customers, split four ways (see the top of the file).
struct Groups {
  std::vector<int64_t> moving, others;
  std::vector<int64_t> moving_portal, moving_charged;
  std::vector<int64_t> others_portal, others_charged;
};

// The first 90 % of the customers move, the rest do not; each part
// alternates between portal visits and charging writes, so both spread
// over the batch's order.
Groups Split(int64_t n) {
  Groups g;
  const int64_t moving = n * 9 / 10;
  for (int64_t c = 1; c <= n; ++c) {
    const bool moves = c <= moving;
    (moves ? g.moving : g.others).push_back(c);
    const bool portal = c % 2 == 0;
    if (moves) {
      (portal ? g.moving_portal : g.moving_charged).push_back(c);
    } else {
      (portal ? g.others_portal : g.others_charged).push_back(c);
    }
  }
  return g;
}

// When each of a set of customers was first seen flipped to the target, as
// the router's Watch-fed cache has it (to within a poll).
class FlipWatch {
 public:
  FlipWatch(testbed::RouteView& routes, std::vector<int64_t> customers)
      : routes_(routes), unflipped_(std::move(customers)) {}

  // Looks at the routes now; true when every customer has flipped.
  bool Poll() {
    absl::MutexLock lock(&mu_);
    return PollLocked();
  }

  // Of `customers`: those not flipped yet, or flipped less than `within`
  // ago (their tail still carries a route-blind write made now).
  std::vector<int64_t> NotFlippedOrWithin(const std::vector<int64_t>& customers,
                                          absl::Duration within) {
    absl::MutexLock lock(&mu_);
    PollLocked();
    const absl::Time now = absl::Now();
    std::vector<int64_t> out;
    for (int64_t c : customers) {
      auto it = flipped_.find(c);
      if (it == flipped_.end() || now - it->second < within) out.push_back(c);
    }
    return out;
  }

 private:
  bool PollLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const absl::Time now = absl::Now();
    std::erase_if(unflipped_, [&](int64_t c) {
      const testbed::RouteSnapshot r = routes_.Current(c);
      if (!r.on_target || r.migrating) return false;
      flipped_[c] = now;
      return true;
    });
    return unflipped_.empty();
  }

  testbed::RouteView& routes_;
  absl::Mutex mu_;
  std::vector<int64_t> unflipped_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, absl::Time> flipped_ ABSL_GUARDED_BY(mu_);
};

// What runs around the batch: the portal, the routes the charging writers
// follow, their own database pools (so one load never waits for the
// other's connections) and ledgers. Members are destroyed in reverse order:
// the view before the cache it listens to.
struct World {
  std::unique_ptr<testing::Portal> portal;
  std::unique_ptr<router::RouteCache> cache;
  std::unique_ptr<testbed::CacheRouteView> routes;
  std::unique_ptr<MysqlPool> source[2], target[2];  // others, moving
  std::string ledger[2];                            // others, moving
};

// Starts the portal and follows the router; null (a message on stderr) on
// failure.
std::unique_ptr<World> StartWorld(const MigratorEnv& env) {
  auto w = std::make_unique<World>();
  auto portal = env.StartPortal(kHoldTimeout, 6);
  if (!portal.ok()) {
    std::fprintf(stderr, "portal: %s\n", portal.status().ToString().c_str());
    return nullptr;
  }
  w->portal = *std::move(portal);
  router::RouteCacheOptions cache_options;
  cache_options.target = absl::StrCat("127.0.0.1:", env.router().port());
  cache_options.token = testing::kViewerToken;
  w->cache = router::RouteCache::Start(cache_options);
  if (!w->cache->WaitForSync(absl::Seconds(10))) {
    std::fprintf(stderr, "the router sent no routes\n");
    return nullptr;
  }
  w->routes = std::make_unique<testbed::CacheRouteView>(w->cache.get());
  for (int i = 0; i < 2; ++i) {
    auto source = MysqlPool::Create(env.testbed().SourceDb(3));
    auto target = MysqlPool::Create(env.testbed().TargetDb(3));
    if (!source.ok() || !target.ok()) {
      std::fprintf(stderr, "charging pools: %s %s\n",
                   source.status().ToString().c_str(),
                   target.status().ToString().c_str());
      return nullptr;
    }
    w->source[i] = *std::move(source);
    w->target[i] = *std::move(target);
    w->ledger[i] =
        absl::StrCat(env.testbed().control_server().dir(),
                     i == 0 ? "/ledger-others" : "/ledger-moving", ".jsonl");
    std::remove(w->ledger[i].c_str());
  }
  return w;
}

// The four loads.
struct Loads {
  ChargingLoad others_charging, moving_charging;
  PortalLoad others_portal, moving_portal;

  void SetDuring(bool during) {
    others_charging.SetDuring(during);
    moving_charging.SetDuring(during);
    others_portal.SetDuring(during);
    moving_portal.SetDuring(during);
  }
  void Stop() {
    others_charging.Stop();
    moving_charging.Stop();
    others_portal.Stop();
    moving_portal.Stop();
  }
};

// Starts every load; the charging writes on moving customers stop for each
// one once half of its tail window has passed since its flip (a route-blind
// write after the window is not carried: the migrator raises an alarm, and
// the ledger would miss it).
void StartLoads(MigratorEnv& env, World& w, const Groups& g, FlipWatch& flips,
                Loads& loads) {
  ChargingLoadOptions o;
  o.routes = w.routes.get();
  o.route_blind_share = absl::GetFlag(FLAGS_route_blind_share);
  o.hold_timeout = kHoldTimeout;
  o.rate = absl::GetFlag(FLAGS_charging_rate);
  o.source = w.source[0].get();
  o.target = w.target[0].get();
  o.ledger_path = w.ledger[0];
  loads.others_charging.Start(env, g.others_charged, o);
  o.rate = absl::GetFlag(FLAGS_moved_charging_rate);
  o.source = w.source[1].get();
  o.target = w.target[1].get();
  o.ledger_path = w.ledger[1];
  const absl::Duration writable =
      absl::Seconds(absl::GetFlag(FLAGS_tail_window_seconds)) / 2;
  o.customers_now = [&flips, &g, writable] {
    return flips.NotFlippedOrWithin(g.moving_charged, writable);
  };
  loads.moving_charging.Start(env, g.moving_charged, o);
  const int port = w.portal->proxy->port();
  const double rate = absl::GetFlag(FLAGS_portal_rate);
  loads.others_portal.Start(port, g.others_portal, rate, 4);
  loads.moving_portal.Start(port, g.moving_portal, rate, 4);
}

// The ledger checker's verdict over both ledgers, asking the router who
// holds each customer; `error` set when a check could not run.
struct Verdict {
  testbed::LedgerCheckResult sum;
  std::string error;
  bool clean() const { return error.empty() && sum.ok(); }
};

Verdict CheckLedgers(const MigratorEnv& env, const World& w) {
  Verdict v;
  auto holders = testbed::RouterHolders(
      absl::StrCat("127.0.0.1:", env.router().port()), testing::kViewerToken);
  for (const std::string& ledger : w.ledger) {
    auto r = testbed::CheckLedger(ledger, env.testbed().v1(),
                                  &env.testbed().v2(), *holders);
    if (!r.ok()) {
      v.error = absl::StrCat(ledger, ": ", r.status().ToString());
      return v;
    }
    testbed::LedgerCheckResult& s = v.sum;
    s.entries += r->entries;
    s.customers += r->customers;
    s.rows_checked += r->rows_checked;
    s.on_source += r->on_source;
    s.on_target += r->on_target;
    s.written_on_target += r->written_on_target;
    s.blind += r->blind;
    s.rounded += r->rounded;
    s.missing += r->missing;
    s.duplicates += r->duplicates;
    s.wrong_values += r->wrong_values;
    s.wrong_balances += r->wrong_balances;
    s.extra += r->extra;
    s.unsettled += r->unsettled;
    for (std::string& p : r->problems) {
      if (s.problems.size() < 20) s.problems.push_back(std::move(p));
    }
  }
  return v;
}

// From the batch's items: seconds from its start to the last flip (the
// tails' windows are not copying), and the late writes the tails carried.
struct ItemFigures {
  double seconds_to_last_flip = 0;
  int64_t late_carried = 0;
  int64_t late_after_window = 0;  // the alarm: not carried
  // Failed items the catalog's plan refused: the charging load can push a
  // customer's usage past its target product's limit during the run, and
  // the plan must refuse it (issue 16); not a failure of the move.
  int64_t refused_by_plan = 0;
  // "customer N: KIND: message" of the first failed or skipped items.
  std::vector<std::string> failures;
};

// What the report says about one run.
struct Run {
  int64_t n = 0;
  int parallelism = 0;
  Groups groups;
  bool finished = false;
  v1::Batch done;
  v1::BatchProgress p;
  // From the start to the last flip, and the rows written per second of it;
  // from the start to the batch's end (its tails included).
  double seconds = 0;
  double seconds_completed = 0;
  double rows_per_second = 0;
  int64_t insert_rows = 0;
  double insert_rate = 0;
  ItemFigures items;
  ProxyFigures proxy;
  std::map<std::string, PhaseFigure> phases;
  Verdict verdict;
  // With --statement_profile: the servers' statements, from the batch's
  // start to its last flip.
  std::string profile;
};

// A table row.
void Row(std::string* out, const std::string& figure,
         const std::string& value) {
  absl::StrAppend(out, "| ", figure, " | ", value, " |\n");
}

std::string Latency(const testbed::TrafficReport& r) {
  return absl::StrFormat("%d, %.2f ms, %.2f ms", r.requests,
                         r.PercentileMs(0.5), r.PercentileMs(0.99));
}

std::string Latency(const std::vector<double>& ms) {
  return absl::StrFormat("%d, %.2f ms, %.2f ms", ms.size(), Percentile(ms, 0.5),
                         Percentile(ms, 0.99));
}

int64_t Count(const std::map<std::string, int64_t>& m, const char* key) {
  auto it = m.find(key);
  return it == m.end() ? 0 : it->second;
}

std::string Met(bool met) { return met ? "met" : "**NOT met**"; }

std::string BatchSection(const Run& r) {
  std::string out = "## The batch\n\n| figure | value |\n| --- | --- |\n";
  Row(&out, "customers in the batch", absl::StrCat(r.groups.moving.size()));
  Row(&out, "finished",
      absl::StrCat(r.finished ? "yes" : "NO", " (",
                   v1::BatchState_Name(r.done.state()), ")"));
  Row(&out, "moved / failed (of them refused by the plan) / skipped",
      absl::StrCat(r.p.items_done(), " / ", r.p.items_failed(), " (",
                   r.items.refused_by_plan, ") / ", r.p.items_skipped()));
  Row(&out, "time, start to last flip", absl::StrFormat("%.1f s", r.seconds));
  Row(&out,
      absl::StrFormat("time, start to the batch's end (each tail window of "
                      "%d s included)",
                      absl::GetFlag(FLAGS_tail_window_seconds)),
      absl::StrFormat("%.1f s", r.seconds_completed));
  Row(&out, "customers/s",
      absl::StrFormat("%.1f",
                      r.seconds > 0
                          ? static_cast<double>(r.p.items_done()) / r.seconds
                          : 0.0));
  Row(&out, "rows written", absl::StrCat(r.p.rows_copied()));
  Row(&out, "rows/s", absl::StrFormat("%.0f", r.rows_per_second));
  Row(&out,
      "`INSERT ... SELECT` of the same v1 tables on the source server, same "
      "run (the physical limit: no conversion, no network)",
      absl::StrFormat("%d rows, %.0f rows/s", r.insert_rows, r.insert_rate));
  Row(&out, "batch rows/s / `INSERT ... SELECT` rows/s",
      absl::StrFormat(
          "%.2f", r.insert_rate > 0 ? r.rows_per_second / r.insert_rate : 0.0));
  Row(&out, "cutover p50 / p99 / max",
      absl::StrFormat("%d / %d / %d ms", r.p.cutover_ms_p50(),
                      r.p.cutover_ms_p99(), r.p.cutover_ms_max()));
  for (const std::string& f : r.items.failures) {
    absl::StrAppend(&out, "\n- failed: ", f);
  }
  if (!r.items.failures.empty()) out.push_back('\n');
  return out;
}

std::string PortalSection(const Run& r, const Loads& l) {
  const Groups& g = r.groups;
  const testbed::TrafficReport& ob = l.others_portal.before;
  const testbed::TrafficReport& od = l.others_portal.during;
  testbed::TrafficReport moving = l.moving_portal.before;
  testbed::TrafficReport copy = l.moving_portal.during;
  moving.Merge(std::move(copy));
  moving.Finish();
  std::string out =
      "## Portal traffic through the proxy\n\n| figure | value |\n"
      "| --- | --- |\n";
  Row(&out,
      absl::StrFormat("customers not moved (%d): requests before the batch: "
                      "n, p50, p99",
                      g.others_portal.size()),
      Latency(ob));
  Row(&out, "the same during the batch (start to last flip)", Latency(od));
  Row(&out, "their p99 during / before",
      absl::StrFormat("%.2f",
                      ob.PercentileMs(0.99) > 0
                          ? od.PercentileMs(0.99) / ob.PercentileMs(0.99)
                          : 0.0));
  Row(&out,
      absl::StrFormat("customers being moved (%d): requests over the run: n, "
                      "p50, p99",
                      g.moving_portal.size()),
      Latency(moving));
  Row(&out, "... served by v1 / v2",
      absl::StrCat(Count(moving.by_system, "v1"), " / ",
                   Count(moving.by_system, "v2")));
  Row(&out,
      "failed requests (5xx, transport errors, 409, 401): not moved / "
      "moved",
      absl::StrCat(PortalLoad::Failed(ob) + PortalLoad::Failed(od), " / ",
                   PortalLoad::Failed(moving)));
  Row(&out, "503 answers the clients saw",
      absl::StrCat(Count(ob.by_status, "503") + Count(od.by_status, "503") +
                   Count(moving.by_status, "503")));
  Row(&out, "held requests (proxy metrics), mean hold",
      absl::StrFormat("%d, %.0f ms", r.proxy.held,
                      r.proxy.held > 0 ? 1000 * r.proxy.held_seconds /
                                             static_cast<double>(r.proxy.held)
                                       : 0.0));
  Row(&out,
      "hold timeouts (answered 503) / refused, hold queue full / all 5xx "
      "answers (proxy metrics)",
      absl::StrCat(r.proxy.hold_timeouts, " / ", r.proxy.hold_rejected, " / ",
                   r.proxy.answered_5xx));
  Row(&out, "requests replayed after a \"customer exported\" answer",
      absl::StrCat(r.proxy.exported_replays));
  Row(&out, "traffic rounds that could not run",
      absl::StrCat(l.others_portal.round_errors +
                   l.moving_portal.round_errors));
  return out;
}

std::string ChargingSection(const Run& r, const Loads& l) {
  const testbed::TrafficReport& m = l.moving_charging.total;
  std::string out =
      "## Charging writes (the dispatcher, following routes, with route-blind "
      "writes)\n\n| figure | value |\n| --- | --- |\n";
  Row(&out,
      absl::StrFormat("customers not moved (%d): writes before the batch: n, "
                      "p50, p99",
                      r.groups.others_charged.size()),
      Latency(l.others_charging.before_ms));
  Row(&out, "the same during the batch (start to last flip)",
      Latency(l.others_charging.during_ms));
  Row(&out,
      absl::StrFormat("customers being moved (%d): writes made, to v1 / v2",
                      r.groups.moving_charged.size()),
      absl::StrCat(Count(m.by_status, "ok"), ", ", Count(m.by_system, "source"),
                   " / ", Count(m.by_system, "target")));
  Row(&out, "... route-blind; held while MIGRATING; refused as exported",
      absl::StrCat(Count(m.by_operation, "blind"), "; ",
                   Count(m.events, "held"), "; ",
                   Count(m.events, "refused_exported")));
  Row(&out,
      "late writes the tails carried to the target; found after a tail "
      "window (the alarm: not carried)",
      absl::StrCat(r.items.late_carried, "; ", r.items.late_after_window));
  Row(&out, "writes not made (failed, hold timeout, ...): not moved / moved",
      absl::StrCat(l.others_charging.failed, " / ", l.moving_charging.failed));
  Row(&out, "charging rounds that could not run",
      absl::StrCat(
          l.others_charging.round_errors + l.moving_charging.round_errors,
          l.moving_charging.last_error.empty()
              ? ""
              : absl::StrCat(" (", l.moving_charging.last_error, ")")));
  return out;
}

std::string LedgerSection(const Run& r) {
  const testbed::LedgerCheckResult& s = r.verdict.sum;
  std::string out =
      "## The ledger checker, after the tails ended\n\n| figure | value |\n"
      "| --- | --- |\n";
  Row(&out, "verdict",
      !r.verdict.error.empty()
          ? absl::StrCat("could not check: ", r.verdict.error)
      : s.ok() ? "OK"
               : "**FAILED**");
  Row(&out, "writes checked, of customers",
      absl::StrCat(s.entries, ", ", s.customers));
  Row(&out, "writes of customers v1 / v2 holds; written on v2; route-blind",
      absl::StrCat(s.on_source, " / ", s.on_target, "; ", s.written_on_target,
                   "; ", s.blind));
  Row(&out,
      "missing / duplicates / wrong values / wrong balances / extra / "
      "unsettled",
      absl::StrCat(s.missing, " / ", s.duplicates, " / ", s.wrong_values, " / ",
                   s.wrong_balances, " / ", s.extra, " / ", s.unsettled));
  for (const std::string& p : s.problems) absl::StrAppend(&out, "\n- ", p);
  if (!s.problems.empty()) out.push_back('\n');
  return out;
}

std::string TargetsSection(const Run& r, const Loads& l) {
  const double ratio =
      r.insert_rate > 0 ? r.rows_per_second / r.insert_rate : 0.0;
  const double before = l.others_portal.before.PercentileMs(0.99);
  const double during = l.others_portal.during.PercentileMs(0.99);
  int64_t failed = PortalLoad::Failed(l.others_portal.before) +
                   PortalLoad::Failed(l.others_portal.during) +
                   PortalLoad::Failed(l.moving_portal.before) +
                   PortalLoad::Failed(l.moving_portal.during);
  std::string out =
      "## The issue's targets\n\n| target | measured | |\n| --- | --- | --- "
      "|\n";
  // The target is for the 20,000 customers (18,000 moved): a
  // smaller run is judged by its rate, projected to them.
  const double moved = static_cast<double>(r.groups.moving.size());
  const double projected = moved > 0 ? r.seconds * (0.9 * 20000 / moved) : 0.0;
  absl::StrAppend(
      &out,
      "| total time (start to last flip) <= 5 minutes for 20,000 "
      "customers | ",
      r.n == 20000
          ? absl::StrFormat("%.1f s", r.seconds)
          : absl::StrFormat("%.1f s for %d; at this rate, %.0f s for 20,000",
                            r.seconds, r.n, projected),
      " | ", Met(r.finished && projected <= 300), " |\n");
  absl::StrAppend(&out, "| rows/s >= 50 % of `INSERT ... SELECT`'s | ",
                  absl::StrFormat("%.0f %%", 100 * ratio), " | ",
                  Met(ratio >= 0.5), " |\n");
  absl::StrAppend(&out,
                  "| other customers' portal p99 during <= 1.5x before | ",
                  absl::StrFormat("%.2f ms vs %.2f ms (%.2fx)", during, before,
                                  before > 0 ? during / before : 0.0),
                  " | ", Met(before > 0 && during <= 1.5 * before), " |\n");
  absl::StrAppend(&out, "| zero failed portal requests | ", failed, " | ",
                  Met(failed == 0), " |\n");
  absl::StrAppend(&out, "| zero lost writes (the ledger checker) | ",
                  r.verdict.sum.missing, " missing, verdict ",
                  r.verdict.clean() ? "OK" : "not clean", " | ",
                  Met(r.verdict.clean()), " |\n");
  return out;
}

std::string Report(const Run& r, const Loads& l) {
  std::string out = absl::StrFormat(
      "# Batch benchmark\n\n"
      "`bench/run batch` (CUSTOMERS=%d): %d customers, %d accounts, %d xDRs "
      "on the source; source, target and control on three MariaDB servers "
      "on one machine (2 cores shared with the other engineers' builds); "
      "one migrator replica, batch parallelism %d, tail window %d s, "
      "%s. "
      "Around the batch, all in the same process: the two billing "
      "simulators behind the real portal-proxy (following the router and "
      "the catalog), portal visits through it at %.0f requests/s on %d "
      "customers moved and %.0f/s on %d not moved; the charging dispatcher "
      "(following the router's routes, %.0f %% of its writes route-blind "
      "to v1) at %.0f writes/s on %d customers moved (each until half its "
      "tail window after its flip) and %.0f/s on %d not moved, every "
      "committed write in a ledger. The loads ran %d s before the batch "
      "(the \"before\" figures) and stopped at its last flip.\n\n",
      r.n, r.n, 10 * r.n, 100 * r.n, r.parallelism,
      absl::GetFlag(FLAGS_tail_window_seconds),
      absl::GetFlag(FLAGS_max_query_latency_ms) > 0
          ? absl::StrCat("backing off while the source's probe query takes "
                         "over ",
                         absl::GetFlag(FLAGS_max_query_latency_ms), " ms")
          : std::string("no load throttle"),
      absl::GetFlag(FLAGS_portal_rate), r.groups.moving_portal.size(),
      absl::GetFlag(FLAGS_portal_rate), r.groups.others_portal.size(),
      100 * absl::GetFlag(FLAGS_route_blind_share),
      absl::GetFlag(FLAGS_moved_charging_rate), r.groups.moving_charged.size(),
      absl::GetFlag(FLAGS_charging_rate), r.groups.others_charged.size(),
      absl::GetFlag(FLAGS_baseline_seconds));
  absl::StrAppend(&out, TargetsSection(r, l), "\n", BatchSection(r), "\n",
                  PhaseSection(r.phases), "\n", PortalSection(r, l), "\n",
                  ChargingSection(r, l), "\n", LedgerSection(r));
  if (!r.profile.empty()) {
    absl::StrAppend(&out,
                    "\n### Statements by server time during the batch\n\n",
                    r.profile);
  }
  return out;
}

ItemFigures FromItems(testing::Batches& batches, const v1::Batch& done) {
  ItemFigures f;
  int64_t last_flip = 0;
  for (const v1::BatchItem& i : batches.Items(done.batch_id())) {
    last_flip = std::max(last_flip, i.flipped_at_unix_ms());
    f.late_carried += i.late_writes_carried();
    f.late_after_window += i.late_writes_after_window();
    if (i.state() == v1::ITEM_STATE_FAILED &&
        i.failure().kind() == v1::FAILURE_KIND_PLAN_REFUSED) {
      ++f.refused_by_plan;
    }
    if (i.has_failure() && f.failures.size() < 10) {
      f.failures.push_back(
          absl::StrCat("customer ", i.customer_id(), ": ",
                       v1::FailureKind_Name(i.failure().kind()), ": ",
                       i.failure().message()));
    }
  }
  f.seconds_to_last_flip =
      static_cast<double>(last_flip - done.started_at_unix_ms()) / 1000.0;
  return f;
}

// Waits until every customer of the batch has flipped (as the routes show
// it), or the batch ended (some never flip: failed, skipped), or `timeout`.
void AwaitLastFlip(testing::Batches& batches, int64_t batch_id,
                   FlipWatch& flips, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Time next_look = absl::Now();
  while (!flips.Poll() && absl::Now() < deadline) {
    if (absl::Now() >= next_look) {
      const v1::BatchState state = batches.Get(batch_id).state();
      if (state == v1::BATCH_STATE_COMPLETED ||
          state == v1::BATCH_STATE_CANCELLED) {
        return;
      }
      next_look = absl::Now() + absl::Seconds(1);
    }
    absl::SleepFor(absl::Milliseconds(100));  // polling the route cache
  }
}

// Runs the loads for the baseline, then the batch under them until its
// last flip; the loads stop there, and the batch's tails are waited for.
// Fills the batch's figures of `r`.
void MoveUnderLoad(MigratorEnv& env, MigratorServer& server, World& w, Run& r,
                   Loads& loads) {
  FlipWatch flips(*w.routes, r.groups.moving);
  StartLoads(env, w, r.groups, flips, loads);
  const absl::Time until =
      absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_baseline_seconds));
  while (absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(100));  // the baseline's duration
  }
  loads.SetDuring(true);
  testing::Batches batches(server.port());
  v1::BatchOptions options;
  options.set_parallelism(r.parallelism);
  options.set_cutover_timeout_ms(kCutoverTimeoutMs);
  options.set_tail_window_seconds(absl::GetFlag(FLAGS_tail_window_seconds));
  if (absl::GetFlag(FLAGS_max_query_latency_ms) > 0) {
    options.mutable_load_throttle()->set_max_query_latency_ms(
        absl::GetFlag(FLAGS_max_query_latency_ms));
  }
  const bool profile = absl::GetFlag(FLAGS_statement_profile);
  const testbed::Testbed& tb = env.testbed();
  if (profile) {
    for (const auto* s :
         {&tb.source_server(), &tb.target_server(), &tb.control_server()}) {
      ResetStatementProfile(*s);
    }
  }
  const v1::Batch batch = batches.Start("benchmark", r.groups.moving, options);
  AwaitLastFlip(batches, batch.batch_id(), flips, absl::Hours(2));
  if (profile) {
    r.profile =
        absl::StrCat(StatementProfile("source (v1)", tb.source_server(), 15),
                     StatementProfile("target (v2)", tb.target_server(), 10),
                     StatementProfile("control", tb.control_server(), 10));
  }
  loads.SetDuring(false);
  loads.Stop();
  r.finished = batches.AwaitFinished(batch.batch_id(), absl::Hours(2));
  r.done = batches.Get(batch.batch_id());
  r.p = r.done.progress();
  r.items = FromItems(batches, r.done);
  r.seconds = r.items.seconds_to_last_flip;
  r.seconds_completed = static_cast<double>(r.done.finished_at_unix_ms() -
                                            r.done.started_at_unix_ms()) /
                        1000.0;
  r.rows_per_second =
      r.seconds > 0 ? static_cast<double>(r.p.rows_copied()) / r.seconds : 0;
}

int Main() {
  Run r;
  r.n = absl::GetFlag(FLAGS_customers);
  std::unique_ptr<MigratorEnv> env = Populate(r.n);
  if (env == nullptr) return 1;
  r.parallelism = absl::GetFlag(FLAGS_parallelism);
  auto server = env->StartMigrator([&](MigratorServerOptions& m) {
    m.metrics_address = "";
    m.backend.parallelism = r.parallelism;
  });
  if (!server.ok()) return 1;
  r.insert_rate = InsertSelect(*env, &r.insert_rows);
  std::unique_ptr<World> world = StartWorld(*env);
  if (world == nullptr) return 1;
  r.groups = Split(r.n);
  Loads loads;
  MoveUnderLoad(*env, **server, *world, r, loads);
  r.proxy = ReadProxy(world->portal->proxy->registry());
  r.phases = ReadPhases((*server)->registry());
  r.verdict = CheckLedgers(*env, *world);
  std::string report = Report(r, loads);
  std::ofstream(absl::GetFlag(FLAGS_report)) << report;
  std::fputs(report.c_str(), stdout);
  const int64_t portal_failed = PortalLoad::Failed(loads.others_portal.before) +
                                PortalLoad::Failed(loads.others_portal.during) +
                                PortalLoad::Failed(loads.moving_portal.before) +
                                PortalLoad::Failed(loads.moving_portal.during);
  world.reset();
  (*server)->Shutdown(absl::Seconds(10));
  return r.finished && r.p.items_failed() == r.items.refused_by_plan &&
                 portal_failed == 0 && r.verdict.clean()
             ? 0
             : 1;
}

}  // namespace
}  // namespace tandem::migrator::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return tandem::migrator::bench::Main();
}
