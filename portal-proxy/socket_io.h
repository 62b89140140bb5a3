// Socket reads and writes for the proxy's hand-parsed path. Writes are
// done in place (a small message normally goes whole), and only what a
// socket did not take is written asynchronously. Reads are asynchronous;
// MarkDrained spares each wait the system call Asio 1.74 would spend on it.
#pragma once

#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>
#include <boost/version.hpp>
#include <cstddef>
#include <type_traits>

namespace tandem::proxy {
namespace socket_io_internal {

#if BOOST_VERSION == 107400 && defined(BOOST_ASIO_HAS_EPOLL)
// Asio keeps, per socket, whether the next read should first be tried
// speculatively (a recv before waiting on epoll). Version 1.74 clears the
// flag only when a read returns 0 bytes, so every wait for a request on a
// kept-alive connection costs a recv that fails with EAGAIN; waiting with
// async_wait instead costs an epoll_ctl that re-arms the socket. nginx
// clears its `ready` flag after any short read (ngx_unix_recv), which is
// what MarkDrained does. The members are private; an explicit
// instantiation may name them ([temp.spec.general]/6), the one standard way
// to reach them. Pinned to the Boost of Debian 12: on another version the
// unit test SocketIoTest.AReadAfterMarkDrainedWaitsWithoutTryingARecvFirst
// fails, so that someone looks at the reactor again.
using DescriptorState = std::remove_pointer_t<
    boost::asio::detail::epoll_reactor::per_descriptor_data>;
using SocketBase = boost::asio::basic_socket<boost::asio::ip::tcp,
                                             boost::asio::any_io_executor>;

template <typename Tag, auto Member>
struct Expose {
  friend constexpr auto MemberOf(Tag) { return Member; }
};
struct SocketImpl {
  friend constexpr auto MemberOf(SocketImpl);
};
struct DescriptorMutex {
  friend constexpr auto MemberOf(DescriptorMutex);
};
struct TrySpeculative {
  friend constexpr auto MemberOf(TrySpeculative);
};
template struct Expose<SocketImpl, &SocketBase::impl_>;
template struct Expose<DescriptorMutex, &DescriptorState::mutex_>;
template struct Expose<TrySpeculative, &DescriptorState::try_speculative_>;
#endif

}  // namespace socket_io_internal

// Tells the reactor that `socket` has nothing left to read, so the next
// asynchronous read on it waits for readiness at once rather than trying a
// recv first. Call it only right after a read returned fewer bytes than it
// asked for (a short read empties a TCP socket's receive queue; whatever
// arrives later raises a new edge, which lets the next read try again), on
// the thread that runs the socket's io_context. Does nothing on other Boost
// versions, where reads keep their speculative first try.
inline void MarkDrained(boost::asio::ip::tcp::socket& socket) {
#if BOOST_VERSION == 107400 && defined(BOOST_ASIO_HAS_EPOLL)
  namespace internal = socket_io_internal;
  socket_io_internal::SocketBase& base = socket;
  internal::DescriptorState* state = (base.*MemberOf(internal::SocketImpl{}))
                                         .get_implementation()
                                         .reactor_data_;
  if (state == nullptr) return;
  boost::asio::detail::conditionally_enabled_mutex::scoped_lock lock(
      state->*MemberOf(internal::DescriptorMutex{}));
  (state->*MemberOf(internal::TrySpeculative{}))
      [boost::asio::detail::epoll_reactor::read_op] = false;
#else
  (void)socket;
#endif
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
  ec.clear();
  if (!socket.non_blocking()) {
    socket.non_blocking(true, ec);
    if (ec) return 0;
  }
  const size_t n = socket.write_some(buffers, ec);
  if (ec == boost::asio::error::would_block ||
      ec == boost::asio::error::try_again) {
    ec.clear();
    return 0;
  }
  return n;
}

}  // namespace tandem::proxy
