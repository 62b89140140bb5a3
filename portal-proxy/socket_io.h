// Non-blocking reads and writes for the proxy's hand-parsed path, done in
// place instead of as asynchronous operations: each asynchronous operation
// costs a trip through the scheduler and, for a read, a system call that
// fails with EAGAIN or re-arms epoll. The path waits for readability first
// (async_wait) and writes asynchronously only what a socket did not take.
#pragma once

#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>

namespace tandem::proxy {

// Reads what `socket` holds into `into` without blocking (putting the
// socket in non-blocking mode first). Returns the bytes read; a read that
// would block is 0 bytes and no error, the end of the stream is 0 bytes and
// boost::asio::error::eof.
inline size_t ReadAvailable(boost::asio::ip::tcp::socket& socket,
                            boost::asio::mutable_buffer into,
                            boost::system::error_code& ec) {
  if (!socket.non_blocking()) {
    socket.non_blocking(true, ec);
    if (ec) return 0;
  }
  size_t n = socket.read_some(into, ec);
  if (ec == boost::asio::error::would_block ||
      ec == boost::asio::error::try_again) {
    ec.clear();
    return 0;
  }
  return n;
}

// Writes what `socket` takes of `buffers` now, without blocking (putting the
// socket in non-blocking mode first). Returns the bytes written, with no
// error when the socket would have blocked. A small message normally goes
// whole; the caller sends the rest (boost::beast::buffers_suffix) with
// async_write.
template <typename ConstBufferSequence>
size_t WriteAvailable(boost::asio::ip::tcp::socket& socket,
                      const ConstBufferSequence& buffers,
                      boost::system::error_code& ec) {
  if (!socket.non_blocking()) {
    socket.non_blocking(true, ec);
    if (ec) return 0;
  }
  size_t n = socket.write_some(buffers, ec);
  if (ec == boost::asio::error::would_block ||
      ec == boost::asio::error::try_again) {
    ec.clear();
    return 0;
  }
  return n;
}

}  // namespace tandem::proxy
