// tandem-traffic: live traffic against the billing systems.
//   tandem-traffic portal   --url=http://127.0.0.1:8080 --customers=1-2000
//   tandem-traffic charging --db_url=... --ledger=/tmp/ledger.jsonl
// Both run at --rate per second for --duration_seconds (or --max
// requests/writes) and print a report (text on stdout; JSON with
// --report_json).
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/config.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "testbed/traffic/charging.h"
#include "testbed/traffic/id_list.h"
#include "testbed/traffic/portal_traffic.h"

ABSL_FLAG(double, rate, 100, "Requests (portal) or writes (charging) per s.");
ABSL_FLAG(double, duration_seconds, 10, "How long to run.");
ABSL_FLAG(int64_t, max, 0, "Stop after this many requests/writes (0: none).");
ABSL_FLAG(int, connections, 8, "Concurrent connections (threads).");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the request/write sequence.");
ABSL_FLAG(std::string, customers, "",
          "Customer ids, e.g. 1-2000,5000 (portal: required; charging: "
          "empty = all).");
ABSL_FLAG(std::string, report_json, "", "Also write the report here as JSON.");
ABSL_FLAG(std::string, url, "http://127.0.0.1:8080",
          "portal: base URL to log in through (the proxy, or a simulator).");
ABSL_FLAG(std::string, db_url, "tcp://127.0.0.1:3306",
          "charging: source (v1) server.");
ABSL_FLAG(std::string, db_user, "tandem", "charging: database user.");
ABSL_FLAG(std::string, db_password_file, "", "charging: password file.");
ABSL_FLAG(std::string, db_name, "billing_v1", "charging: source database.");
ABSL_FLAG(std::string, focus_customers, "",
          "charging: customers being migrated (get --focus_share of writes).");
ABSL_FLAG(double, focus_share, 0.5, "charging: share for focus customers.");
ABSL_FLAG(double, adjust_share, 0.2,
          "charging: share of balance adjustments (rest: charged xDRs).");
ABSL_FLAG(std::string, ledger, "", "charging: ledger file (appended).");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");

namespace {

using namespace tandem::testbed;

absl::StatusOr<TrafficReport> RunPortal() {
  PortalTrafficOptions o;
  absl::string_view url = absl::GetFlag(FLAGS_url);
  if (!absl::ConsumePrefix(&url, "http://")) {
    return absl::InvalidArgumentError("--url must start with http://");
  }
  url = url.substr(0, url.find('/'));
  std::vector<std::string> host_port = absl::StrSplit(url, ':');
  o.host = host_port[0];
  o.port = 80;
  if (host_port.size() > 2 ||
      (host_port.size() == 2 && !absl::SimpleAtoi(host_port[1], &o.port))) {
    return absl::InvalidArgumentError("bad --url");
  }
  o.rate = absl::GetFlag(FLAGS_rate);
  o.duration = absl::Seconds(absl::GetFlag(FLAGS_duration_seconds));
  o.max_requests = absl::GetFlag(FLAGS_max);
  o.connections = absl::GetFlag(FLAGS_connections);
  o.seed = absl::GetFlag(FLAGS_seed);
  TANDEM_ASSIGN_OR_RETURN(o.customers,
                          ParseIdList(absl::GetFlag(FLAGS_customers)));
  return RunPortalTraffic(o);
}

absl::StatusOr<TrafficReport> RunChargingMode() {
  ChargingOptions o;
  o.rate = absl::GetFlag(FLAGS_rate);
  o.duration = absl::Seconds(absl::GetFlag(FLAGS_duration_seconds));
  o.max_writes = absl::GetFlag(FLAGS_max);
  o.connections = absl::GetFlag(FLAGS_connections);
  o.seed = absl::GetFlag(FLAGS_seed);
  o.focus_share = absl::GetFlag(FLAGS_focus_share);
  o.adjust_share = absl::GetFlag(FLAGS_adjust_share);
  o.ledger_path = absl::GetFlag(FLAGS_ledger);
  if (o.ledger_path.empty()) {
    return absl::InvalidArgumentError("--ledger is required");
  }
  TANDEM_ASSIGN_OR_RETURN(o.customers,
                          ParseIdList(absl::GetFlag(FLAGS_customers)));
  TANDEM_ASSIGN_OR_RETURN(o.focus_customers,
                          ParseIdList(absl::GetFlag(FLAGS_focus_customers)));
  tandem::MysqlOptions db;
  db.url = absl::GetFlag(FLAGS_db_url);
  db.user = absl::GetFlag(FLAGS_db_user);
  TANDEM_ASSIGN_OR_RETURN(
      db.password,
      tandem::ReadSecretFile(absl::GetFlag(FLAGS_db_password_file)));
  db.database = absl::GetFlag(FLAGS_db_name);
  db.pool_size = std::max(1, o.connections) + 1;
  db.name = "source";
  TANDEM_ASSIGN_OR_RETURN(auto pool, tandem::MysqlPool::Create(db));
  return RunCharging(*pool, o);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args = tandem::ParseFlagsWithEnv(
      argc, argv,
      "tandem-traffic portal|charging [flags]: live traffic against the "
      "billing systems. Every flag can also be set as TANDEM_<FLAG_NAME>.");
  tandem::InitLogging("traffic",
                      tandem::ParseLogLevel(absl::GetFlag(FLAGS_log_level)));
  std::string mode = args.size() > 1 ? args[1] : "";
  absl::StatusOr<TrafficReport> report =
      mode == "portal"     ? RunPortal()
      : mode == "charging" ? RunChargingMode()
                           : absl::InvalidArgumentError(
                                 "usage: tandem-traffic portal|charging ...");
  if (!report.ok()) {
    TANDEM_LOG(Error, "traffic_failed")
        .With("error", report.status().ToString());
    return EXIT_FAILURE;
  }
  std::cout << report->ToText();
  if (!absl::GetFlag(FLAGS_report_json).empty()) {
    std::ofstream(absl::GetFlag(FLAGS_report_json)) << report->ToJson() << "\n";
  }
  return EXIT_SUCCESS;
}
