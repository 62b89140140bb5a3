// A bounded pool of MySQL/MariaDB connections over Connector/C++ 1.1, with
// reconnect backoff and a health check. Errors come back as absl::Status:
// deadlock or lock wait timeout -> ABORTED, lost or refused connection ->
// UNAVAILABLE, duplicate key -> ALREADY_EXISTS, anything else -> INTERNAL.
//
// SQL is always parameterised: use prepared statements with bound values;
// never build SQL from values by hand.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace sql {
class Connection;
class SQLException;
}  // namespace sql

namespace tandem {

struct MysqlOptions {
  // "tcp://host:port" or "unix:///path/to/socket".
  std::string url = "tcp://127.0.0.1:3306";
  std::string user;
  // Never logged.
  std::string password;
  std::string database;
  int pool_size = 8;
  absl::Duration acquire_timeout = absl::Seconds(5);
  absl::Duration connect_timeout = absl::Seconds(3);
  // Socket read/write timeouts of a statement; a server that stops answering
  // turns into UNAVAILABLE after this long.
  absl::Duration io_timeout = absl::Seconds(30);
  absl::Duration health_interval = absl::Seconds(1);
  // Label value for the pool's metrics, e.g. "control" or "source".
  std::string name = "control";
  // What the pool waits on: the acquire timeout, the pause before
  // connecting again after a failed connect (100 ms, doubling to 5 s) and
  // the health interval; null: Clock::Real().
  Clock* clock = nullptr;
};

// Maps a Connector/C++ exception to a status whose message starts with
// `context`.
absl::Status MysqlErrorToStatus(const sql::SQLException& e,
                                absl::string_view context);

class MysqlPool {
 public:
  // Creates the pool and opens one connection to prove the configuration.
  // Returns UNAVAILABLE when the server cannot be reached (the caller may
  // retry), INVALID_ARGUMENT for a bad configuration. With a registry, the
  // pool reports tandem_<service>_db_up{pool}, and
  // tandem_<service>_db_errors_total{pool,code}.
  static absl::StatusOr<std::unique_ptr<MysqlPool>> Create(
      MysqlOptions options, prometheus::Registry* registry = nullptr,
      const std::string& service = "tandem");

  // Stops the health checker and closes every connection. Leases must have
  // been returned.
  ~MysqlPool();

  // One borrowed connection; returned to the pool when destroyed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    sql::Connection& operator*() const { return *conn_; }
    sql::Connection* operator->() const { return conn_.get(); }
    // Closes the connection instead of returning it (after an error that
    // leaves it in an unknown state).
    void Discard() { discard_ = true; }

   private:
    friend class MysqlPool;
    Lease(MysqlPool* pool, std::unique_ptr<sql::Connection> conn);
    MysqlPool* pool_;
    std::unique_ptr<sql::Connection> conn_;
    bool discard_ = false;
  };

  // Borrows a connection, opening one if the pool is below its size. Waits
  // up to `acquire_timeout` for a free one (then RESOURCE_EXHAUSTED); while
  // the server is unreachable it fails fast with UNAVAILABLE and retries the
  // connection with exponential backoff.
  absl::StatusOr<Lease> Acquire();

  // Borrows a connection and runs `fn` on it, turning exceptions into
  // statuses. A connection-level failure discards the connection.
  absl::Status Run(absl::string_view what,
                   const std::function<absl::Status(sql::Connection&)>& fn);

  // Runs `fn` inside a transaction (autocommit off, commit on OK, rollback
  // otherwise). Retries the whole transaction up to `attempts` times when it
  // fails with ABORTED (deadlock, lock wait timeout); `fn` must therefore be
  // safe to run again.
  absl::Status Transaction(
      absl::string_view what,
      const std::function<absl::Status(sql::Connection&)>& fn,
      int attempts = 3);

  // True when the last health check or connection attempt succeeded.
  bool healthy() const { return healthy_.load(); }

  // How many background health checks have completed.
  int64_t health_checks() const { return health_checks_.load(); }

  // Called (from the health-check thread) whenever `healthy()` changes.
  void SetHealthListener(std::function<void(bool)> listener);

  const MysqlOptions& options() const { return options_; }

 private:
  explicit MysqlPool(MysqlOptions options);
  absl::StatusOr<std::unique_ptr<sql::Connection>> Connect();
  void Return(std::unique_ptr<sql::Connection> conn, bool discard);
  void SetHealthy(bool healthy);
  void CountError(const absl::Status& status);
  void HealthLoop();

  // The clock the acquire timeout, the reconnect backoff and the health
  // interval run on.
  Clock& clock() const {
    return options_.clock != nullptr ? *options_.clock : Clock::Real();
  }

  const MysqlOptions options_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<sql::Connection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // idle + borrowed + being opened
  absl::Time next_connect_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Duration backoff_ ABSL_GUARDED_BY(mu_) = absl::Milliseconds(100);
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> healthy_{false};
  std::atomic<int64_t> health_checks_{0};
  std::function<void(bool)> listener_ ABSL_GUARDED_BY(mu_);
  std::thread health_thread_;
  prometheus::Gauge* up_gauge_ = nullptr;
  prometheus::Family<prometheus::Counter>* errors_ = nullptr;
};

// `n` copies of `one`, comma-separated: the placeholders of a statement
// naming `n` values ("?") or rows (e.g. "(?,?)").
std::string Placeholders(size_t n, absl::string_view one = "?");

}  // namespace tandem
