// Keep-alive connections to one billing backend, for one I/O thread.
//
// Each I/O thread has its own io_context and its own pool per backend, so
// the pool needs no lock and a connection never changes threads. An idle
// connection that sat idle for a while is checked (a non-blocking peek) and
// dropped if the backend closed it; one released moments ago is handed out
// without the extra system call (a backend closing it in that window is
// covered by the caller's one retry on a fresh connection).
#pragma once

// First, on its own: Asio 1.18's awaitable.hpp uses std::exchange without
// including <utility>.
// clang-format off
#include <utility>
// clang-format on

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "portal-proxy/deadline.h"
#include "prometheus/counter.h"

namespace tandem::proxy {

// Totals over every I/O thread's pool of one backend, for the admin
// service's status; updated with relaxed atomics.
struct UpstreamStats {
  std::atomic<int64_t> idle{0};
  std::atomic<int64_t> busy{0};
  std::atomic<int64_t> opened{0};
  std::atomic<int64_t> requests{0};
};

// One upstream connection and its read buffer (which may hold bytes the
// backend sent past the end of the last response, so they travel together).
struct UpstreamConnection {
  explicit UpstreamConnection(boost::asio::any_io_executor executor)
      : socket(std::move(executor)) {}
  boost::asio::ip::tcp::socket socket;
  boost::beast::flat_buffer buffer;
  // True when this connection served a request before.
  bool reused = false;
  // When it was last put back into its pool.
  std::chrono::steady_clock::time_point released;
  // Set while handed out by a pool: counted as busy in `stats`.
  UpstreamStats* stats = nullptr;
  ~UpstreamConnection() {
    if (stats != nullptr) stats->busy.fetch_sub(1, std::memory_order_relaxed);
  }
};

struct UpstreamCounters {
  prometheus::Counter* opened = nullptr;
  prometheus::Counter* reused = nullptr;
  prometheus::Counter* connect_errors = nullptr;
};

class UpstreamPool {
 public:
  UpstreamPool(boost::asio::any_io_executor executor,
               boost::asio::ip::tcp::endpoint endpoint, int max_idle,
               absl::Duration connect_timeout, UpstreamCounters counters,
               UpstreamStats* stats)
      : executor_(std::move(executor)),
        endpoint_(endpoint),
        max_idle_(max_idle),
        connect_timeout_(connect_timeout),
        counters_(counters),
        stats_(stats) {}
  ~UpstreamPool();

  // Returns an idle connection without suspending, or null when there is
  // none (then call Connect). Counts the request when it returns one.
  std::unique_ptr<UpstreamConnection> TakeIdle();

  // Opens a new connection within the connect timeout, enforced through
  // `deadline` (the caller's, disarmed again on return). Null when the
  // backend cannot be reached, with `*timed_out` telling a timeout (504)
  // from a refusal (502).
  boost::asio::awaitable<std::unique_ptr<UpstreamConnection>> Connect(
      Deadline& deadline, bool* timed_out);

  // Returns a connection after a complete exchange with keep-alive; beyond
  // max_idle it is closed.
  void Release(std::unique_ptr<UpstreamConnection> connection);

  size_t idle() const { return idle_.size(); }

 private:
  boost::asio::any_io_executor executor_;
  boost::asio::ip::tcp::endpoint endpoint_;
  int max_idle_;
  absl::Duration connect_timeout_;
  UpstreamCounters counters_;
  UpstreamStats* stats_;  // not owned
  std::vector<std::unique_ptr<UpstreamConnection>> idle_;
};

}  // namespace tandem::proxy
