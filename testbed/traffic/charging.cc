#include "testbed/traffic/charging.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "testbed/base/json.h"
#include "testbed/base/model.h"
#include "testbed/traffic/pacer.h"

namespace tandem::testbed {
namespace {

using Stmt = std::unique_ptr<sql::PreparedStatement>;
using Rows = std::unique_ptr<sql::ResultSet>;

struct AccountRef {
  int64_t id;
  std::string number;
};

std::string SqlNow() {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::Now(),
                          absl::UTCTimeZone());
}

int64_t LastInsertId(sql::Connection& conn) {
  std::unique_ptr<sql::Statement> s(conn.createStatement());
  Rows rs(s->executeQuery("SELECT LAST_INSERT_ID()"));
  rs->next();
  return rs->getInt64(1);
}

}  // namespace

PlannedWrite PlanWrite(const ChargingOptions& o, int64_t k,
                       const std::vector<int64_t>& customers) {
  Rng rng(o.seed * 0xbf58476d1ce4e5b9ULL + static_cast<uint64_t>(k) * 104729 +
          3);
  PlannedWrite w;
  const bool focus = !o.focus_customers.empty() && rng.Chance(o.focus_share);
  const std::vector<int64_t>& pool = focus ? o.focus_customers : customers;
  w.customer_id = pool[rng.Below(pool.size())];
  w.adjust = rng.Chance(o.adjust_share);
  w.account_pick = rng.Next();
  w.duration_s = rng.Range(1, 1200);
  w.charged_micros = w.duration_s * rng.Range(10, 100) * 10;
  w.adjust_micros = rng.Range(-2000, 5000) * 1000;
  if (w.adjust_micros == 0) w.adjust_micros = 10000;
  w.cld = absl::StrCat("+49", rng.Range(1000000000, 9999999999));
  return w;
}

absl::StatusOr<TrafficReport> RunCharging(MysqlPool& source,
                                          const ChargingOptions& o) {
  // Who can be charged, and their accounts.
  std::map<int64_t, std::vector<AccountRef>> accounts;
  TANDEM_RETURN_IF_ERROR(source.Run("load accounts", [&](sql::Connection&
                                                             conn) {
    std::unique_ptr<sql::Statement> s(conn.createStatement());
    Rows rs(s->executeQuery(
        "SELECT i_customer, i_account, id FROM accounts ORDER BY i_account"));
    while (rs->next()) {
      accounts[rs->getInt64(1)].push_back(
          {rs->getInt64(2), std::string(rs->getString(3))});
    }
    return absl::OkStatus();
  }));
  std::vector<int64_t> customers;
  for (int64_t c : o.customers) {
    if (accounts.count(c)) customers.push_back(c);
  }
  if (o.customers.empty()) {
    for (const auto& [c, list] : accounts) customers.push_back(c);
  }
  ChargingOptions options = o;
  std::erase_if(options.focus_customers,
                [&](int64_t c) { return accounts.count(c) == 0; });
  if (customers.empty()) {
    return absl::FailedPreconditionError("no customer with accounts to charge");
  }
  std::FILE* ledger = std::fopen(o.ledger_path.c_str(), "a");
  if (ledger == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot open ledger ", o.ledger_path));
  }
  std::mutex ledger_mu;
  Pacer pacer(o.rate, o.duration, o.max_writes);
  std::vector<TrafficReport> reports(std::max(1, o.connections));
  std::vector<std::thread> threads;
  for (size_t t = 0; t < reports.size(); ++t) {
    threads.emplace_back([&, t] {
      TrafficReport& report = reports[t];
      while (std::optional<int64_t> k = pacer.Next()) {
        PlannedWrite w = PlanWrite(options, *k, customers);
        const std::vector<AccountRef>& list = accounts.at(w.customer_id);
        const AccountRef& account = list[w.account_pick % list.size()];
        JsonWriter line;
        absl::Time start = absl::Now();
        absl::Status status = source.Transaction(
            w.adjust ? "charging adjust" : "charging xdr",
            [&](sql::Connection& conn) -> absl::Status {
              line = JsonWriter();
              const std::string now = SqlNow();
              line.BeginObject()
                  .Field("kind", w.adjust ? "adjust" : "xdr")
                  .Field("seq", *k)
                  .Field("customer_id", w.customer_id);
              if (w.adjust) {
                TANDEM_ASSIGN_OR_RETURN(std::string amount,
                                        MicrosToV1Decimal(w.adjust_micros));
                Stmt bal(conn.prepareStatement(
                    "UPDATE customers SET balance = balance + ? "
                    "WHERE i_customer = ?"));
                bal->setString(1, amount);
                bal->setInt64(2, w.customer_id);
                bal->executeUpdate();
                Stmt tx(conn.prepareStatement(
                    "INSERT INTO balance_transactions (i_customer, i_account, "
                    "amount, tx_type, tx_time) "
                    "VALUES (?, NULL, ?, 'adjustment', ?)"));
                tx->setInt64(1, w.customer_id);
                tx->setString(2, amount);
                tx->setString(3, now);
                tx->executeUpdate();
                line.Field("transaction_id", LastInsertId(conn))
                    .Field("amount", amount)
                    .Field("tx_type", "adjustment")
                    .Field("tx_time", now);
              } else {
                TANDEM_ASSIGN_OR_RETURN(std::string charged,
                                        MicrosToV1Decimal(w.charged_micros));
                TANDEM_ASSIGN_OR_RETURN(std::string debit,
                                        MicrosToV1Decimal(-w.charged_micros));
                const std::string connect =
                    absl::FormatTime("%Y-%m-%d %H:%M:%S",
                                     absl::Now() - absl::Seconds(w.duration_s),
                                     absl::UTCTimeZone());
                Stmt xdr(conn.prepareStatement(
                    "INSERT INTO xdrs (i_account, i_customer, connect_time, "
                    "duration, charged_amount, CLI, CLD) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)"));
                xdr->setInt64(1, account.id);
                xdr->setInt64(2, w.customer_id);
                xdr->setString(3, connect);
                xdr->setInt64(4, w.duration_s);
                xdr->setString(5, charged);
                xdr->setString(6, account.number);
                xdr->setString(7, w.cld);
                xdr->executeUpdate();
                const int64_t xdr_id = LastInsertId(conn);
                Stmt bal(conn.prepareStatement(
                    "UPDATE accounts SET balance = balance - ? "
                    "WHERE i_account = ?"));
                bal->setString(1, charged);
                bal->setInt64(2, account.id);
                bal->executeUpdate();
                Stmt tx(conn.prepareStatement(
                    "INSERT INTO balance_transactions (i_customer, i_account, "
                    "amount, tx_type, tx_time) VALUES (?, ?, ?, 'charge', ?)"));
                tx->setInt64(1, w.customer_id);
                tx->setInt64(2, account.id);
                tx->setString(3, debit);
                tx->setString(4, now);
                tx->executeUpdate();
                line.Field("account_id", account.id)
                    .Field("xdr_id", xdr_id)
                    .Field("connect_time", connect)
                    .Field("duration_s", w.duration_s)
                    .Field("charged", charged)
                    .Field("cli", account.number)
                    .Field("cld", w.cld)
                    .Field("transaction_id", LastInsertId(conn))
                    .Field("amount", debit)
                    .Field("tx_type", "charge")
                    .Field("tx_time", now);
              }
              line.EndObject();
              return absl::OkStatus();
            });
        report.latencies_us.push_back(
            absl::ToInt64Microseconds(absl::Now() - start));
        ++report.requests;
        ++report.by_operation[w.adjust ? "adjust" : "xdr"];
        if (!status.ok()) {
          ++report.by_status["failed"];
          continue;
        }
        ++report.by_status["ok"];
        std::lock_guard<std::mutex> lock(ledger_mu);
        std::string text = line.Release();
        text.push_back('\n');
        std::fputs(text.c_str(), ledger);
        std::fflush(ledger);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const bool write_ok = std::fclose(ledger) == 0;
  TrafficReport total;
  total.kind = "charging";
  for (TrafficReport& r : reports) total.Merge(std::move(r));
  total.elapsed = absl::Now() - pacer.start();
  total.Finish();
  if (!write_ok) return absl::DataLossError("ledger write failed");
  return total;
}

}  // namespace tandem::testbed
