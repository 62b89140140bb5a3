// What the proxy sends upstream and back: which of a message's header
// fields pass, and the heads it writes, with its own framing and
// forwarding headers. Pure functions over parsed heads and the Exchange.
//
// Never forwarded, in either direction: hop-by-hop fields (Connection,
// Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade
// outside an upgrade, and every field a Connection header names), the
// framing the proxy writes itself (Content-Length), X-Tandem-* (only the
// proxy sets those) and X-Billing-Customer-Exported (an internal signal of
// the billing systems). From clients also: Host (the proxy writes the one it
// judged), Expect (the proxy answers 100-continue itself),
// Proxy-Authorization, and the forwarding headers a client could forge:
// Forwarded, X-Forwarded-For, -Proto, -Host and X-Real-IP. The proxy sends
// its own X-Forwarded-For and X-Forwarded-Proto upstream.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "portal-proxy/exchange.h"
#include "portal-proxy/http_head.h"

namespace tandem::proxy {

// Whether a request field named `name` stays off the upstream request.
bool IsDroppedRequestField(std::string_view name, bool upgrade);

// Whether a response field named `name` stays off the client's response.
bool IsDroppedResponseField(std::string_view name, bool switching);

// Whether `name` is one of the field names `head`'s Connection fields list.
bool ListedInConnection(const HeadCommon& head, std::string_view name);

// Appends the request's fields that pass, as header lines, to `out`.
void AppendForwardedRequestFields(const RequestHead& head, bool upgrade,
                                  std::string* out);

// How a body goes out: with a length, chunked, or without framing (none,
// or delimited by the close of the connection).
struct OutFraming {
  enum class Kind { kNone, kLength, kChunked };
  Kind kind = Kind::kNone;
  uint64_t length = 0;
};

// The upstream request head for `exchange` going to `exchange.backend`:
// request line in origin-form, Host, the forwarded fields, `framing`, and
// the proxy's headers (X-Forwarded-For `peer`, X-Forwarded-Proto
// `forwarded_proto`, X-Tandem-System, -Route-Version, -Customer-Id).
void BuildUpstreamHead(const Exchange& exchange, OutFraming framing,
                       std::string_view peer, std::string_view forwarded_proto,
                       std::string* out);

// The client's response head for `response`: its status line in the
// client's HTTP version, the fields that pass, `framing`, then `extra`
// (whole header lines the proxy adds), and the Connection header that
// `keep_alive` (or an upgrade, `switching`) calls for.
void BuildClientHead(const ResponseHead& response, int client_version,
                     OutFraming framing, bool switching, bool keep_alive,
                     std::string_view extra, std::string* out);

}  // namespace tandem::proxy
