#include "portal-proxy/upstream_exchange.h"

#include <array>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "portal-proxy/connection.h"
#include "portal-proxy/socket_io.h"
#include "portal-proxy/tunnel.h"

namespace tandem::proxy {

namespace asio = boost::asio;

namespace {

constexpr size_t kChunkBytes = 16 * 1024;
constexpr size_t kMaxResponseHeadBytes = 16 * 1024;

// The buffers of one write: an optional head, then a piece of body, framed
// as a chunk when `chunked`, and the last chunk when `last`.
struct Piece {
  std::array<asio::const_buffer, 5> buffers;
  char size_line[24];

  void Set(std::string_view head, std::string_view data, bool chunked,
           bool last) {
    buffers.fill(asio::const_buffer());
    buffers[0] = asio::buffer(head.data(), head.size());
    if (!data.empty()) {
      if (chunked) {
        const int n =
            std::snprintf(size_line, sizeof(size_line), "%zx\r\n", data.size());
        buffers[1] = asio::buffer(size_line, static_cast<size_t>(n));
        buffers[3] = asio::buffer("\r\n", 2);
      }
      buffers[2] = asio::buffer(data.data(), data.size());
    }
    if (last && chunked) buffers[4] = asio::buffer("0\r\n\r\n", 5);
  }
};

std::string_view View(const boost::beast::flat_buffer& buffer) {
  return {static_cast<const char*>(buffer.data().data()), buffer.size()};
}

}  // namespace

UpstreamExchange::Clock::duration UpstreamExchange::upstream_timeout() const {
  return absl::ToChronoMilliseconds(
      pipeline_.options.upstream_response_timeout);
}

void UpstreamExchange::Fail(Exchange& x, int status, const char* outcome,
                            const char* message) {
  SetErrorReply(status, message, &x.reply);
  x.reply.close = true;
  x.record.outcome = outcome;
}

template <typename ConstBufferSequence>
asio::awaitable<bool> UpstreamExchange::WriteUpstream(
    UpstreamConnection& upstream, const ConstBufferSequence& data,
    size_t skip) {
  boost::beast::buffers_suffix<ConstBufferSequence> rest(data);
  rest.consume(skip);
  boost::system::error_code ec;
  const size_t sent = WriteAvailable(upstream.socket, rest, ec);
  if (!ec && sent < asio::buffer_size(rest)) {
    rest.consume(sent);
    Deadline& deadline = client_.deadline();
    deadline.Arm(&upstream.socket, Clock::now() + upstream_timeout());
    co_await asio::async_write(upstream.socket, rest,
                               asio::redirect_error(asio::use_awaitable, ec));
    deadline.Disarm();
  }
  co_return !ec;
}

asio::awaitable<boost::system::error_code> UpstreamExchange::ReadUpstream(
    UpstreamConnection& upstream, size_t at_most) {
  boost::system::error_code ec;
  Deadline& deadline = client_.deadline();
  deadline.Arm(&upstream.socket, Clock::now() + upstream_timeout());
  const size_t n = co_await upstream.socket.async_read_some(
      upstream.buffer.prepare(at_most),
      asio::redirect_error(asio::use_awaitable, ec));
  deadline.Disarm();
  if (!ec) {
    if (n < at_most) MarkDrained(upstream.socket);
    upstream.buffer.commit(n);
  }
  co_return ec;
}

asio::awaitable<bool> UpstreamExchange::ReadAhead(Exchange& x) {
  // The body is kept for a replay when it all came within the limit (reads
  // take whole pieces, so a little more may have been read: that is sent,
  // not kept).
  const size_t limit = pipeline_.options.max_replay_body_bytes;
  if (client_.body_done()) {
    x.body_complete = true;
    x.body_over_limit = x.body.size() > limit;
    co_return true;
  }
  if (x.body.size() >= limit) {
    x.body_over_limit = true;
    co_return true;
  }
  BodyPiece failed;
  const bool complete = co_await client_.ReadBodyInto(&x.body, limit, &failed);
  if (complete) {
    x.body_complete = true;
    x.body_over_limit = x.body.size() > limit;
    co_return true;
  }
  if (failed.status == BodyPiece::Status::kData) {
    x.body_over_limit = true;
    co_return true;
  }
  SetBodyFailure(failed, x);
  co_return false;
}

asio::awaitable<UpstreamExchange::Outcome> UpstreamExchange::Forward(
    Exchange& x) {
  if (client_.body_done()) {
    x.body_complete = true;  // no coroutine frame for the common request
    x.body_over_limit = x.body.size() > pipeline_.options.max_replay_body_bytes;
  } else if (!co_await ReadAhead(x)) {
    co_return Outcome::kReply;
  }
  if (x.exported_from) pipeline_.metrics->CountExportedReplay("replayed");
  OutFraming framing;
  if (x.framing.kind == BodyFraming::Kind::kNone) {
    framing.kind = OutFraming::Kind::kNone;
  } else if (x.body_complete) {
    framing = OutFraming{OutFraming::Kind::kLength, x.body.size()};
  } else if (x.framing.kind == BodyFraming::Kind::kLength) {
    framing = OutFraming{OutFraming::Kind::kLength, x.framing.length};
  } else {
    framing.kind = OutFraming::Kind::kChunked;
  }
  BuildUpstreamHead(x, framing, client_.peer(),
                    pipeline_.options.forwarded_proto, &head_);
  UpstreamPool& pool = *worker_.pools[Index(x.backend)];
  const auto start = Clock::now();
  std::unique_ptr<UpstreamConnection> upstream;
  for (int attempt = 0;; ++attempt) {
    upstream = attempt == 0 ? pool.TakeIdle() : nullptr;
    if (upstream == nullptr) {
      bool timed_out = false;
      upstream = co_await pool.Connect(client_.deadline(), &timed_out);
      if (upstream == nullptr) {
        Fail(x, timed_out ? 504 : 502, "upstream_connect_failed",
             "the billing system cannot be reached");
        co_return Outcome::kReply;
      }
    }
    // The common request goes in place, without a coroutine frame.
    Sent sent = Sent::kOk;
    if (client_.body_done()) {
      bool complete = false;
      bool failed = false;
      const size_t already =
          WriteWholeNow(x, *upstream, framing, &complete, &failed);
      if (failed) {
        sent = Sent::kUpstreamFailed;
      } else if (!complete) {
        sent = co_await SendRequest(x, *upstream, framing, already);
      }
    } else {
      sent = co_await SendRequest(x, *upstream, framing, 0);
    }
    if (sent == Sent::kClientFailed) co_return Outcome::kReply;
    HeadResult head = HeadResult::kBroken;
    if (sent == Sent::kOk) {
      head = co_await ReadResponseHead(*upstream, start + upstream_timeout());
    }
    if (head == HeadResult::kOk) break;
    // A kept-alive connection the backend closed meanwhile: once more on a
    // fresh one, if the request can be sent again.
    if (attempt == 0 && upstream->reused && head == HeadResult::kBroken &&
        upstream->buffer.size() == 0 && x.replayable()) {
      continue;
    }
    TANDEM_LOG(Warning, "upstream_failed")
        .With("system", Label(x.backend))
        .With("error", head == HeadResult::kTimeout ? "timeout"
                       : head == HeadResult::kBad   ? "malformed response"
                                                    : "connection broken");
    if (head == HeadResult::kTimeout) {
      Fail(x, 504, "upstream_timeout",
           "the billing system did not answer in time");
    } else {
      Fail(x, 502, "upstream_error", "the billing system failed");
    }
    co_return Outcome::kReply;
  }
  x.record.upstream_seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  pipeline_.metrics->ObserveUpstream(x.backend, x.record.upstream_seconds);
  co_return co_await Relay(x, std::move(upstream));
}

size_t UpstreamExchange::WriteWholeNow(const Exchange& x,
                                       UpstreamConnection& upstream,
                                       OutFraming framing, bool* complete,
                                       bool* failed) {
  Piece piece;
  piece.Set(head_, x.body, framing.kind == OutFraming::Kind::kChunked, true);
  boost::system::error_code ec;
  const size_t sent = WriteAvailable(upstream.socket, piece.buffers, ec);
  *failed = static_cast<bool>(ec);
  *complete = !ec && sent == asio::buffer_size(piece.buffers);
  return sent;
}

asio::awaitable<UpstreamExchange::Sent> UpstreamExchange::SendRequest(
    Exchange& x, UpstreamConnection& upstream, OutFraming framing,
    size_t already) {
  const bool chunked = framing.kind == OutFraming::Kind::kChunked;
  Piece piece;
  // The head and what was read of the body, in one write.
  piece.Set(head_, x.body, chunked, chunked && client_.body_done());
  if (!co_await WriteUpstream(upstream, piece.buffers, already)) {
    co_return Sent::kUpstreamFailed;
  }
  while (!client_.body_done()) {
    const BodyPiece body = co_await client_.NextBodyPiece();
    if (body.status == BodyPiece::Status::kDone) {
      if (chunked) {
        piece.Set({}, {}, true, true);
        if (!co_await WriteUpstream(upstream, piece.buffers)) {
          co_return Sent::kUpstreamFailed;
        }
      }
      break;
    }
    if (body.status != BodyPiece::Status::kData) {
      SetBodyFailure(body, x);
      co_return Sent::kClientFailed;
    }
    piece.Set({}, body.data, chunked, false);
    const bool written = co_await WriteUpstream(upstream, piece.buffers);
    client_.Consume(body.consume);
    if (!written) co_return Sent::kUpstreamFailed;
  }
  co_return Sent::kOk;
}

asio::awaitable<UpstreamExchange::HeadResult>
UpstreamExchange::ReadResponseHead(UpstreamConnection& upstream,
                                   Clock::time_point until) {
  HttpError error;
  for (;;) {
    const HeadParse parsed =
        ParseResponseHead(View(upstream.buffer), &response_, &error);
    if (parsed == HeadParse::kComplete) co_return HeadResult::kOk;
    if (parsed == HeadParse::kError ||
        upstream.buffer.size() > kMaxResponseHeadBytes) {
      co_return HeadResult::kBad;
    }
    boost::system::error_code ec;
    Deadline& deadline = client_.deadline();
    deadline.Arm(&upstream.socket, until);
    const size_t n = co_await upstream.socket.async_read_some(
        upstream.buffer.prepare(kChunkBytes),
        asio::redirect_error(asio::use_awaitable, ec));
    deadline.Disarm();
    if (ec)
      co_return deadline.fired ? HeadResult::kTimeout : HeadResult::kBroken;
    if (n < kChunkBytes) MarkDrained(upstream.socket);
    upstream.buffer.commit(n);
  }
}

asio::awaitable<bool> UpstreamExchange::RelayInterim(
    Exchange& x, UpstreamConnection& upstream) {
  while (response_.status < 200 && response_.status != 101) {
    if (x.version == 11) {
      BuildClientHead(response_, 11, OutFraming(), false, true, {},
                      &response_head_);
      if (!co_await client_.Write(response_head_)) co_return false;
    }
    upstream.buffer.consume(response_.head_bytes);
    const HeadResult next =
        co_await ReadResponseHead(upstream, Clock::now() + upstream_timeout());
    if (next != HeadResult::kOk) co_return false;
  }
  co_return true;
}

asio::awaitable<UpstreamExchange::Outcome> UpstreamExchange::Exported(
    Exchange& x) {
  TANDEM_LOG(Info, "customer_exported")
      .With("system", Label(x.backend))
      .With("customer_id", x.resolution.customer_id)
      .With("replayable", x.replayable());
  if (x.replayable() && x.resolution.customer_id > 0) {
    x.exported_from = x.backend;
    co_return Outcome::kExported;
  }
  // Not sent again: the client retries after a pause rather than seeing the
  // system's internal refusal.
  pipeline_.metrics->CountExportedReplay(
      x.resolution.customer_id > 0 ? "not_replayable" : "unknown_customer");
  x.record.outcome = "exported_not_replayable";
  SetMaintenanceReply(x.wants_html, pipeline_.options.retry_after_seconds,
                      &x.reply);
  co_return Outcome::kReply;
}

}  // namespace tandem::proxy
