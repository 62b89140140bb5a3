// A blocking HTTP/1.1 client with one keep-alive connection, for the
// traffic generator and the tests. Not thread-safe: one per thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tandem::testbed {

struct ClientResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // The first header called `name` (case-insensitive), or "".
  std::string Header(absl::string_view name) const;
};

class HttpClient {
 public:
  // Connects lazily to host:port.
  HttpClient(std::string host, int port,
             absl::Duration timeout = absl::Seconds(10));
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request on the kept-alive connection (opening one if
  // needed; retrying once on a fresh connection if a kept-alive one turned
  // out closed before anything was read). UNAVAILABLE on connection
  // failures, DEADLINE_EXCEEDED on timeout. Adds Host and Content-Length.
  absl::StatusOr<ClientResponse> Send(
      absl::string_view method, absl::string_view target,
      const std::vector<std::pair<std::string, std::string>>& headers = {},
      absl::string_view body = "");

  // Connections opened so far (a keep-alive check for tests).
  int connects() const { return connects_; }

  // Closes the connection; the next Send opens a new one.
  void Close();

 private:
  struct Conn;
  std::string host_;
  int port_;
  absl::Duration timeout_;
  std::unique_ptr<Conn> conn_;
  int connects_ = 0;
};

}  // namespace tandem::testbed
