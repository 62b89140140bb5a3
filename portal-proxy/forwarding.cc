#include "portal-proxy/forwarding.h"

#include "absl/strings/str_cat.h"
#include "portal-proxy/local_reply.h"

namespace tandem::proxy {
namespace {

// Debian's Abseil has its own string_view, which StrCat wants.
absl::string_view AV(std::string_view s) { return {s.data(), s.size()}; }

bool IsTandemHeader(std::string_view name) {
  return name.size() >= 9 && EqualsIgnoreCase(name.substr(0, 9), "x-tandem-");
}

// Dropped in both directions (by length first: one comparison for most
// fields).
bool IsHopByHop(std::string_view name, bool upgrade) {
  switch (name.size()) {
    case 2:
      return EqualsIgnoreCase(name, "te");
    case 7:
      return EqualsIgnoreCase(name, "trailer") ||
             (!upgrade && EqualsIgnoreCase(name, "upgrade"));
    case 10:
      return EqualsIgnoreCase(name, "connection") ||
             EqualsIgnoreCase(name, "keep-alive");
    case 14:
      return EqualsIgnoreCase(name, "content-length");
    case 16:
      return EqualsIgnoreCase(name, "proxy-connection");
    case 17:
      return EqualsIgnoreCase(name, "transfer-encoding");
    case 27:
      return EqualsIgnoreCase(name, "x-billing-customer-exported");
    default:
      return false;
  }
}

void AppendField(const HeaderField& field, std::string* out) {
  out->append(field.name);
  out->append(": ", 2);
  out->append(field.value);
  out->append("\r\n", 2);
}

}  // namespace

bool IsDroppedRequestField(std::string_view name, bool upgrade) {
  if (IsHopByHop(name, upgrade) || IsTandemHeader(name)) return true;
  switch (name.size()) {
    case 4:
      return EqualsIgnoreCase(name, "host");
    case 6:
      return EqualsIgnoreCase(name, "expect");
    case 9:
      return EqualsIgnoreCase(name, "forwarded") ||
             EqualsIgnoreCase(name, "x-real-ip");
    case 15:
      return EqualsIgnoreCase(name, "x-forwarded-for");
    case 16:
      return EqualsIgnoreCase(name, "x-forwarded-host");
    case 17:
      return EqualsIgnoreCase(name, "x-forwarded-proto");
    case 19:
      return EqualsIgnoreCase(name, "proxy-authorization");
    default:
      return false;
  }
}

bool IsDroppedResponseField(std::string_view name, bool switching) {
  return IsHopByHop(name, switching) || IsTandemHeader(name);
}

bool ListedInConnection(const HeadCommon& head, std::string_view name) {
  if (!head.connection_lists_fields) return false;
  for (size_t i = 0; i < head.field_count; ++i) {
    const HeaderField& field = head.fields[i];
    if (!EqualsIgnoreCase(field.name, "connection")) continue;
    const bool complete =
        ForEachListElement(field.value, [name](std::string_view token) {
          return !EqualsIgnoreCase(token, name);
        });
    if (!complete) return true;
  }
  return false;
}

void AppendForwardedRequestFields(const RequestHead& head, bool upgrade,
                                  std::string* out) {
  for (size_t i = 0; i < head.field_count; ++i) {
    const HeaderField& field = head.fields[i];
    if (IsDroppedRequestField(field.name, upgrade) ||
        ListedInConnection(head, field.name)) {
      continue;
    }
    AppendField(field, out);
  }
}

void BuildUpstreamHead(const Exchange& exchange, OutFraming framing,
                       std::string_view peer, std::string_view forwarded_proto,
                       std::string* out) {
  out->clear();
  out->append(exchange.method);
  out->push_back(' ');
  out->append(exchange.target.target);
  out->append(" HTTP/1.1\r\nHost: ");
  out->append(exchange.host);
  out->append("\r\n");
  out->append(exchange.forwarded_fields);
  switch (framing.kind) {
    case OutFraming::Kind::kLength:
      absl::StrAppend(out, "Content-Length: ", framing.length, "\r\n");
      break;
    case OutFraming::Kind::kChunked:
      out->append("Transfer-Encoding: chunked\r\n");
      break;
    case OutFraming::Kind::kNone:
      break;
  }
  if (exchange.upgrade) out->append("Connection: upgrade\r\n");
  const Resolution& resolution = exchange.resolution;
  absl::StrAppend(out, "X-Forwarded-For: ", AV(peer),
                  "\r\nX-Forwarded-Proto: ", AV(forwarded_proto),
                  "\r\nX-Tandem-System: ", Label(exchange.backend),
                  "\r\nX-Tandem-Route-Version: ",
                  resolution.route ? resolution.route->version : 0, "\r\n");
  if (resolution.customer_id > 0) {
    absl::StrAppend(out, "X-Tandem-Customer-Id: ", resolution.customer_id,
                    "\r\n");
  }
  out->append("\r\n");
}

void BuildClientHead(const ResponseHead& response, int client_version,
                     OutFraming framing, bool switching, bool keep_alive,
                     std::string_view extra, std::string* out) {
  out->clear();
  out->append(client_version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  absl::StrAppend(out, response.status, " ");
  out->append(response.reason.empty()
                  ? std::string_view(ReasonPhrase(response.status))
                  : response.reason);
  out->append("\r\n");
  for (size_t i = 0; i < response.field_count; ++i) {
    const HeaderField& field = response.fields[i];
    if (IsDroppedResponseField(field.name, switching) ||
        ListedInConnection(response, field.name)) {
      continue;
    }
    AppendField(field, out);
  }
  switch (framing.kind) {
    case OutFraming::Kind::kLength:
      absl::StrAppend(out, "Content-Length: ", framing.length, "\r\n");
      break;
    case OutFraming::Kind::kChunked:
      out->append("Transfer-Encoding: chunked\r\n");
      break;
    case OutFraming::Kind::kNone:
      break;
  }
  out->append(extra);
  if (switching) {
    out->append("Connection: upgrade\r\n");
  } else if (!keep_alive) {
    out->append("Connection: close\r\n");
  } else if (client_version == 10) {
    out->append("Connection: keep-alive\r\n");
  }
  out->append("\r\n");
}

}  // namespace tandem::proxy
