// A tiny billing backend for the proxy's tests, over real sockets.
//
// Every answer carries `X-Billing-Version: <version>` (v1 for the source, v2
// for the target) and, to check that the proxy replaces it, a lying
// `X-Tandem-System: backend`. The body echoes what arrived:
//
//   version: v1
//   method: POST
//   target: /path?query
//   header <lower-case name>: <value>      (one line per request header)
//   body-bytes: <n>
//   body-fnv: <FNV-1a of the body, hex>
//   body: <the first 256 bytes of the body>
//
// A write (any method but GET and HEAD) for a customer marked exported
// (MarkExported; the customer is named by X-Tandem-Customer-Id) is answered
// as the billing simulators answer a customer that moved away: 409
// {"error":"customer exported"} with `X-Billing-Customer-Exported: 1`
// (after the stall, for /stall paths).
//
// Special paths: `POST /login` sets `Set-Cookie: session=<login>`;
// `/download/<n>` answers n bytes made by DownloadByte instead; `/stall`
// waits until Unstall() (or shutdown) before answering; `/chunked` answers
// the echo with `Transfer-Encoding: chunked`, in three chunks; a request with
// `Upgrade:` gets `101 Switching Protocols` and then every byte is echoed
// back raw. Bodies are read in pieces, never whole, so large uploads can be
// counted without buffering them.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace tandem::proxy::testing {

class TestBackend {
 public:
  // Listens on 127.0.0.1 at a free port and serves until destroyed.
  static std::unique_ptr<TestBackend> Start(std::string version);
  ~TestBackend();

  int port() const { return port_; }
  std::string address() const;

  // Lets every stalled request answer, and later ones not stall.
  void Unstall();
  // Writes for `customer_id` are refused from now on (see above).
  void MarkExported(int64_t customer_id);
  // Requests refused as exported so far.
  int64_t exported_answers() const { return exported_answers_.load(); }
  // Requests waiting in /stall right now.
  int stalled() const { return stalled_.load(); }
  int64_t requests() const { return requests_.load(); }
  int64_t connections() const { return connections_.load(); }

 private:
  TestBackend() = default;
  void AcceptLoop();
  void Serve(int fd);

  std::string version_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> stalled_{0};
  std::atomic<int64_t> requests_{0};
  std::atomic<int64_t> connections_{0};
  std::atomic<int64_t> exported_answers_{0};
  absl::Mutex mu_;
  bool unstalled_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<int64_t> exported_ ABSL_GUARDED_BY(mu_);
  std::vector<int> open_fds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

// Byte `i` of every `/download/<n>` body.
inline char DownloadByte(uint64_t i) {
  return static_cast<char>('a' + (i * 7 + i / 4096) % 26);
}

// Parses the echo body into lines, keyed by everything before ": " (so
// "header x-forwarded-for" -> "127.0.0.1").
std::map<std::string, std::string> ParseEcho(const std::string& body);

}  // namespace tandem::proxy::testing
