// The first stage of the pipeline: parses a request head from the
// connection's buffer into the Exchange, with every check that decides
// whether the proxy can judge the request at all (http_head.h,
// request_framing.h, path_normalizer.h), and the header fields that go
// upstream. A request carrying an identity-bearing header twice (Cookie,
// Authorization, Content-Type) is refused: the proxy and a backend could
// read different ones.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "portal-proxy/exchange.h"
#include "portal-proxy/http_head.h"

namespace tandem::proxy {

struct RequestLimits {
  uint32_t max_header_bytes = 8 * 1024;
  uint64_t max_body_bytes = 64ull << 20;
  // The request header naming the administrator behind a product change.
  std::string admin_identity_header = "X-Admin-User";
};

// Parses the request at the start of `data` into `exchange`, with `head` as
// working space (it is large; it lives with the connection). kComplete:
// the head was `*head_bytes` bytes. kIncomplete: no complete head yet (the
// caller refuses with 431 once `data` is over the limit). kError:
// `exchange.reply` holds the answer (and closes the connection).
HeadParse ParseRequest(std::string_view data, const RequestLimits& limits,
                       RequestHead* head, Exchange* exchange,
                       size_t* head_bytes);

}  // namespace tandem::proxy
