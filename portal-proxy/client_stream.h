// A client connection's socket and read buffer, with the reads and writes
// the pipeline needs: request heads, the request body in the framing the
// head declared (decoded, so that the proxy forwards exactly what it
// parsed), and answers. Every wait is bounded through the connection's
// Deadline (deadline.h); the socket stays open when one fires, so that a
// 408 can still be sent.
//
// Used only on the thread of the connection's io_context.
#pragma once

// clang-format off
#include <utility>
// clang-format on

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "portal-proxy/chunked_decoder.h"
#include "portal-proxy/deadline.h"
#include "portal-proxy/http_head.h"
#include "portal-proxy/request_framing.h"
#include "portal-proxy/socket_io.h"

namespace tandem::proxy {

// One step of reading a request body.
struct BodyPiece {
  enum class Status {
    // `data` (a view into the read buffer) is the next piece of the body;
    // call ClientStream::Consume(consume) once it is used.
    kData,
    // The body is complete.
    kDone,
    // The body is malformed or over the limit: `error` (400 or 413).
    kMalformed,
    // The client sent nothing for the body timeout (408).
    kTimeout,
    // The client closed the connection or it broke.
    kGone,
  };
  Status status = Status::kDone;
  std::string_view data;
  size_t consume = 0;
  HttpError error;
};

class ClientStream {
 public:
  using Clock = std::chrono::steady_clock;
  // The most one read asks the socket for.
  static constexpr size_t kReadBytes = 16 * 1024;

  ClientStream(boost::asio::ip::tcp::socket socket, DeadlineList& deadlines,
               Clock::duration body_timeout);

  boost::asio::ip::tcp::socket& socket() { return socket_; }
  boost::beast::flat_buffer& buffer() { return buffer_; }
  Deadline& deadline() { return *deadline_; }
  const std::string& peer() const { return peer_; }

  // The buffered bytes not consumed yet.
  std::string_view Buffered() const;

  // Reads more bytes into the buffer, waiting until `until` at most.
  // Returns false when nothing came: `*timed_out` tells the deadline from a
  // closed or broken connection.
  boost::asio::awaitable<bool> ReadMore(Clock::time_point until,
                                        bool* timed_out);

  // Writes all of `data` (in place, and asynchronously only what the socket
  // did not take), within the body timeout; false when the client is gone
  // or stalled.
  boost::asio::awaitable<bool> Write(std::string_view data);
  template <typename ConstBufferSequence>
  boost::asio::awaitable<bool> WriteBuffers(const ConstBufferSequence& data);

  // The in-place part of WriteBuffers, for the request path's common case
  // without a coroutine frame: true when all of `data` went; otherwise
  // `*sent` bytes did, and the rest goes with WriteRest (unless `*failed`).
  template <typename ConstBufferSequence>
  bool WriteNow(const ConstBufferSequence& data, size_t* sent, bool* failed);
  template <typename ConstBufferSequence>
  boost::asio::awaitable<bool> WriteRest(const ConstBufferSequence& data,
                                         size_t sent);

  // Starts reading a request body framed as `framing` (the head is
  // consumed already), of at most `max_body_bytes` decoded bytes.
  // `expect_continue`: the client waits for "100 Continue" before it sends
  // the body, which the first read of the body sends.
  void StartBody(const BodyFraming& framing, uint64_t max_body_bytes,
                 bool expect_continue);
  // The next piece of the body; see BodyPiece.
  boost::asio::awaitable<BodyPiece> NextBodyPiece();
  void Consume(size_t bytes) { buffer_.consume(bytes); }
  // The whole body has been read.
  bool body_done() const { return body_done_; }
  // Whether any of the body was asked for.
  bool body_started() const { return body_started_; }

  // Appends the body to `out` until it is complete (true) or `out` holds
  // `limit` bytes or more (false, more to come); a failure leaves `*failed`
  // set (kMalformed, kTimeout or kGone).
  boost::asio::awaitable<bool> ReadBodyInto(std::string* out, size_t limit,
                                            BodyPiece* failed);

  // Reads and drops the rest of the body, up to `limit` bytes; true when it
  // all came (so the connection can take the next request).
  boost::asio::awaitable<bool> DrainBody(uint64_t limit);

 private:
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  DeadlineSlot deadline_;
  Clock::duration body_timeout_;
  std::string peer_;
  // The body being read.
  BodyFraming framing_;
  uint64_t remaining_ = 0;  // kLength
  ChunkedDecoder decoder_;  // kChunked
  bool body_done_ = true;
  bool body_started_ = false;
  bool send_continue_ = false;
};

template <typename ConstBufferSequence>
bool ClientStream::WriteNow(const ConstBufferSequence& data, size_t* sent,
                            bool* failed) {
  boost::system::error_code ec;
  *sent = WriteAvailable(socket_, data, ec);
  *failed = static_cast<bool>(ec);
  return !ec && *sent == boost::asio::buffer_size(data);
}

}  // namespace tandem::proxy
