#include "portal-proxy/upstream_pool.h"

#include <sys/socket.h>

#include <boost/asio/use_awaitable.hpp>
#include <cerrno>

namespace tandem::proxy {
namespace {

// True when the idle connection is still usable: no EOF and no unexpected
// bytes waiting.
bool StillAlive(UpstreamConnection& connection) {
  auto& socket = connection.stream.socket();
  if (!socket.is_open() || connection.buffer.size() != 0) {
    return false;
  }
  char byte;
  ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

boost::asio::awaitable<std::unique_ptr<UpstreamConnection>>
UpstreamPool::Acquire() {
  while (!idle_.empty()) {
    std::unique_ptr<UpstreamConnection> connection = std::move(idle_.back());
    idle_.pop_back();
    if (StillAlive(*connection)) {
      connection->reused = true;
      if (counters_.reused != nullptr) {
        counters_.reused->Increment();
      }
      co_return connection;
    }
  }
  std::unique_ptr<UpstreamConnection> connection = co_await Connect();
  co_return connection;
}

boost::asio::awaitable<std::unique_ptr<UpstreamConnection>>
UpstreamPool::Connect() {
  auto connection = std::make_unique<UpstreamConnection>(executor_);
  connection->stream.expires_after(
      absl::ToChronoMilliseconds(connect_timeout_));
  try {
    co_await connection->stream.async_connect(endpoint_,
                                              boost::asio::use_awaitable);
  } catch (const boost::system::system_error&) {
    if (counters_.connect_errors != nullptr) {
      counters_.connect_errors->Increment();
    }
    throw;
  }
  connection->stream.socket().set_option(boost::asio::ip::tcp::no_delay(true));
  if (counters_.opened != nullptr) {
    counters_.opened->Increment();
  }
  co_return connection;
}

void UpstreamPool::Release(std::unique_ptr<UpstreamConnection> connection) {
  if (static_cast<int>(idle_.size()) >= max_idle_) {
    return;  // closed by the destructor
  }
  connection->stream.expires_never();
  idle_.push_back(std::move(connection));
}

}  // namespace tandem::proxy
