#include "common/mysql_pool.h"

#include <cppconn/exception.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>
#include <mysql_driver.h>

#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/log.h"

namespace tandem {
namespace {

// Connector/C++ crashes when its driver is first created from several
// threads at once, so it is created once, here.
sql::mysql::MySQL_Driver* Driver() {
  static sql::mysql::MySQL_Driver* driver =
      sql::mysql::get_mysql_driver_instance();
  return driver;
}

bool IsConnectionError(int code) {
  // CR_CONNECTION_ERROR, CR_CONN_HOST_ERROR, CR_SERVER_GONE_ERROR,
  // CR_SERVER_LOST, CR_SERVER_LOST_EXTENDED, ER_CONNECTION_KILLED,
  // ER_SERVER_SHUTDOWN, CR_COMMANDS_OUT_OF_SYNC.
  return code == 2002 || code == 2003 || code == 2006 || code == 2013 ||
         code == 2055 || code == 1927 || code == 1053 || code == 2014 ||
         code == 0;
}

}  // namespace

absl::Status MysqlErrorToStatus(const sql::SQLException& e,
                                absl::string_view context) {
  int code = e.getErrorCode();
  std::string message =
      absl::StrCat(context, ": mysql error ", code, ": ", e.what());
  switch (code) {
    case 1213:  // ER_LOCK_DEADLOCK
    case 1205:  // ER_LOCK_WAIT_TIMEOUT
      return absl::AbortedError(message);
    case 1062:  // ER_DUP_ENTRY
      return absl::AlreadyExistsError(message);
    case 1045:  // ER_ACCESS_DENIED_ERROR
    case 1044:  // ER_DBACCESS_DENIED_ERROR
    case 1049:  // ER_BAD_DB_ERROR
      return absl::UnavailableError(message);
    default:
      break;
  }
  if (IsConnectionError(code)) {
    return absl::UnavailableError(message);
  }
  return absl::InternalError(message);
}

MysqlPool::MysqlPool(MysqlOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<MysqlPool>> MysqlPool::Create(
    MysqlOptions options, prometheus::Registry* registry,
    const std::string& service) {
  if (options.pool_size < 1) {
    return absl::InvalidArgumentError("mysql pool size must be at least 1");
  }
  if (!absl::StartsWith(options.url, "tcp://") &&
      !absl::StartsWith(options.url, "unix://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "mysql url `", options.url, "` must start with tcp:// or unix://"));
  }
  Driver();
  std::unique_ptr<MysqlPool> pool(new MysqlPool(std::move(options)));
  if (registry != nullptr) {
    pool->up_gauge_ =
        &prometheus::BuildGauge()
             .Name(absl::StrCat("tandem_", service, "_db_up"))
             .Help("1 when the database pool's last health check succeeded.")
             .Register(*registry)
             .Add({{"pool", pool->options_.name}});
    pool->errors_ =
        &prometheus::BuildCounter()
             .Name(absl::StrCat("tandem_", service, "_db_errors_total"))
             .Help("Database calls that failed, by status code.")
             .Register(*registry);
  }
  absl::StatusOr<Lease> first = pool->Acquire();
  if (!first.ok()) {
    return first.status();
  }
  { Lease returned = *std::move(first); }
  pool->health_thread_ = std::thread([p = pool.get()] { p->HealthLoop(); });
  return pool;
}

MysqlPool::~MysqlPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (health_thread_.joinable()) {
    health_thread_.join();
  }
  absl::MutexLock lock(&mu_);
  idle_.clear();
}

MysqlPool::Lease::Lease(MysqlPool* pool, std::unique_ptr<sql::Connection> conn)
    : pool_(pool), conn_(std::move(conn)) {}

MysqlPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_),
      conn_(std::move(other.conn_)),
      discard_(other.discard_) {
  other.pool_ = nullptr;
}

MysqlPool::Lease::~Lease() {
  if (pool_ != nullptr && conn_ != nullptr) {
    pool_->Return(std::move(conn_), discard_);
  }
}

absl::StatusOr<std::unique_ptr<sql::Connection>> MysqlPool::Connect() {
  sql::ConnectOptionsMap opts;
  opts["hostName"] = sql::SQLString(options_.url);
  opts["userName"] = sql::SQLString(options_.user);
  opts["password"] = sql::SQLString(options_.password);
  if (!options_.database.empty()) {
    opts["schema"] = sql::SQLString(options_.database);
  }
  opts["OPT_CONNECT_TIMEOUT"] =
      static_cast<int>(absl::ToInt64Seconds(options_.connect_timeout));
  opts["OPT_READ_TIMEOUT"] =
      static_cast<int>(absl::ToInt64Seconds(options_.io_timeout));
  opts["OPT_WRITE_TIMEOUT"] =
      static_cast<int>(absl::ToInt64Seconds(options_.io_timeout));
  opts["OPT_RECONNECT"] = false;
  opts["OPT_CHARSET_NAME"] = sql::SQLString("utf8mb4");
  opts["CLIENT_MULTI_STATEMENTS"] = false;
  try {
    std::unique_ptr<sql::Connection> conn(Driver()->connect(opts));
    std::unique_ptr<sql::Statement> stmt(conn->createStatement());
    // Read committed: change feeds poll for committed rows and must not be
    // pinned to an old snapshot.
    stmt->execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
    stmt->execute("SET SESSION time_zone = '+00:00'");
    return conn;
  } catch (const sql::SQLException& e) {
    return MysqlErrorToStatus(
        e, absl::StrCat("connect to ", options_.url, " as ", options_.user));
  }
}

absl::StatusOr<MysqlPool::Lease> MysqlPool::Acquire() {
  Clock& clock = this->clock();
  const absl::Time deadline = clock.Now() + options_.acquire_timeout;
  {
    absl::MutexLock lock(&mu_);
    auto free_or_openable = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < options_.pool_size;
    };
    if (!clock.AwaitWithDeadline(mu_, absl::Condition(&free_or_openable),
                                 deadline)) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "all ", options_.pool_size, " connections of pool ", options_.name,
          " busy for ", absl::FormatDuration(options_.acquire_timeout)));
    }
    if (!idle_.empty()) {
      std::unique_ptr<sql::Connection> conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn));
    }
    if (clock.Now() < next_connect_) {
      return absl::UnavailableError(
          absl::StrCat("database ", options_.name,
                       " unavailable (retrying): ", last_error_));
    }
    ++open_;
  }
  // Connecting may take the connect timeout: not under the lock.
  absl::StatusOr<std::unique_ptr<sql::Connection>> conn = Connect();
  {
    absl::MutexLock lock(&mu_);
    if (conn.ok()) {
      backoff_ = absl::Milliseconds(100);
      next_connect_ = absl::InfinitePast();
    } else {
      --open_;
      last_error_ = std::string(conn.status().message());
      next_connect_ = clock.Now() + backoff_;
      backoff_ = std::min(backoff_ * 2, absl::Seconds(5));
    }
  }
  if (!conn.ok()) {
    CountError(conn.status());
    SetHealthy(false);
    return conn.status();
  }
  SetHealthy(true);
  return Lease(this, *std::move(conn));
}

void MysqlPool::Return(std::unique_ptr<sql::Connection> conn, bool discard) {
  {
    absl::MutexLock lock(&mu_);
    if (discard || stopping_) {
      --open_;
    } else {
      idle_.push_back(std::move(conn));
    }
  }
  // Closing a broken connection may block; do it outside the lock.
  conn.reset();
}

absl::Status MysqlPool::Run(
    absl::string_view what,
    const std::function<absl::Status(sql::Connection&)>& fn) {
  absl::StatusOr<Lease> lease = Acquire();
  if (!lease.ok()) {
    return lease.status();
  }
  try {
    absl::Status status = fn(**lease);
    CountError(status);
    return status;
  } catch (const sql::SQLException& e) {
    absl::Status status = MysqlErrorToStatus(e, what);
    if (IsConnectionError(e.getErrorCode())) {
      lease->Discard();
      SetHealthy(false);
    }
    CountError(status);
    return status;
  }
}

absl::Status MysqlPool::Transaction(
    absl::string_view what,
    const std::function<absl::Status(sql::Connection&)>& fn, int attempts) {
  absl::Status status;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    status = Run(what, [&](sql::Connection& conn) -> absl::Status {
      conn.setAutoCommit(false);
      absl::Status inner;
      try {
        inner = fn(conn);
        if (inner.ok()) {
          conn.commit();
        } else {
          conn.rollback();
        }
      } catch (const sql::SQLException&) {
        try {
          conn.rollback();
          conn.setAutoCommit(true);
        } catch (const sql::SQLException&) {
          // The connection is gone; Run() discards it.
        }
        throw;
      }
      conn.setAutoCommit(true);
      return inner;
    });
    if (status.code() != absl::StatusCode::kAborted) {
      return status;
    }
    TANDEM_LOG(Debug, "mysql_transaction_retry")
        .With("what", what)
        .With("attempt", attempt);
  }
  return status;
}

void MysqlPool::SetHealthListener(std::function<void(bool)> listener) {
  absl::MutexLock lock(&mu_);
  listener_ = std::move(listener);
}

void MysqlPool::SetHealthy(bool healthy) {
  bool was = healthy_.exchange(healthy);
  if (up_gauge_ != nullptr) {
    up_gauge_->Set(healthy ? 1 : 0);
  }
  if (was == healthy) {
    return;
  }
  TANDEM_LOG(Info, healthy ? "db_up" : "db_down")
      .With("pool", options_.name)
      .With("url", options_.url);
  std::function<void(bool)> listener;
  {
    absl::MutexLock lock(&mu_);
    listener = listener_;
  }
  if (listener) {
    listener(healthy);
  }
}

void MysqlPool::CountError(const absl::Status& status) {
  if (status.ok() || errors_ == nullptr) {
    return;
  }
  errors_
      ->Add({{"pool", options_.name},
             {"code", GrpcCodeName(ToGrpcStatus(status).error_code())}})
      .Increment();
}

void MysqlPool::HealthLoop() {
  Clock& clock = this->clock();
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_;
      };
      if (clock.AwaitWithDeadline(mu_, absl::Condition(&stopping),
                                  clock.Now() + options_.health_interval)) {
        return;
      }
    }
    absl::Status status = Run("health check", [](sql::Connection& conn) {
      std::unique_ptr<sql::Statement> stmt(conn.createStatement());
      // executeQuery, not execute: an unread result leaves the connection
      // "out of sync" for its next user.
      std::unique_ptr<sql::ResultSet> rows(stmt->executeQuery("SELECT 1"));
      return absl::OkStatus();
    });
    // A busy pool is not a sick database.
    if (status.code() != absl::StatusCode::kResourceExhausted) {
      SetHealthy(status.ok());
    }
    health_checks_.fetch_add(1);
  }
}

std::string Placeholders(size_t n, absl::string_view one) {
  std::string out;
  out.reserve(n * (one.size() + 1));
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out.push_back(',');
    out.append(one.data(), one.size());
  }
  return out;
}

}  // namespace tandem
