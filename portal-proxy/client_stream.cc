#include "portal-proxy/client_stream.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>

#include "portal-proxy/socket_io.h"

namespace tandem::proxy {

namespace asio = boost::asio;

namespace {
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
}  // namespace

ClientStream::ClientStream(asio::ip::tcp::socket socket,
                           DeadlineList& deadlines,
                           Clock::duration body_timeout)
    : socket_(std::move(socket)),
      deadline_(deadlines),
      body_timeout_(body_timeout) {
  boost::system::error_code ec;
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  peer_ = socket_.remote_endpoint(ec).address().to_string(ec);
}

std::string_view ClientStream::Buffered() const {
  return {static_cast<const char*>(buffer_.data().data()), buffer_.size()};
}

asio::awaitable<bool> ClientStream::ReadMore(Clock::time_point until,
                                             bool* timed_out) {
  boost::system::error_code ec;
  deadline_->Arm(&socket_, until);
  const size_t n = co_await socket_.async_read_some(
      buffer_.prepare(kReadBytes),
      asio::redirect_error(asio::use_awaitable, ec));
  deadline_->Disarm();
  *timed_out = deadline_->fired;
  if (ec) co_return false;
  if (n < kReadBytes) MarkDrained(socket_);
  buffer_.commit(n);
  co_return true;
}

template <typename ConstBufferSequence>
asio::awaitable<bool> ClientStream::WriteRest(const ConstBufferSequence& data,
                                              size_t sent) {
  boost::system::error_code ec;
  boost::beast::buffers_suffix<ConstBufferSequence> rest(data);
  rest.consume(sent);
  deadline_->Arm(&socket_, Clock::now() + body_timeout_);
  co_await asio::async_write(socket_, rest,
                             asio::redirect_error(asio::use_awaitable, ec));
  deadline_->Disarm();
  co_return !ec;
}

template <typename ConstBufferSequence>
asio::awaitable<bool> ClientStream::WriteBuffers(
    const ConstBufferSequence& data) {
  size_t sent = 0;
  bool failed = false;
  if (WriteNow(data, &sent, &failed)) co_return true;
  if (failed) co_return false;
  co_return co_await WriteRest(data, sent);
}

// The buffer sequences the proxy writes to clients.
template asio::awaitable<bool> ClientStream::WriteBuffers(
    const asio::const_buffer&);
template asio::awaitable<bool> ClientStream::WriteBuffers(
    const std::array<asio::const_buffer, 2>&);
template asio::awaitable<bool> ClientStream::WriteBuffers(
    const std::array<asio::const_buffer, 5>&);
template asio::awaitable<bool> ClientStream::WriteRest(
    const std::array<asio::const_buffer, 2>&, size_t);

asio::awaitable<bool> ClientStream::Write(std::string_view data) {
  co_return co_await WriteBuffers(asio::const_buffer(data.data(), data.size()));
}

void ClientStream::StartBody(const BodyFraming& framing,
                             uint64_t max_body_bytes, bool expect_continue) {
  framing_ = framing;
  body_started_ = false;
  send_continue_ = false;
  switch (framing.kind) {
    case BodyFraming::Kind::kNone:
      body_done_ = true;
      break;
    case BodyFraming::Kind::kLength:
      remaining_ = framing.length;
      body_done_ = remaining_ == 0;
      break;
    case BodyFraming::Kind::kChunked:
      decoder_.Reset(max_body_bytes);
      body_done_ = false;
      break;
  }
  send_continue_ = expect_continue && !body_done_;
}

asio::awaitable<BodyPiece> ClientStream::NextBodyPiece() {
  BodyPiece piece;
  for (;;) {
    if (body_done_) {
      piece.status = BodyPiece::Status::kDone;
      co_return piece;
    }
    body_started_ = true;
    if (send_continue_) {
      send_continue_ = false;
      if (Buffered().empty()) {
        const bool written = co_await Write(kContinue);
        if (!written) {
          piece.status = BodyPiece::Status::kGone;
          co_return piece;
        }
      }
    }
    const std::string_view in = Buffered();
    if (framing_.kind == BodyFraming::Kind::kLength) {
      if (!in.empty()) {
        const size_t n =
            static_cast<size_t>(std::min<uint64_t>(remaining_, in.size()));
        remaining_ -= n;
        body_done_ = remaining_ == 0;
        piece.status = BodyPiece::Status::kData;
        piece.data = in.substr(0, n);
        piece.consume = n;
        co_return piece;
      }
    } else {
      const ChunkedDecoder::Step step = decoder_.Next(in);
      switch (step.status) {
        case ChunkedDecoder::Status::kData:
          piece.status = BodyPiece::Status::kData;
          piece.data = step.data;
          piece.consume = step.consumed;
          co_return piece;
        case ChunkedDecoder::Status::kDone:
          buffer_.consume(step.consumed);
          body_done_ = true;
          continue;
        case ChunkedDecoder::Status::kError:
          piece.status = BodyPiece::Status::kMalformed;
          piece.error = decoder_.error();
          co_return piece;
        case ChunkedDecoder::Status::kNeedMore:
          buffer_.consume(step.consumed);
          break;
      }
    }
    bool timed_out = false;
    if (!co_await ReadMore(Clock::now() + body_timeout_, &timed_out)) {
      piece.status =
          timed_out ? BodyPiece::Status::kTimeout : BodyPiece::Status::kGone;
      co_return piece;
    }
  }
}

asio::awaitable<bool> ClientStream::ReadBodyInto(std::string* out, size_t limit,
                                                 BodyPiece* failed) {
  while (out->size() < limit || body_done_) {
    BodyPiece piece = co_await NextBodyPiece();
    if (piece.status == BodyPiece::Status::kDone) co_return true;
    if (piece.status != BodyPiece::Status::kData) {
      *failed = piece;
      co_return false;
    }
    out->append(piece.data);
    Consume(piece.consume);
  }
  failed->status = BodyPiece::Status::kData;  // not a failure: more to come
  co_return false;
}

asio::awaitable<bool> ClientStream::DrainBody(uint64_t limit) {
  uint64_t drained = 0;
  while (drained <= limit) {
    BodyPiece piece = co_await NextBodyPiece();
    if (piece.status == BodyPiece::Status::kDone) co_return true;
    if (piece.status != BodyPiece::Status::kData) co_return false;
    drained += piece.data.size();
    Consume(piece.consume);
  }
  co_return false;
}

}  // namespace tandem::proxy
