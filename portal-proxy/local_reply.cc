#include "portal-proxy/local_reply.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace tandem::proxy {

const char* ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Entity";
    case 423:
      return "Locked";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "";
  }
}

std::string JsonSafe(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      c = '\'';
    }
  }
  return out;
}

void SetErrorReply(int status, std::string_view message, LocalReply* reply) {
  reply->status = status;
  reply->content_type = "application/json";
  reply->body =
      absl::StrCat("{\"error\":\"", absl::AsciiStrToLower(ReasonPhrase(status)),
                   "\",\"message\":\"", JsonSafe(message), "\"}\n");
}

void SetClientError(const HttpError& error, LocalReply* reply) {
  SetErrorReply(error.status, error.message, reply);
  reply->client_error = error.reason;
  reply->close = true;
}

void SetMaintenanceReply(bool html, int retry_after_seconds,
                         LocalReply* reply) {
  reply->status = 503;
  reply->retry_after = retry_after_seconds;
  if (html) {
    reply->content_type = "text/html; charset=utf-8";
    reply->body = absl::StrCat(
        "<!doctype html><html><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"refresh\" content=\"",
        retry_after_seconds,
        "\"><title>Short maintenance</title></head><body>"
        "<h1>We are upgrading your account</h1>"
        "<p>This takes a moment. The page reloads by itself in ",
        retry_after_seconds, " seconds.</p></body></html>\n");
  } else {
    reply->content_type = "application/json";
    reply->body = absl::StrCat(
        "{\"error\":\"maintenance\",\"message\":\"the account is being "
        "upgraded; retry shortly\",\"retry_after_seconds\":",
        retry_after_seconds, "}\n");
  }
}

void SerializeReply(const LocalReply& reply, int version, bool keep_alive,
                    std::string* out) {
  out->clear();
  absl::StrAppend(out, version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ", reply.status,
                  " ", ReasonPhrase(reply.status),
                  "\r\nServer: tandem-portal-proxy\r\nContent-Type: ",
                  reply.content_type, "\r\nCache-Control: no-store\r\n");
  if (reply.retry_after > 0) {
    absl::StrAppend(out, "Retry-After: ", reply.retry_after, "\r\n");
  }
  absl::StrAppend(out, reply.extra_headers,
                  "Content-Length: ", reply.body.size(), "\r\n");
  if (!keep_alive) {
    out->append("Connection: close\r\n");
  } else if (version == 10) {
    out->append("Connection: keep-alive\r\n");
  }
  out->append("\r\n");
  out->append(reply.body);
}

}  // namespace tandem::proxy
