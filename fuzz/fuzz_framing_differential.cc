// Differential: the proxy's view of a request's framing against an
// independent parser's (Boost.Beast's request_parser). Request smuggling
// lives where two parsers disagree on where a request ends. For every input
// the proxy accepts as one complete request (head, framing, body), Beast
// must accept it too, as the same method, target and version, with the same
// body, ending at the same byte. (The proxy refusing what Beast accepts is
// fine: the proxy is the stricter one by design.)
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "portal-proxy/chunked_decoder.h"
#include "portal-proxy/http_head.h"
#include "portal-proxy/request_framing.h"

namespace {

namespace http = boost::beast::http;
using namespace tandem::proxy;

constexpr uint64_t kMaxBody = 1 << 16;

struct View {
  std::string method;
  std::string target;
  int version = 0;
  std::string body;
  size_t end = 0;
};

// The proxy's view; false unless one complete request is accepted.
bool ProxyView(std::string_view in, View* out) {
  RequestHead head;
  HttpError error;
  if (ParseRequestHead(in, &head, &error) != HeadParse::kComplete) return false;
  BodyFraming framing;
  if (!DecideRequestFraming(head, kMaxBody, &framing, &error)) return false;
  out->method = std::string(head.method);
  out->target = std::string(head.target);
  out->version = head.version;
  const std::string_view rest = in.substr(head.head_bytes);
  switch (framing.kind) {
    case BodyFraming::Kind::kNone:
      out->end = head.head_bytes;
      return true;
    case BodyFraming::Kind::kLength:
      if (rest.size() < framing.length) return false;
      out->body = std::string(rest.substr(0, framing.length));
      out->end = head.head_bytes + framing.length;
      return true;
    case BodyFraming::Kind::kChunked: {
      ChunkedDecoder decoder(kMaxBody);
      size_t at = 0;
      for (;;) {
        const ChunkedDecoder::Step s = decoder.Next(rest.substr(at));
        at += s.consumed;
        if (s.status == ChunkedDecoder::Status::kData) {
          out->body.append(s.data);
        } else if (s.status == ChunkedDecoder::Status::kDone) {
          out->end = head.head_bytes + at;
          return true;
        } else {
          return false;
        }
      }
    }
  }
  return false;
}

// Beast's view of the same bytes.
bool BeastView(std::string_view in, View* out) {
  http::request_parser<http::string_body> parser;
  parser.eager(true);
  parser.header_limit(1 << 20);
  parser.body_limit(kMaxBody);
  boost::system::error_code ec;
  size_t used = 0;
  while (!parser.is_done()) {
    const size_t n =
        parser.put(boost::asio::buffer(in.data() + used, in.size() - used), ec);
    used += n;
    if (ec == http::error::need_more) {
      if (used == in.size()) return false;
      ec = {};
      if (n == 0) return false;
      continue;
    }
    if (ec) return false;
    if (n == 0 && !parser.is_done()) return false;
  }
  const auto& request = parser.get();
  out->method = std::string(request.method_string());
  out->target = std::string(request.target());
  out->version = static_cast<int>(request.version());
  out->body = request.body();
  out->end = used;
  return true;
}

void Disagree(const char* what, std::string_view in) {
  std::fprintf(stderr, "proxy and beast disagree on %s\n", what);
  std::abort();
  (void)in;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  View proxy;
  if (!ProxyView(in, &proxy)) return 0;
  // Up to four empty lines before a request line are skipped by the proxy
  // (RFC 9112 §2.2) and never forwarded; Beast does not skip them.
  size_t skip = 0;
  while (in.substr(skip, 2) == "\r\n") skip += 2;
  View beast;
  if (!BeastView(in.substr(skip), &beast)) Disagree("acceptance", in);
  beast.end += skip;
  if (proxy.method != beast.method) Disagree("the method", in);
  if (proxy.target != beast.target) Disagree("the target", in);
  if (proxy.version != beast.version) Disagree("the version", in);
  if (proxy.body != beast.body) Disagree("the body", in);
  if (proxy.end != beast.end) Disagree("where the request ends", in);
  return 0;
}
