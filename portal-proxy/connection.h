// One client connection: reads its requests one at a time, runs each
// through the pipeline's stages (stage.h), does the waiting a stage asks
// for (reading a login body, asking the catalog, holding the request), and
// hands what passes to the upstream exchange (upstream_exchange.h), which
// forwards it and relays the answer. A request a billing system sends back
// because the customer left it re-enters the chain at the hold stage.
#pragma once

// clang-format off
#include <utility>
// clang-format on

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <string>

#include "portal-proxy/client_stream.h"
#include "portal-proxy/exchange.h"
#include "portal-proxy/pipeline.h"
#include "portal-proxy/upstream_exchange.h"

namespace tandem::proxy {

class Connection {
 public:
  Connection(Pipeline& pipeline, Worker& worker,
             boost::asio::ip::tcp::socket socket);

  // Serves requests until the connection closes.
  boost::asio::awaitable<void> Run();

 private:
  enum class Next { kKeepAlive, kClose };
  enum class HeadRead { kComplete, kError, kClosed };
  enum class HoldWait { kWoken, kFull, kGone };

  // One request, from its head to the end of its answer.
  boost::asio::awaitable<Next> Serve();
  boost::asio::awaitable<HeadRead> ReadHead(size_t* head_bytes);
  // Runs the chain from stage `from`, then the upstream exchange.
  boost::asio::awaitable<Next> Process();
  // kReadBody: reads the body up to Exchange::body_wanted; false with the
  // reply set when it failed.
  boost::asio::awaitable<bool> ReadBodyForStage();
  // kAskCatalog: sets Exchange::catalog_answer.
  boost::asio::awaitable<void> AskCatalog();
  // kHold: waits for the customer's route to change, the hold deadline, or
  // the client to go away.
  boost::asio::awaitable<HoldWait> WaitForRoute();
  // Writes Exchange::reply (nothing when its status is 0: the client is
  // gone); drains an unread body first when the connection can stay.
  boost::asio::awaitable<Next> Reply();

  Pipeline& pipeline_;
  Worker& worker_;
  ClientStream client_;
  Exchange exchange_;
  // Working space of the head parser (large: not in a coroutine frame).
  RequestHead head_;
  std::string out_;
  UpstreamExchange upstream_;
  // Whether a held request still watches its client for a close (off once
  // the client has pipelined more bytes).
  bool watch_client_ = true;
};

// Sets `exchange.reply` for a request body that could not be read: 400 or
// 413 (malformed, too large), 408 (stalled), nothing (client gone).
void SetBodyFailure(const BodyPiece& failure, Exchange& exchange);

}  // namespace tandem::proxy
