// The portal-proxy's HTTP/1.1 front: accepts client connections on N I/O
// threads (one io_context per thread, one SO_REUSEPORT acceptor per
// thread) and runs each request through the pipeline (stage.h): parse the
// head, identify the customer, hold while the customer cuts over, the
// catalog freeze, pick the upstream, forward, relay the response; over
// per-thread keep-alive upstream pools.
//
// Status codes the proxy produces itself: 400 malformed request (or
// credentials of two customers), 401 a credential the proxy cannot place,
// 408 slow client (head or body), 413 body larger than the limit, 423
// refused by the catalog freeze, 431 request head larger than the limit,
// 501 unsupported transfer coding or CONNECT, 502 backend unreachable or
// broken response, 503 held past the hold timeout or hold capacity
// exhausted (with Retry-After and a short maintenance page, HTML or JSON by
// the client's Accept), 504 backend did not answer in time, 505 an HTTP
// version other than 1.0 and 1.1.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "portal-proxy/change_checker.h"
#include "portal-proxy/customer_resolver.h"
#include "portal-proxy/freeze_policy.h"
#include "portal-proxy/hold_queue.h"
#include "portal-proxy/route_source.h"
#include "portal-proxy/routing_cookie.h"
#include "prometheus/registry.h"

namespace tandem::proxy {

struct ProxyOptions {
  // host:port to listen on; port 0 picks a free one.
  std::string listen = "0.0.0.0:8080";
  int io_threads = 2;
  // host:port of each billing system's portal/API backend.
  std::string source_backend;
  std::string target_backend;

  // Holding during a customer's cutover.
  absl::Duration hold_timeout = absl::Seconds(10);
  int retry_after_seconds = 5;
  HoldOptions hold;

  // Limits.
  uint32_t max_header_bytes = 8 * 1024;
  uint64_t max_body_bytes = 64ull << 20;
  // Request bodies up to this size are read whole before they are sent
  // upstream, so that the request can be sent again (to another system
  // after a "customer exported" answer, or on a fresh connection); larger
  // ones are streamed.
  size_t max_replay_body_bytes = 64 * 1024;
  // A request head must arrive within this long of the connection's last
  // activity: 408 when part of it came, a silent close otherwise.
  absl::Duration client_header_timeout = absl::Seconds(10);
  // The gap allowed between two pieces of a request body (408 after it),
  // and for each write to the client.
  absl::Duration client_body_timeout = absl::Seconds(30);
  absl::Duration upstream_connect_timeout = absl::Seconds(2);
  // The time allowed for the backend's response head (504 after it), and
  // between two pieces of its response body.
  absl::Duration upstream_response_timeout = absl::Seconds(30);
  int upstream_max_idle_per_thread = 256;

  // Routing cookie attributes.
  bool cookie_secure = false;
  // X-Forwarded-Proto sent upstream.
  std::string forwarded_proto = "http";

  // Every Nth request is access-logged: 1 logs all, 0 none.
  int access_log_every = 1;

  // The longest wait for the catalog's CheckChange answer; past it the
  // change is refused (423), failing closed.
  absl::Duration catalog_check_timeout = absl::Seconds(1);
  // A request header naming the billing administrator behind a product
  // change (set by an SSO gateway in front of the proxy), passed to the
  // catalog as `on_behalf_of`. Without it, the user of Basic credentials, or
  // a fingerprint of a bearer token, stands in.
  std::string admin_identity_header = "X-Admin-User";

  ResolverOptions resolver;
  ProductAdminApi product_admin;
};

// What the front needs from the rest of the process; none owned, all must
// outlive the front.
struct ProxyDeps {
  const RouteSource* routes = nullptr;
  const RoutingCookie* cookie = nullptr;
  const FreezePolicy* freeze = nullptr;
  // Asked about each product change while `freeze` is neither OPEN nor
  // LIFTED. May be null: `freeze` then decides alone (a static freeze state
  // for demos and tests).
  ChangeChecker* checker = nullptr;
  prometheus::Registry* registry = nullptr;  // may be null
  // Signs routing cookies and decides their expiry; null: Clock::Real().
  Clock* clock = nullptr;
};

// What the admin service (admin_service.h) reads and drives.
class ProxyControl {
 public:
  virtual ~ProxyControl() = default;
  virtual const HoldQueue& hold_queue() const = 0;
  virtual int64_t in_flight() const = 0;
  virtual bool draining() const = 0;
  // See HttpFront::Drain.
  virtual bool Drain(absl::Duration grace) = 0;
  // One billing system's upstream pools, summed over the I/O threads.
  struct UpstreamInfo {
    System system = ::tandem::common::v1::SYSTEM_UNSPECIFIED;
    std::string address;
    int64_t idle_connections = 0;
    int64_t busy_connections = 0;
    int64_t connections_opened = 0;
    int64_t requests = 0;
  };
  virtual std::vector<UpstreamInfo> Upstreams() const = 0;
};

class HttpFront final : public ProxyControl {
 public:
  // Binds, starts the I/O threads and returns. INVALID_ARGUMENT for a bad
  // address or backend or missing deps, UNAVAILABLE when the port cannot be
  // bound.
  static absl::StatusOr<std::unique_ptr<HttpFront>> Start(ProxyOptions options,
                                                          ProxyDeps deps);

  // Shuts down with a zero grace if Shutdown was not called.
  ~HttpFront() override;

  int port() const { return port_; }

  // Where the route cache's listener goes: wakes held requests on a change.
  HoldQueue& hold_queue() { return *holds_; }
  const HoldQueue& hold_queue() const override { return *holds_; }

  // Requests being handled (including held ones).
  int64_t in_flight() const override { return in_flight_.load(); }

  // Stops accepting, lets requests in flight and held requests finish (keep
  // alive is turned off) for up to `grace`, then closes everything and joins
  // the I/O threads. Idempotent.
  void Shutdown(absl::Duration grace);

  bool draining() const override { return draining_.load(); }

  // Starts draining before maintenance: keep-alive is turned off at once
  // (each connection closes after its current response), and the listening
  // sockets close after `grace`, so load balancers that noticed the health
  // change first lose nothing. Requests in flight and held requests finish.
  // Idempotent: returns false when the front was draining already.
  bool Drain(absl::Duration grace) override;

  // Safe from any thread.
  std::vector<UpstreamInfo> Upstreams() const override;

  struct Impl;

 private:
  HttpFront() = default;

  std::unique_ptr<Impl> impl_;
  std::unique_ptr<HoldQueue> holds_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<bool> draining_{false};
  bool shut_down_ = false;
  int port_ = 0;
};

}  // namespace tandem::proxy
