// A lenient backend that records the exact bytes the proxy sends it, so that
// tests assert framing on the wire. It reads requests the way a careless
// server would (any Transfer-Encoding containing "chunked" is chunked, the
// size line's hex digits up to the first other character, otherwise
// Content-Length), so that a request the proxy let through with ambiguous
// framing shows up here as a second, smuggled request.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace tandem::proxy::testing {

class RecordingBackend {
 public:
  // Listens on 127.0.0.1 at a free port and serves until destroyed.
  static std::unique_ptr<RecordingBackend> Start();
  ~RecordingBackend();

  int port() const { return port_; }
  std::string address() const;

  // The raw bytes of each request as the backend split them (head and
  // body), in arrival order.
  std::vector<std::string> requests() const;
  // Every byte received, over all connections.
  std::string received() const;
  // The raw answer to every later request (default: 200 with body "ok").
  void SetResponse(std::string raw);

 private:
  RecordingBackend() = default;
  void AcceptLoop();
  void Serve(int fd);
  // Splits complete requests off `pending`; false when the bytes cannot be
  // framed even leniently.
  bool TakeRequests(std::string* pending, int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable absl::Mutex mu_;
  std::vector<std::string> requests_;
  std::string received_;
  std::string response_ =
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n"
      "\r\nok";
  std::vector<int> open_fds_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace tandem::proxy::testing
