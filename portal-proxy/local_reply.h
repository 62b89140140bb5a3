// The answers the proxy makes itself (errors, the maintenance page of a
// hold that timed out, the freeze's refusals), built as data by the stages
// and written by the connection. Bodies never carry internal details
// (addresses, gRPC errors): those go to the log.
#pragma once

#include <string>
#include <string_view>

#include "portal-proxy/http_head.h"

namespace tandem::proxy {

struct LocalReply {
  int status = 0;
  std::string content_type;
  std::string body;
  // Seconds; 0 for none.
  int retry_after = 0;
  // Whole header lines to add ("Name: value\r\n").
  std::string extra_headers;
  // The connection must close after this answer (whatever the client
  // asked), e.g. because the request's framing cannot be trusted.
  bool close = false;
  // The reason for tandem_proxy_client_errors_total, or null when the
  // answer is not a client error.
  const char* client_error = nullptr;

  void Clear() {
    status = 0;
    content_type.clear();
    body.clear();
    retry_after = 0;
    extra_headers.clear();
    close = false;
    client_error = nullptr;
  }
};

// The reason phrase of `status`, or "" for an unusual code.
const char* ReasonPhrase(int status);

// A JSON error: {"error":"<reason phrase, lower case>","message":"..."}.
void SetErrorReply(int status, std::string_view message, LocalReply* reply);

// The answer to a malformed or refused request: `error`'s status and
// message, counted as a client error, closing the connection.
void SetClientError(const HttpError& error, LocalReply* reply);

// The 503 of a hold that timed out (or could not be held): a page that
// reloads itself for browsers (`html`), JSON otherwise, with Retry-After.
void SetMaintenanceReply(bool html, int retry_after_seconds, LocalReply* reply);

// Writes `reply` as an HTTP/1.x response (`version` 10 or 11) into `out`;
// `keep_alive` adds the matching Connection header.
void SerializeReply(const LocalReply& reply, int version, bool keep_alive,
                    std::string* out);

// `text` with '"', '\' and control characters replaced, for a JSON string.
std::string JsonSafe(std::string_view text);

}  // namespace tandem::proxy
