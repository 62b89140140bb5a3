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
namespace socket_io_internal {

// Clears `ec` and puts `socket` in non-blocking mode unless it is; false
// on failure.
inline bool MakeNonBlocking(boost::asio::ip::tcp::socket& socket,
                            boost::system::error_code& ec) {
  ec.clear();
  if (!socket.non_blocking()) socket.non_blocking(true, ec);
  return !ec;
}

// Turns "would block" into 0 bytes and no error.
inline size_t UnlessWouldBlock(size_t n, boost::system::error_code& ec) {
  if (ec == boost::asio::error::would_block ||
      ec == boost::asio::error::try_again) {
    ec.clear();
    return 0;
  }
  return n;
}

}  // namespace socket_io_internal

// Reads what `socket` holds into `into` without blocking (putting the
// socket in non-blocking mode first). Returns the bytes read; a read that
// would block is 0 bytes and no error, the end of the stream is 0 bytes and
// boost::asio::error::eof.
inline size_t ReadAvailable(boost::asio::ip::tcp::socket& socket,
                            boost::asio::mutable_buffer into,
                            boost::system::error_code& ec) {
  if (!socket_io_internal::MakeNonBlocking(socket, ec)) return 0;
  const size_t n = socket.read_some(into, ec);
  return socket_io_internal::UnlessWouldBlock(n, ec);
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
  if (!socket_io_internal::MakeNonBlocking(socket, ec)) return 0;
  const size_t n = socket.write_some(buffers, ec);
  return socket_io_internal::UnlessWouldBlock(n, ec);
}

}  // namespace tandem::proxy
