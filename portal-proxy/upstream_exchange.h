// The upstream half of the pipeline: pick the upstream connection, forward
// the request, relay the response.
//
//   - The request goes to Exchange::backend's pool: an idle kept-alive
//     connection, or a new one; once more on a fresh connection when a
//     reused one turns out closed before any answer and the request can be
//     sent again (Exchange::replayable).
//   - A body up to ProxyOptions::max_replay_body_bytes is read whole first
//     and sent with Content-Length; a larger one streams in the framing it
//     came in (decoded and re-framed: the proxy forwards what it parsed).
//   - The answer is relayed with its framing re-made for the client (length,
//     chunked, or up to the close; HTTP/1.0 clients get chunked bodies
//     de-chunked), interim 1xx answers passed to HTTP/1.1 clients, an
//     Upgrade tunnelled.
//   - A 409 carrying `X-Billing-Customer-Exported` (the customer has left
//     that system) is never relayed: a replayable request goes back to the
//     hold stage (kExported) and is sent again where the route then points;
//     any other gets 503 with Retry-After. The header is dropped from every
//     answer.
// Failures become answers the connection writes (kReply): 502 (backend
// unreachable or broken), 504 (no answer in time), and the client's own
// 400/408/413 when its body breaks off.
#pragma once

// clang-format off
#include <utility>
// clang-format on

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "portal-proxy/chunked_decoder.h"
#include "portal-proxy/client_stream.h"
#include "portal-proxy/exchange.h"
#include "portal-proxy/forwarding.h"
#include "portal-proxy/pipeline.h"

namespace tandem::proxy {

class UpstreamExchange {
 public:
  using Clock = std::chrono::steady_clock;

  enum class Outcome {
    // The answer was relayed; the client connection may take the next
    // request.
    kKeepAlive,
    // The answer was relayed (or the client is gone); close.
    kClose,
    // Exchange::reply holds the answer to write.
    kReply,
    // The system answered that the customer left it: hold and send again
    // (Exchange::exported_from is set).
    kExported,
  };

  UpstreamExchange(Pipeline& pipeline, Worker& worker, ClientStream& client)
      : pipeline_(pipeline), worker_(worker), client_(client) {}

  boost::asio::awaitable<Outcome> Forward(Exchange& exchange);

 private:
  enum class Sent { kOk, kUpstreamFailed, kClientFailed };
  enum class HeadResult { kOk, kBad, kTimeout, kBroken };

  // Reads ahead the part of the body a replay needs; false with the reply
  // set when the client's body failed.
  boost::asio::awaitable<bool> ReadAhead(Exchange& exchange);
  // Sends the request from its `already` sent first bytes on.
  boost::asio::awaitable<Sent> SendRequest(Exchange& exchange,
                                           UpstreamConnection& upstream,
                                           OutFraming framing, size_t already);
  // The common request, its body (if any) all read: writes what the socket
  // takes of head and body now, without a coroutine frame; returns the
  // bytes written, with `*complete` when that was all.
  size_t WriteWholeNow(const Exchange& exchange, UpstreamConnection& upstream,
                       OutFraming framing, bool* complete, bool* failed);
  boost::asio::awaitable<HeadResult> ReadResponseHead(
      UpstreamConnection& upstream, Clock::time_point until);
  boost::asio::awaitable<Outcome> Relay(
      Exchange& exchange, std::unique_ptr<UpstreamConnection> upstream);
  // Passes interim (1xx, not 101) answers on; false when the next head
  // could not be read.
  boost::asio::awaitable<bool> RelayInterim(Exchange& exchange,
                                            UpstreamConnection& upstream);
  boost::asio::awaitable<Outcome> Exported(Exchange& exchange);
  // The response bodies, after the head in `response_head_`.
  boost::asio::awaitable<bool> RelayLength(UpstreamConnection& upstream,
                                           uint64_t length);
  boost::asio::awaitable<bool> RelayChunked(UpstreamConnection& upstream,
                                            bool dechunk);
  boost::asio::awaitable<bool> RelayUntilClose(UpstreamConnection& upstream);
  // Reads more of the response within the upstream timeout (an error code:
  // eof at the end of the stream).
  boost::asio::awaitable<boost::system::error_code> ReadUpstream(
      UpstreamConnection& upstream, size_t at_most);
  // Builds the head the client gets for `response_` into `response_head_`:
  // its framing as relayed (`dechunk`: chunks passed on as a plain body to
  // an HTTP/1.0 client), the route's headers and, when the resolution asks
  // for one, a fresh routing cookie.
  void BuildResponseHead(const Exchange& exchange, const BodyFraming& framing,
                         bool until_close, bool dechunk, bool switching,
                         bool keep_alive);
  // Appends the Set-Cookie line of a fresh routing cookie for `route`.
  void AppendRoutingCookie(const RouteInfo& route);
  // Writes `data` but its first `skip` bytes to the upstream within the
  // upstream timeout.
  template <typename ConstBufferSequence>
  boost::asio::awaitable<bool> WriteUpstream(UpstreamConnection& upstream,
                                             const ConstBufferSequence& data,
                                             size_t skip = 0);
  void Fail(Exchange& exchange, int status, const char* outcome,
            const char* message);
  Clock::duration upstream_timeout() const;

  Pipeline& pipeline_;
  Worker& worker_;
  ClientStream& client_;
  // Reused from request to request.
  std::string head_;
  std::string response_head_;
  std::string extra_;
  ResponseHead response_;
  ChunkedDecoder decoder_;
  // Why a relay broke off (a literal, for the access log).
  const char* failure_ = "ok";
};

}  // namespace tandem::proxy
