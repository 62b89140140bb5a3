#include "testbed/traffic/charging.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/mysql_pool.h"
#include "common/status_macros.h"
#include "testbed/base/model.h"
#include "testbed/traffic/pacer.h"

namespace tandem::testbed {
namespace {

using Rows = std::unique_ptr<sql::ResultSet>;

// The longest call (and so how far back a call's start can be).
constexpr int64_t kMaxCallSeconds = 1200;

const std::vector<std::string>& SettingNames() {
  static const auto* names =
      new std::vector<std::string>{"language", "voicemail", "call_forwarding",
                                   "roaming", "caller_id_hidden"};
  return *names;
}

std::optional<std::string> SettingValue(Rng& rng, const std::string& name) {
  if (rng.Chance(0.3)) return std::nullopt;  // delete it
  if (name == "language") {
    static const char* kLanguages[] = {"en", "de", "fr", "cs", "es", "uk"};
    return kLanguages[rng.Below(6)];
  }
  if (name == "call_forwarding") {
    return absl::StrCat("+4930", rng.Range(1000000, 9999999));
  }
  return rng.Chance(0.5) ? "on" : "off";
}

using AccountMap = std::map<int64_t, std::vector<AccountRef>>;

// LoadAccounts for the customers `customers` (all when empty), added to
// `accounts`.
void LoadAccountChunk(sql::Connection& conn,
                      const std::vector<int64_t>& customers,
                      AccountMap* accounts) {
  const std::string of_customers =
      customers.empty() ? ""
                        : absl::StrCat(" AND a.i_customer IN (",
                                       Placeholders(customers.size()), ")");
  auto bind = [&](sql::PreparedStatement& ps) {
    for (size_t i = 0; i < customers.size(); ++i) {
      ps.setInt64(static_cast<int>(i) + 1, customers[i]);
    }
  };
  std::unique_ptr<sql::PreparedStatement> list(
      conn.prepareStatement(absl::StrCat(
          "SELECT a.i_customer, a.i_account, a.id, "
          "COALESCE(MIN(s.i_subscription), 0) FROM accounts a "
          "LEFT JOIN subscriptions s ON s.i_account = a.i_account "
          "AND s.is_addon = 0 WHERE 1 = 1",
          of_customers, " GROUP BY a.i_account ORDER BY a.i_account")));
  bind(*list);
  Rows rs(list->executeQuery());
  std::map<int64_t, std::pair<int64_t, size_t>> by_subscription;
  while (rs->next()) {
    AccountRef a;
    a.id = rs->getInt64(2);
    a.number = rs->getString(3);
    a.subscription_id = rs->getInt64(4);
    std::vector<AccountRef>& of = (*accounts)[rs->getInt64(1)];
    by_subscription[a.subscription_id] = {rs->getInt64(1), of.size()};
    of.push_back(std::move(a));
  }
  std::unique_ptr<sql::PreparedStatement> types(conn.prepareStatement(
      absl::StrCat("SELECT u.i_subscription, t.code FROM subscription_usage u "
                   "JOIN resource_types t ON t.i_resource_type = "
                   "u.i_resource_type JOIN subscriptions s ON s.i_subscription "
                   "= u.i_subscription JOIN accounts a ON a.i_account = "
                   "s.i_account WHERE t.code IN ('voice_minutes', 'data_mb')",
                   of_customers, " ORDER BY u.i_subscription, t.code")));
  bind(*types);
  Rows usage(types->executeQuery());
  while (usage->next()) {
    auto it = by_subscription.find(usage->getInt64(1));
    if (it != by_subscription.end()) {
      (*accounts)[it->second.first][it->second.second].usage_types.push_back(
          usage->getString(2));
    }
  }
}

// The accounts of `customers` (every customer's when empty) on the source,
// each with its main subscription and the usage types (voice_minutes,
// data_mb) it has rows of. A round reads only its own customers' accounts:
// the whole table, read every round of a long load, cost the source more
// than the writes did.
absl::StatusOr<AccountMap> LoadAccounts(MysqlPool& source,
                                        const std::vector<int64_t>& customers) {
  constexpr size_t kChunk = 1000;
  AccountMap accounts;
  TANDEM_RETURN_IF_ERROR(
      source.Run("load accounts", [&](sql::Connection& conn) -> absl::Status {
        accounts.clear();
        const size_t chunks =
            customers.empty() ? 1 : (customers.size() + kChunk - 1) / kChunk;
        for (size_t chunk = 0; chunk < chunks; ++chunk) {
          const size_t begin = chunk * kChunk;
          const size_t end = std::min(customers.size(), begin + kChunk);
          LoadAccountChunk(conn,
                           std::vector<int64_t>(customers.begin() + begin,
                                                customers.begin() + end),
                           &accounts);
        }
        return absl::OkStatus();
      }));
  return accounts;
}

int64_t MaxId(sql::Connection& conn, const char* sql) {
  std::unique_ptr<sql::Statement> s(conn.createStatement());
  Rows rs(s->executeQuery(sql));
  rs->next();
  return rs->getInt64(1);
}

// Where the rows that exist now end: the ledger's start line.
absl::StatusOr<LedgerStart> Baseline(const ChargingTargets& t) {
  LedgerStart start;
  start.time = LedgerTime(absl::Now());
  TANDEM_RETURN_IF_ERROR(t.source->Run("baseline", [&](sql::Connection& c) {
    start.source_max_xdr_id =
        MaxId(c, "SELECT COALESCE(MAX(i_xdr), 0) FROM xdrs");
    start.source_max_transaction_id = MaxId(
        c, "SELECT COALESCE(MAX(i_transaction), 0) FROM balance_transactions");
    return absl::OkStatus();
  }));
  if (t.target != nullptr) {
    TANDEM_RETURN_IF_ERROR(t.target->Run("baseline", [&](sql::Connection& c) {
      start.target_max_xdr_id =
          MaxId(c,
                "SELECT COALESCE(MAX(cdr_id), 0) FROM cdrs "
                "WHERE cdr_id >= 1000000000");
      start.target_max_transaction_id =
          MaxId(c,
                "SELECT COALESCE(MAX(transaction_id), 0) FROM "
                "balance_transactions WHERE transaction_id >= 1000000000");
      return absl::OkStatus();
    }));
  }
  return start;
}

// Sends writes where their customers are, one call per write.
class Dispatcher {
 public:
  Dispatcher(const ChargingTargets& targets, const ChargingOptions& options,
             const AccountMap& accounts, const std::vector<int64_t>& customers,
             std::FILE* ledger)
      : t_(targets),
        o_(options),
        accounts_(accounts),
        customers_(customers),
        ledger_(ledger) {}

  // Makes write k and records its outcome in `report`.
  void Run(int64_t k, TrafficReport& report);

  bool ledger_failed() const { return ledger_failed_.load(); }

 private:
  // One attempt on one system: the transaction, then (on success) the
  // ledger line, both under the customer's stripe lock.
  absl::Status Attempt(bool on_target, bool check, const PlannedWrite& w,
                       const AccountRef& account, absl::Time call_start,
                       LedgerEntry* entry);
  // Where the write goes and how often it is tried; the final outcome.
  std::string Route(const PlannedWrite& w, const AccountRef& account,
                    absl::Time call_start, TrafficReport& report);

  absl::Mutex& Stripe(int64_t customer_id) {
    return stripes_[static_cast<uint64_t>(customer_id) % stripes_.size()];
  }

  const ChargingTargets t_;
  const ChargingOptions& o_;
  const AccountMap& accounts_;
  const std::vector<int64_t>& customers_;
  std::FILE* ledger_;
  absl::Mutex ledger_mu_;
  std::atomic<bool> ledger_failed_{false};
  std::array<absl::Mutex, 64> stripes_;
};

absl::Status Dispatcher::Attempt(bool on_target, bool check,
                                 const PlannedWrite& w,
                                 const AccountRef& account,
                                 absl::Time call_start, LedgerEntry* entry) {
  MysqlPool& pool = on_target ? *t_.target : *t_.source;
  const SchemaVersion version =
      on_target ? SchemaVersion::kV2 : SchemaVersion::kV1;
  absl::MutexLock customer_lock(&Stripe(w.customer_id));
  const LedgerEntry base = *entry;
  absl::Status s =
      pool.Transaction(absl::StrCat("charging ", WriteKindName(w.kind)),
                       [&](sql::Connection& conn) {
                         *entry = base;
                         return ApplyWrite(conn, version, w, account, check,
                                           call_start, absl::Now(), entry);
                       });
  if (!s.ok()) {
    *entry = base;
    return s;
  }
  std::string line = LedgerLine(*entry);
  line.push_back('\n');
  absl::MutexLock ledger_lock(&ledger_mu_);
  if (std::fputs(line.c_str(), ledger_) < 0 || std::fflush(ledger_) != 0) {
    ledger_failed_ = true;
  }
  return absl::OkStatus();
}

std::string Dispatcher::Route(const PlannedWrite& w, const AccountRef& account,
                              absl::Time call_start, TrafficReport& report) {
  LedgerEntry entry;
  entry.attempts = 1;
  if (w.blind) {
    absl::Status s = Attempt(false, false, w, account, call_start, &entry);
    if (s.ok()) ++report.by_system["source"];
    return s.ok()                                    ? "ok"
           : s.code() == absl::StatusCode::kNotFound ? "not_found"
                                                     : "failed";
  }
  const absl::Time deadline = absl::Now() + o_.hold_timeout;
  // A call goes where its customer was when it started.
  RouteSnapshot route = w.kind == WriteKind::kXdr
                            ? t_.routes->At(w.customer_id, call_start)
                            : t_.routes->Current(w.customer_id);
  for (int attempt = 1;; ++attempt) {
    if (route.migrating) {
      ++report.events["held"];
      std::optional<RouteSnapshot> settled =
          t_.routes->WaitSettled(w.customer_id, deadline);
      if (!settled) return "hold_timeout";
      route = *settled;
    }
    if (route.on_target && t_.target == nullptr) return "no_target";
    entry.route_version = route.version;
    entry.attempts = attempt;
    absl::Status s =
        Attempt(route.on_target, true, w, account, call_start, &entry);
    if (s.ok()) {
      ++report.by_system[route.on_target ? "target" : "source"];
      if (attempt > 1) ++report.events["retried"];
      return "ok";
    }
    if (!IsCustomerExported(s)) {
      return s.code() == absl::StatusCode::kNotFound ? "not_found" : "failed";
    }
    ++report.events["refused_exported"];
    std::optional<RouteSnapshot> next =
        t_.routes->WaitPast(w.customer_id, route.version, deadline);
    if (!next || attempt >= 8) return "refused_stuck";
    route = *next;
  }
}

void Dispatcher::Run(int64_t k, TrafficReport& report) {
  PlannedWrite w = PlanWrite(o_, k, customers_);
  const std::vector<AccountRef>& list = accounts_.at(w.customer_id);
  const AccountRef* account = &list[w.account_pick % list.size()];
  if (w.kind == WriteKind::kUsage) {
    std::vector<const AccountRef*> with_usage;
    for (const AccountRef& a : list) {
      if (!a.usage_types.empty()) with_usage.push_back(&a);
    }
    if (with_usage.empty()) {
      w.kind = WriteKind::kTopUp;  // Nothing to count usage on.
      w.amount_micros = static_cast<int64_t>(1 + w.account_pick % 100) * 500000;
    } else {
      account = with_usage[w.account_pick % with_usage.size()];
      w.resource_type =
          account
              ->usage_types[(w.account_pick / 7) % account->usage_types.size()];
    }
  }
  ++report.requests;
  ++report.by_operation[WriteKindName(w.kind)];
  if (w.blind) ++report.by_operation["blind"];
  const absl::Time start = absl::Now();
  const absl::Time call_start =
      w.kind == WriteKind::kXdr ? start - absl::Seconds(w.duration_s) : start;
  const std::string outcome = Route(w, *account, call_start, report);
  ++report.by_status[outcome];
  report.latencies_us.push_back(absl::ToInt64Microseconds(absl::Now() - start));
}

}  // namespace

absl::Status ValidateChargingOptions(const ChargingOptions& o) {
  auto share = [](const char* name, double v) -> absl::Status {
    if (!(v >= 0 && v <= 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " must be between 0 and 1, got ", v));
    }
    return absl::OkStatus();
  };
  TANDEM_RETURN_IF_ERROR(share("focus_share", o.focus_share));
  TANDEM_RETURN_IF_ERROR(share("adjust_share", o.adjust_share));
  TANDEM_RETURN_IF_ERROR(share("topup_share", o.topup_share));
  TANDEM_RETURN_IF_ERROR(share("usage_share", o.usage_share));
  TANDEM_RETURN_IF_ERROR(share("settings_share", o.settings_share));
  TANDEM_RETURN_IF_ERROR(share("route_blind_share", o.route_blind_share));
  TANDEM_RETURN_IF_ERROR(share("inexact_share", o.inexact_share));
  if (o.adjust_share + o.topup_share + o.usage_share + o.settings_share >
      1 + 1e-9) {
    return absl::InvalidArgumentError(
        "adjust_share + topup_share + usage_share + settings_share must not "
        "exceed 1");
  }
  if (o.rate < 0) return absl::InvalidArgumentError("rate must be >= 0");
  if (o.connections < 1 || o.connections > 256) {
    return absl::InvalidArgumentError("connections must be 1-256");
  }
  if (o.max_writes < 0) {
    return absl::InvalidArgumentError("max_writes must be >= 0");
  }
  if (o.hold_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("hold_timeout must be >= 0");
  }
  if (o.ledger_path.empty()) {
    return absl::InvalidArgumentError("a ledger path is required");
  }
  return absl::OkStatus();
}

PlannedWrite PlanWrite(const ChargingOptions& o, int64_t k,
                       const std::vector<int64_t>& customers) {
  Rng rng(o.seed * 0xbf58476d1ce4e5b9ULL + static_cast<uint64_t>(k) * 104729 +
          3);
  PlannedWrite w;
  const bool focus = !o.focus_customers.empty() && rng.Chance(o.focus_share);
  const std::vector<int64_t>& pool = focus ? o.focus_customers : customers;
  w.customer_id = pool[rng.Below(pool.size())];
  const double kind = rng.Unit();
  double edge = o.adjust_share;
  w.kind = kind < edge                         ? WriteKind::kAdjust
           : kind < (edge += o.topup_share)    ? WriteKind::kTopUp
           : kind < (edge += o.usage_share)    ? WriteKind::kUsage
           : kind < (edge += o.settings_share) ? WriteKind::kSettings
                                               : WriteKind::kXdr;
  // The route-blind writer is a legacy rating job: it rates calls, adjusts
  // balances and counts usage; it does not edit settings or take top-ups
  // (those come through the portal, which follows the route).
  const bool rating = w.kind == WriteKind::kXdr ||
                      w.kind == WriteKind::kAdjust ||
                      w.kind == WriteKind::kUsage;
  w.blind = rng.Chance(o.route_blind_share) && rating;
  w.account_pick = rng.Next();
  w.duration_s = rng.Range(1, kMaxCallSeconds);
  w.charged_micros = w.duration_s * rng.Range(10, 100) * 10;
  const bool inexact = rng.Chance(o.inexact_share);
  w.extra_ms = inexact ? rng.Range(1, 999) : 0;
  w.extra_micros = inexact ? rng.Range(1, 9) : 0;
  w.cld = absl::StrCat("+49", rng.Range(1000000000, 9999999999));
  w.account_level = rng.Chance(0.5);
  if (w.kind == WriteKind::kAdjust) {
    w.amount_micros = rng.Range(-2000, 5000) * 1000;
    if (w.amount_micros == 0) w.amount_micros = 10000;
  } else if (w.kind == WriteKind::kTopUp) {
    w.amount_micros = rng.Range(1, 100) * 500000;
  }
  w.usage_delta = rng.Range(1, 50);
  w.setting = SettingNames()[rng.Below(SettingNames().size())];
  w.value = SettingValue(rng, w.setting);
  return w;
}

absl::StatusOr<TrafficReport> RunCharging(const ChargingTargets& t,
                                          const ChargingOptions& o) {
  TANDEM_RETURN_IF_ERROR(ValidateChargingOptions(o));
  if (t.source == nullptr || t.routes == nullptr) {
    return absl::InvalidArgumentError("a source database and routes needed");
  }
  TANDEM_ASSIGN_OR_RETURN(AccountMap accounts,
                          LoadAccounts(*t.source, o.customers));
  std::vector<int64_t> customers;
  for (int64_t c : o.customers) {
    if (accounts.count(c)) customers.push_back(c);
  }
  if (o.customers.empty()) {
    for (const auto& [c, list] : accounts) customers.push_back(c);
  }
  if (customers.empty()) {
    return absl::FailedPreconditionError("no customer with accounts to charge");
  }
  ChargingOptions options = o;
  std::erase_if(options.focus_customers,
                [&](int64_t c) { return accounts.count(c) == 0; });
  t.routes->Track(customers);
  t.routes->Track(options.focus_customers);
  TANDEM_ASSIGN_OR_RETURN(LedgerStart start, Baseline(t));
  std::FILE* ledger = std::fopen(o.ledger_path.c_str(), "a");
  if (ledger == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot open ledger ", o.ledger_path));
  }
  std::string start_line = LedgerLine(start) + "\n";
  bool write_ok = std::fputs(start_line.c_str(), ledger) >= 0;
  Dispatcher dispatcher(t, options, accounts, customers, ledger);
  Pacer pacer(o.rate, o.duration, o.max_writes);
  std::vector<TrafficReport> reports(static_cast<size_t>(o.connections));
  std::vector<std::thread> threads;
  for (TrafficReport& report : reports) {
    threads.emplace_back([&] {
      while (std::optional<int64_t> k = pacer.Next())
        dispatcher.Run(*k, report);
    });
  }
  for (std::thread& thread : threads) thread.join();
  write_ok =
      std::fclose(ledger) == 0 && write_ok && !dispatcher.ledger_failed();
  TrafficReport total;
  total.kind = "charging";
  for (TrafficReport& r : reports) total.Merge(std::move(r));
  total.elapsed = absl::Now() - pacer.start();
  total.Finish();
  if (!write_ok) return absl::DataLossError("ledger write failed");
  return total;
}

}  // namespace tandem::testbed
