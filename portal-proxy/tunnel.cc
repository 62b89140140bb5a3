#include "portal-proxy/tunnel.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <memory>

namespace tandem::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kPipeBytes = 16 * 1024;

auto Redirect(boost::system::error_code& ec) {
  return asio::redirect_error(asio::use_awaitable, ec);
}

// Copies bytes from `from` to `to` until either side fails, then shuts down
// the sending direction of `to`.
asio::awaitable<void> Pipe(tcp::socket& from, tcp::socket& to) {
  auto data = std::make_unique<char[]>(kPipeBytes);
  boost::system::error_code ec;
  for (;;) {
    const size_t n = co_await from.async_read_some(
        asio::buffer(data.get(), kPipeBytes), Redirect(ec));
    if (ec) break;
    co_await asio::async_write(to, asio::buffer(data.get(), n), Redirect(ec));
    if (ec) break;
  }
  to.shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace

asio::awaitable<void> Tunnel(ClientStream& client,
                             UpstreamConnection& upstream) {
  boost::system::error_code ec;
  tcp::socket& down = client.socket();
  tcp::socket& up = upstream.socket;
  // Bytes each side sent right after the handshake.
  if (client.buffer().size() > 0) {
    co_await asio::async_write(up, client.buffer().data(), Redirect(ec));
    client.buffer().consume(client.buffer().size());
  }
  if (upstream.buffer.size() > 0) {
    co_await asio::async_write(down, upstream.buffer.data(), Redirect(ec));
    upstream.buffer.consume(upstream.buffer.size());
  }
  auto executor = co_await asio::this_coro::executor;
  auto done = std::make_shared<asio::steady_timer>(
      executor, asio::steady_timer::time_point::max());
  auto finished = std::make_shared<bool>(false);
  asio::co_spawn(executor, Pipe(down, up),
                 [done, finished](std::exception_ptr) {
                   *finished = true;
                   done->cancel();
                 });
  co_await Pipe(up, down);
  if (!*finished) {
    // The backend is done; give the client's direction no more than the
    // close of both sockets.
    down.close(ec);
    up.close(ec);
    co_await done->async_wait(Redirect(ec));
  }
}

}  // namespace tandem::proxy
