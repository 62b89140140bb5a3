// UpstreamExchange's second half: relaying the response (its head and its
// body in whichever framing it came) back to the client.
#include <array>
#include <boost/asio/buffer.hpp>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "portal-proxy/tunnel.h"
#include "portal-proxy/upstream_exchange.h"

namespace tandem::proxy {

namespace asio = boost::asio;

namespace {

constexpr size_t kChunkBytes = 16 * 1024;

std::string_view View(const boost::beast::flat_buffer& buffer) {
  return {static_cast<const char*>(buffer.data().data()), buffer.size()};
}

bool IsExportedAnswer(const ResponseHead& response) {
  return response.status == 409 &&
         !response.Find("x-billing-customer-exported").empty();
}

}  // namespace

void UpstreamExchange::AppendRoutingCookie(const RouteInfo& route) {
  const RoutingCookie& cookie = *pipeline_.deps.cookie;
  absl::StrAppend(&extra_,
                  "Set-Cookie: ", pipeline_.options.resolver.cookie_name, "=",
                  cookie.Sign(route.customer_id, route.system, route.version,
                              pipeline_.clock().Now()),
                  "; Path=/; Max-Age=", absl::ToInt64Seconds(cookie.lifetime()),
                  "; HttpOnly; SameSite=Lax",
                  pipeline_.options.cookie_secure ? "; Secure" : "", "\r\n");
}

void UpstreamExchange::BuildResponseHead(const Exchange& x,
                                         const BodyFraming& framing,
                                         bool until_close, bool dechunk,
                                         bool switching, bool keep_alive) {
  OutFraming out;
  uint64_t length = 0;
  if (framing.kind == BodyFraming::Kind::kLength) {
    out = OutFraming{OutFraming::Kind::kLength, framing.length};
  } else if (framing.kind == BodyFraming::Kind::kChunked) {
    out.kind = dechunk ? OutFraming::Kind::kNone : OutFraming::Kind::kChunked;
  } else if (!until_close && response_.content_length_count == 1 &&
             ParseContentLength(response_.content_length, &length)) {
    // HEAD and 304: the length of what a GET would get, without a body.
    out = OutFraming{OutFraming::Kind::kLength, length};
  }
  extra_.clear();
  absl::StrAppend(&extra_, "X-Tandem-System: ", Label(x.backend),
                  "\r\nX-Tandem-Route-Version: ",
                  x.resolution.route ? x.resolution.route->version : 0, "\r\n");
  if (x.resolution.issue_cookie && response_.status < 400 &&
      x.resolution.route) {
    AppendRoutingCookie(*x.resolution.route);
  }
  BuildClientHead(response_, x.version, out, switching, keep_alive, extra_,
                  &response_head_);
}

asio::awaitable<UpstreamExchange::Outcome> UpstreamExchange::Relay(
    Exchange& x, std::unique_ptr<UpstreamConnection> upstream) {
  if (response_.status < 200 && response_.status != 101) {
    const bool relayed = co_await RelayInterim(x, *upstream);
    if (!relayed) {
      Fail(x, 502, "upstream_error", "the billing system failed");
      co_return Outcome::kReply;
    }
  }
  if (IsExportedAnswer(response_)) co_return co_await Exported(x);
  BodyFraming framing;
  bool until_close = false;
  const bool switching = response_.status == 101;
  if (!DecideResponseFraming(response_, x.head_request, &framing,
                             &until_close) ||
      (switching && !x.upgrade)) {
    Fail(x, 502, "upstream_error",
         "the billing system sent a malformed response");
    co_return Outcome::kReply;
  }
  const int status = response_.status;
  x.record.status = status;
  const bool dechunk =
      framing.kind == BodyFraming::Kind::kChunked && x.version == 10;
  const bool keep_alive = x.keep_alive && !pipeline_.draining() &&
                          client_.body_done() && !switching && !until_close &&
                          !dechunk;
  const bool upstream_keep_alive = response_.keep_alive();
  BuildResponseHead(x, framing, until_close, dechunk, switching, keep_alive);
  upstream->buffer.consume(response_.head_bytes);
  bool complete = false;
  failure_ = "client_gone";
  if (switching) {
    x.record.outcome = "upgraded";
    const bool written = co_await client_.Write(response_head_);
    if (written) co_await Tunnel(client_, *upstream);
    co_return Outcome::kClose;
  } else if (framing.kind == BodyFraming::Kind::kLength &&
             upstream->buffer.size() >= framing.length) {
    // The common answer: all of it came with the head. Written in place,
    // without a coroutine frame unless the socket takes only part.
    const std::array<asio::const_buffer, 2> whole = {
        asio::buffer(response_head_),
        asio::buffer(upstream->buffer.data().data(),
                     static_cast<size_t>(framing.length))};
    size_t sent = 0;
    bool failed = false;
    complete = client_.WriteNow(whole, &sent, &failed);
    if (!complete && !failed)
      complete = co_await client_.WriteRest(whole, sent);
    upstream->buffer.consume(static_cast<size_t>(framing.length));
  } else if (framing.kind == BodyFraming::Kind::kLength) {
    complete = co_await RelayLength(*upstream, framing.length);
  } else if (framing.kind == BodyFraming::Kind::kChunked) {
    complete = co_await RelayChunked(*upstream, dechunk);
  } else if (until_close) {
    complete = co_await RelayUntilClose(*upstream);
  } else {
    complete = co_await client_.Write(response_head_);
  }
  if (!complete) {
    x.record.outcome = failure_;
    co_return Outcome::kClose;
  }
  if (upstream_keep_alive && !until_close) {
    worker_.pools[Index(x.backend)]->Release(std::move(upstream));
  }
  co_return keep_alive ? Outcome::kKeepAlive : Outcome::kClose;
}

asio::awaitable<bool> UpstreamExchange::RelayLength(
    UpstreamConnection& upstream, uint64_t length) {
  // The head and as much of the body as came with it, in one write.
  const size_t in_buffer =
      static_cast<size_t>(std::min<uint64_t>(upstream.buffer.size(), length));
  const std::array<asio::const_buffer, 2> first = {
      asio::buffer(response_head_),
      asio::buffer(upstream.buffer.data().data(), in_buffer)};
  if (!co_await client_.WriteBuffers(first)) {
    failure_ = "client_gone";
    co_return false;
  }
  upstream.buffer.consume(in_buffer);
  for (uint64_t remaining = length - in_buffer; remaining > 0;) {
    const size_t asked =
        static_cast<size_t>(std::min<uint64_t>(remaining, kChunkBytes));
    const boost::system::error_code ec = co_await ReadUpstream(upstream, asked);
    if (ec) {
      failure_ = "upstream_broke_mid_response";
      co_return false;
    }
    const size_t n = upstream.buffer.size();
    const bool written = co_await client_.WriteBuffers(
        asio::const_buffer(upstream.buffer.data().data(), n));
    upstream.buffer.consume(n);
    if (!written) {
      failure_ = "client_gone";
      co_return false;
    }
    remaining -= n;
  }
  co_return true;
}

asio::awaitable<bool> UpstreamExchange::RelayChunked(
    UpstreamConnection& upstream, bool dechunk) {
  decoder_.Reset(~uint64_t{0});
  failure_ = "client_gone";
  if (!co_await client_.Write(response_head_)) co_return false;
  std::array<asio::const_buffer, 5> buffers;
  char size_line[24];
  for (;;) {
    const ChunkedDecoder::Step step = decoder_.Next(View(upstream.buffer));
    switch (step.status) {
      case ChunkedDecoder::Status::kData: {
        buffers.fill(asio::const_buffer());
        buffers[2] = asio::buffer(step.data.data(), step.data.size());
        if (!dechunk) {
          const int n = std::snprintf(size_line, sizeof(size_line), "%zx\r\n",
                                      step.data.size());
          buffers[1] = asio::buffer(size_line, static_cast<size_t>(n));
          buffers[3] = asio::buffer("\r\n", 2);
        }
        const bool written = co_await client_.WriteBuffers(buffers);
        upstream.buffer.consume(step.consumed);
        if (!written) co_return false;
        break;
      }
      case ChunkedDecoder::Status::kDone:
        upstream.buffer.consume(step.consumed);
        if (dechunk) co_return true;
        co_return co_await client_.Write("0\r\n\r\n");
      case ChunkedDecoder::Status::kNeedMore: {
        upstream.buffer.consume(step.consumed);
        const boost::system::error_code ec =
            co_await ReadUpstream(upstream, kChunkBytes);
        if (ec) {
          failure_ = "upstream_broke_mid_response";
          co_return false;
        }
        break;
      }
      case ChunkedDecoder::Status::kError:
        failure_ = "upstream_malformed_body";
        co_return false;
    }
  }
}

asio::awaitable<bool> UpstreamExchange::RelayUntilClose(
    UpstreamConnection& upstream) {
  const std::array<asio::const_buffer, 2> first = {
      asio::buffer(response_head_),
      asio::buffer(upstream.buffer.data().data(), upstream.buffer.size())};
  failure_ = "client_gone";
  if (!co_await client_.WriteBuffers(first)) co_return false;
  upstream.buffer.consume(upstream.buffer.size());
  for (;;) {
    const boost::system::error_code ec =
        co_await ReadUpstream(upstream, kChunkBytes);
    if (ec == asio::error::eof) co_return true;
    if (ec) {
      failure_ = "upstream_broke_mid_response";
      co_return false;
    }
    const size_t n = upstream.buffer.size();
    const bool written = co_await client_.WriteBuffers(
        asio::const_buffer(upstream.buffer.data().data(), n));
    upstream.buffer.consume(n);
    if (!written) co_return false;
  }
}

}  // namespace tandem::proxy
