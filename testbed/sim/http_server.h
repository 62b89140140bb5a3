// A small HTTP/1.1 server on Boost.Beast: N I/O threads, keep-alive,
// request limits, and a worker pool for handlers that block (database
// calls). Cheap requests (as the caller defines them) are answered on the
// I/O thread without a hand-off.
//
// Every response carries `X-Billing-Version: <version>` and
// Content-Length. Protocol errors are answered precisely and the
// connection is then closed: 400 for a malformed request, 413 when the body
// exceeds body_limit, 431 when the header block exceeds header_limit.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "testbed/sim/http_types.h"

namespace tandem::testbed {

struct HttpServerOptions {
  std::string address = "0.0.0.0";
  int port = 0;  // 0 picks a free port
  int io_threads = 2;
  int worker_threads = 8;
  size_t body_limit = 1 << 20;
  size_t header_limit = 16 << 10;
  // A connection idle (or stalled mid-request) this long is closed.
  absl::Duration idle_timeout = absl::Seconds(60);
  // Value of the X-Billing-Version header.
  std::string version = "v1";
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  using Predicate = std::function<bool(const HttpRequest&)>;

  // Binds and starts serving. `handler` runs on a worker thread, except for
  // requests where `inline_ok` is true, which run on the I/O thread.
  // UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      HttpServerOptions options, Handler handler, Predicate inline_ok);

  // Stops accepting, closes connections and joins every thread.
  ~HttpServer();

  // The port actually bound.
  int port() const;

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::testbed
