// After a 101 Switching Protocols: copies bytes both ways between the
// client and the backend until either side is done (WebSocket and other
// upgrades). No deadlines: an upgraded connection may idle for long.
#pragma once

// clang-format off
#include <utility>
// clang-format on

#include <boost/asio/awaitable.hpp>

#include "portal-proxy/client_stream.h"
#include "portal-proxy/upstream_pool.h"

namespace tandem::proxy {

boost::asio::awaitable<void> Tunnel(ClientStream& client,
                                    UpstreamConnection& upstream);

}  // namespace tandem::proxy
