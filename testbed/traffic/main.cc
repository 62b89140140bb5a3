// tandem-traffic: live traffic against the billing systems, and the
// operator's dual-entry check.
//   tandem-traffic portal   --url=http://127.0.0.1:8080 --customers=1-2000
//   tandem-traffic charging --source_db_url=... --target_db_url=...
//       --router_address=... --router_token_file=... --ledger=/tmp/l.jsonl
//   tandem-traffic compare  --url=... --customers=... --save_snapshot=F
//   tandem-traffic compare  --url=... --customers=... --snapshot=F
// portal and charging run at --rate per second for --duration_seconds (or
// --max requests/writes) and print a report (text on stdout; JSON with
// --report_json). compare exits 1 when the second fetch differs.
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/config.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "testbed/traffic/charging.h"
#include "testbed/traffic/compare.h"
#include "testbed/traffic/id_list.h"
#include "testbed/traffic/portal_traffic.h"

ABSL_FLAG(double, rate, 100, "Requests (portal) or writes (charging) per s.");
ABSL_FLAG(double, duration_seconds, 10, "How long to run.");
ABSL_FLAG(int64_t, max, 0, "Stop after this many requests/writes (0: none).");
ABSL_FLAG(int, connections, 8, "Concurrent connections (threads).");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the request/write sequence.");
ABSL_FLAG(std::string, customers, "",
          "Customer ids, e.g. 1-2000,5000 (portal, compare: required; "
          "charging: empty = all).");
ABSL_FLAG(std::string, report_json, "", "Also write the report here as JSON.");
ABSL_FLAG(std::string, url, "http://127.0.0.1:8080",
          "portal, compare: base URL to log in through (the proxy's one URL, "
          "or a simulator).");
ABSL_FLAG(std::string, source_db_url, "tcp://127.0.0.1:3306",
          "charging: the source (v1) server.");
ABSL_FLAG(std::string, source_db_user, "tandem", "charging: its user.");
ABSL_FLAG(std::string, source_db_password_file, "",
          "charging: file holding its password.");
ABSL_FLAG(std::string, source_db, "billing_v1", "charging: source database.");
ABSL_FLAG(std::string, target_db_url, "",
          "charging: the target (v2) server; empty = no target (only "
          "without --router_address).");
ABSL_FLAG(std::string, target_db_user, "tandem", "charging: its user.");
ABSL_FLAG(std::string, target_db_password_file, "",
          "charging: file holding its password; empty = the source's.");
ABSL_FLAG(std::string, target_db, "billing_v2", "charging: target database.");
ABSL_FLAG(std::string, router_address, "",
          "charging: the router (host:port) whose routes writes follow; "
          "empty = every write to the source.");
ABSL_FLAG(std::string, router_token_file, "",
          "charging: file holding a router token (viewer role or above).");
ABSL_FLAG(int64_t, hold_timeout_ms, 10000,
          "charging: how long a write waits for a MIGRATING route to settle, "
          "or for a refused write's route to move on.");
ABSL_FLAG(int64_t, router_sync_timeout_ms, 10000,
          "charging: how long to wait for the router's first snapshot.");
ABSL_FLAG(std::string, focus_customers, "",
          "charging: customers being migrated (get --focus_share of writes).");
ABSL_FLAG(double, focus_share, 0.5, "charging: share for focus customers.");
ABSL_FLAG(double, adjust_share, 0.1,
          "charging: share of customer balance adjustments.");
ABSL_FLAG(double, topup_share, 0.1, "charging: share of top-ups.");
ABSL_FLAG(double, usage_share, 0.1, "charging: share of usage increments.");
ABSL_FLAG(double, settings_share, 0.1,
          "charging: share of settings edits (some delete a setting); the "
          "rest are charged calls.");
ABSL_FLAG(double, route_blind_share, 0,
          "charging: share of writes that ignore the router and the status "
          "check and write v1, as a legacy rating job.");
ABSL_FLAG(double, inexact_share, 0.3,
          "charging: share of v2 writes with amounts and durations v1 cannot "
          "hold exactly.");
ABSL_FLAG(std::string, ledger, "", "charging: ledger file (appended).");
ABSL_FLAG(std::string, save_snapshot, "",
          "compare: fetch and save the customers' view here.");
ABSL_FLAG(std::string, snapshot, "",
          "compare: fetch again and compare with this saved snapshot.");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");

namespace {

using namespace tandem::testbed;

absl::StatusOr<std::pair<std::string, int>> HostPort() {
  const std::string flag = absl::GetFlag(FLAGS_url);
  absl::string_view url = flag;
  if (!absl::ConsumePrefix(&url, "http://")) {
    return absl::InvalidArgumentError("--url must start with http://");
  }
  url = url.substr(0, url.find('/'));
  std::vector<std::string> host_port = absl::StrSplit(url, ':');
  int port = 80;
  if (host_port.size() > 2 || host_port[0].empty() ||
      (host_port.size() == 2 && !absl::SimpleAtoi(host_port[1], &port))) {
    return absl::InvalidArgumentError(absl::StrCat("bad --url '", flag, "'"));
  }
  return std::make_pair(host_port[0], port);
}

absl::StatusOr<TrafficReport> RunPortal() {
  PortalTrafficOptions o;
  TANDEM_ASSIGN_OR_RETURN(auto host_port, HostPort());
  o.host = host_port.first;
  o.port = host_port.second;
  o.rate = absl::GetFlag(FLAGS_rate);
  o.duration = absl::Seconds(absl::GetFlag(FLAGS_duration_seconds));
  o.max_requests = absl::GetFlag(FLAGS_max);
  o.connections = absl::GetFlag(FLAGS_connections);
  o.seed = absl::GetFlag(FLAGS_seed);
  TANDEM_ASSIGN_OR_RETURN(o.customers,
                          ParseIdList(absl::GetFlag(FLAGS_customers)));
  return RunPortalTraffic(o);
}

// A pool for one billing database, with the flags' names in its errors.
absl::StatusOr<std::unique_ptr<tandem::MysqlPool>> Pool(
    const char* which, const std::string& url, const std::string& user,
    const std::string& password_file, const std::string& db, int size) {
  tandem::MysqlOptions o;
  o.url = url;
  o.user = user;
  absl::StatusOr<std::string> password = tandem::ReadSecretFile(password_file);
  if (!password.ok()) {
    return absl::Status(password.status().code(),
                        absl::StrCat("--", which, "_db_password_file: ",
                                     password.status().message()));
  }
  o.password = *password;
  o.database = db;
  o.pool_size = size;
  o.name = which;
  absl::StatusOr<std::unique_ptr<tandem::MysqlPool>> pool =
      tandem::MysqlPool::Create(o);
  if (!pool.ok()) {
    return absl::Status(pool.status().code(),
                        absl::StrCat("the ", which, " database ", db, " at ",
                                     url, ": ", pool.status().message()));
  }
  return pool;
}

// The charging options the flags give, checked.
absl::StatusOr<ChargingOptions> ChargingOptionsFromFlags() {
  ChargingOptions o;
  o.rate = absl::GetFlag(FLAGS_rate);
  o.duration = absl::Seconds(absl::GetFlag(FLAGS_duration_seconds));
  o.max_writes = absl::GetFlag(FLAGS_max);
  o.connections = absl::GetFlag(FLAGS_connections);
  o.seed = absl::GetFlag(FLAGS_seed);
  o.focus_share = absl::GetFlag(FLAGS_focus_share);
  o.adjust_share = absl::GetFlag(FLAGS_adjust_share);
  o.topup_share = absl::GetFlag(FLAGS_topup_share);
  o.usage_share = absl::GetFlag(FLAGS_usage_share);
  o.settings_share = absl::GetFlag(FLAGS_settings_share);
  o.route_blind_share = absl::GetFlag(FLAGS_route_blind_share);
  o.inexact_share = absl::GetFlag(FLAGS_inexact_share);
  o.hold_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_hold_timeout_ms));
  o.ledger_path = absl::GetFlag(FLAGS_ledger);
  if (o.ledger_path.empty()) {
    return absl::InvalidArgumentError("--ledger is required");
  }
  TANDEM_ASSIGN_OR_RETURN(o.customers,
                          ParseIdList(absl::GetFlag(FLAGS_customers)));
  TANDEM_ASSIGN_OR_RETURN(o.focus_customers,
                          ParseIdList(absl::GetFlag(FLAGS_focus_customers)));
  TANDEM_RETURN_IF_ERROR(ValidateChargingOptions(o));
  return o;
}

// The token of --router_token_file.
absl::StatusOr<std::string> RouterToken() {
  absl::StatusOr<std::string> token =
      tandem::ReadSecretFile(absl::GetFlag(FLAGS_router_token_file));
  if (!token.ok()) {
    return absl::Status(
        token.status().code(),
        absl::StrCat("--router_token_file: ", token.status().message()));
  }
  return *token;
}

// The target database's pool, or null without --target_db_url. The target
// takes the source's password file unless it has its own.
absl::StatusOr<std::unique_ptr<tandem::MysqlPool>> TargetPool(int size) {
  const std::string target_url = absl::GetFlag(FLAGS_target_db_url);
  if (target_url.empty()) {
    return std::unique_ptr<tandem::MysqlPool>();
  }
  std::string password_file = absl::GetFlag(FLAGS_target_db_password_file);
  if (password_file.empty()) {
    password_file = absl::GetFlag(FLAGS_source_db_password_file);
  }
  return Pool("target", target_url, absl::GetFlag(FLAGS_target_db_user),
              password_file, absl::GetFlag(FLAGS_target_db), size);
}

// Where the traffic learns each customer's system: the router's routes
// (through a synced cache), or every customer on the source without a
// router. The view goes before the cache it listens to (member order).
struct Routes {
  std::unique_ptr<tandem::router::RouteCache> cache;
  std::unique_ptr<RouteView> view;
};

absl::StatusOr<Routes> FollowRoutes(const std::string& router,
                                    const std::string& router_token) {
  Routes routes;
  if (router.empty()) {
    routes.view = std::make_unique<SourceOnlyRouteView>();
    return routes;
  }
  tandem::router::RouteCacheOptions cache_options;
  cache_options.target = router;
  cache_options.token = router_token;
  cache_options.metrics_prefix = "tandem_traffic";
  routes.cache = tandem::router::RouteCache::Start(cache_options);
  const int64_t sync_ms = absl::GetFlag(FLAGS_router_sync_timeout_ms);
  if (!routes.cache->WaitForSync(absl::Milliseconds(sync_ms))) {
    return absl::UnavailableError(
        absl::StrCat("the router at ", router, " sent no routes within ",
                     sync_ms, " ms (is it running? is the token valid?)"));
  }
  routes.view = std::make_unique<CacheRouteView>(routes.cache.get());
  return routes;
}

absl::StatusOr<TrafficReport> RunChargingMode() {
  TANDEM_ASSIGN_OR_RETURN(ChargingOptions o, ChargingOptionsFromFlags());
  const std::string router = absl::GetFlag(FLAGS_router_address);
  if (!router.empty() && absl::GetFlag(FLAGS_target_db_url).empty()) {
    return absl::InvalidArgumentError(
        "--router_address needs --target_db_url: routes may point there");
  }
  std::string router_token;
  if (!router.empty()) {
    TANDEM_ASSIGN_OR_RETURN(router_token, RouterToken());
  }
  const int size = std::max(1, o.connections) + 1;
  TANDEM_ASSIGN_OR_RETURN(auto source,
                          Pool("source", absl::GetFlag(FLAGS_source_db_url),
                               absl::GetFlag(FLAGS_source_db_user),
                               absl::GetFlag(FLAGS_source_db_password_file),
                               absl::GetFlag(FLAGS_source_db), size));
  TANDEM_ASSIGN_OR_RETURN(std::unique_ptr<tandem::MysqlPool> target,
                          TargetPool(size));
  TANDEM_ASSIGN_OR_RETURN(Routes routes, FollowRoutes(router, router_token));
  ChargingTargets targets;
  targets.source = source.get();
  targets.target = target.get();
  targets.routes = routes.view.get();
  absl::StatusOr<TrafficReport> report = RunCharging(targets, o);
  routes.view.reset();  // before the cache it listens to
  return report;
}

int RunCompare() {
  CompareOptions o;
  absl::StatusOr<std::pair<std::string, int>> host_port = HostPort();
  absl::StatusOr<std::vector<int64_t>> customers =
      ParseIdList(absl::GetFlag(FLAGS_customers));
  const std::string save = absl::GetFlag(FLAGS_save_snapshot);
  const std::string check = absl::GetFlag(FLAGS_snapshot);
  absl::Status bad = !host_port.ok()   ? host_port.status()
                     : !customers.ok() ? customers.status()
                     : customers->empty()
                         ? absl::InvalidArgumentError("--customers is required")
                     : save.empty() == check.empty()
                         ? absl::InvalidArgumentError(
                               "give exactly one of --save_snapshot and "
                               "--snapshot")
                         : absl::OkStatus();
  if (!bad.ok()) {
    std::cerr << "tandem-traffic compare: " << bad << "\n";
    return 2;
  }
  o.host = host_port->first;
  o.port = host_port->second;
  o.customers = *customers;
  absl::StatusOr<CustomerViews> now = FetchCustomerViews(o);
  if (!now.ok()) {
    std::cerr << "tandem-traffic compare: " << now.status() << "\n";
    return 2;
  }
  if (!save.empty()) {
    absl::Status s = SaveSnapshot(*now, save);
    if (!s.ok()) {
      std::cerr << "tandem-traffic compare: " << s << "\n";
      return 2;
    }
    std::cout << "saved " << now->size() << " customers to " << save << "\n";
    return 0;
  }
  absl::StatusOr<CustomerViews> before = LoadSnapshot(check);
  if (!before.ok()) {
    std::cerr << "tandem-traffic compare: " << before.status() << "\n";
    return 2;
  }
  CompareResult diff = CompareViews(*before, *now);
  std::cout << diff.ToText();
  return diff.differences.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args = tandem::ParseFlagsWithEnv(
      argc, argv,
      "tandem-traffic portal|charging|compare [flags]: live traffic against "
      "the billing systems, and the operator's dual-entry check. Every flag "
      "can also be set as TANDEM_<FLAG_NAME>.");
  tandem::InitLogging("traffic",
                      tandem::ParseLogLevel(absl::GetFlag(FLAGS_log_level)));
  std::string mode = args.size() > 1 ? args[1] : "";
  if (mode == "compare") return RunCompare();
  absl::StatusOr<TrafficReport> report =
      mode == "portal"     ? RunPortal()
      : mode == "charging" ? RunChargingMode()
                           : absl::InvalidArgumentError(
                                 "usage: tandem-traffic "
                                 "portal|charging|compare ...");
  if (!report.ok()) {
    std::cerr << "tandem-traffic " << mode << ": " << report.status() << "\n";
    return EXIT_FAILURE;
  }
  std::cout << report->ToText();
  if (!absl::GetFlag(FLAGS_report_json).empty()) {
    std::ofstream(absl::GetFlag(FLAGS_report_json)) << report->ToJson() << "\n";
  }
  return EXIT_SUCCESS;
}
