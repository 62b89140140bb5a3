#include "portal-proxy/upstream_pool.h"

#include <sys/socket.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>

namespace tandem::proxy {
namespace {

// True when the idle connection is still usable: no EOF and no unexpected
// bytes waiting.
bool StillAlive(UpstreamConnection& connection) {
  auto& socket = connection.socket;
  if (!socket.is_open()) {
    return false;
  }
  char byte;
  ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// Connections released this recently are handed out without a peek.
constexpr std::chrono::milliseconds kTrustIdleFor{1000};

}  // namespace

UpstreamPool::~UpstreamPool() {
  stats_->idle.fetch_sub(static_cast<int64_t>(idle_.size()),
                         std::memory_order_relaxed);
}

std::unique_ptr<UpstreamConnection> UpstreamPool::TakeIdle() {
  const auto now = std::chrono::steady_clock::now();
  while (!idle_.empty()) {
    std::unique_ptr<UpstreamConnection> connection = std::move(idle_.back());
    idle_.pop_back();
    stats_->idle.fetch_sub(1, std::memory_order_relaxed);
    if (now - connection->released < kTrustIdleFor || StillAlive(*connection)) {
      connection->reused = true;
      connection->stats = stats_;
      stats_->busy.fetch_add(1, std::memory_order_relaxed);
      stats_->requests.fetch_add(1, std::memory_order_relaxed);
      if (counters_.reused != nullptr) {
        counters_.reused->Increment();
      }
      return connection;
    }
  }
  return nullptr;
}

boost::asio::awaitable<std::unique_ptr<UpstreamConnection>>
UpstreamPool::Connect(Deadline& deadline, bool* timed_out) {
  *timed_out = false;
  stats_->requests.fetch_add(1, std::memory_order_relaxed);
  auto connection = std::make_unique<UpstreamConnection>(executor_);
  boost::system::error_code ec;
  connection->socket.open(endpoint_.protocol(), ec);
  if (!ec) {
    deadline.Arm(&connection->socket,
                 std::chrono::steady_clock::now() +
                     absl::ToChronoMilliseconds(connect_timeout_));
    co_await connection->socket.async_connect(
        endpoint_, boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    deadline.Disarm();
  }
  if (ec) {
    *timed_out = deadline.fired;
    if (counters_.connect_errors != nullptr) {
      counters_.connect_errors->Increment();
    }
    co_return nullptr;
  }
  connection->socket.set_option(boost::asio::ip::tcp::no_delay(true), ec);
  if (counters_.opened != nullptr) {
    counters_.opened->Increment();
  }
  stats_->opened.fetch_add(1, std::memory_order_relaxed);
  connection->stats = stats_;
  stats_->busy.fetch_add(1, std::memory_order_relaxed);
  co_return connection;
}

void UpstreamPool::Release(std::unique_ptr<UpstreamConnection> connection) {
  if (static_cast<int>(idle_.size()) >= max_idle_) {
    return;  // closed by the destructor
  }
  if (!connection->socket.is_open() || connection->buffer.size() != 0) {
    return;  // unusable: closed, or bytes past the end of the response
  }
  connection->released = std::chrono::steady_clock::now();
  connection->stats = nullptr;
  stats_->busy.fetch_sub(1, std::memory_order_relaxed);
  stats_->idle.fetch_add(1, std::memory_order_relaxed);
  idle_.push_back(std::move(connection));
}

}  // namespace tandem::proxy
