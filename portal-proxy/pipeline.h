// The HTTP front's insides that every connection shares (http_front.h
// wires them): the options, the stages in chain order with their
// collaborators, the metrics, and each I/O thread's worker.
#pragma once

// clang-format off
#include <utility>
// clang-format on

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <thread>

#include "portal-proxy/backend.h"
#include "portal-proxy/customer_resolver.h"
#include "portal-proxy/deadline.h"
#include "portal-proxy/freeze_stage.h"
#include "portal-proxy/hold_stage.h"
#include "portal-proxy/http_front.h"
#include "portal-proxy/identify_stage.h"
#include "portal-proxy/proxy_metrics.h"
#include "portal-proxy/request_parser.h"
#include "portal-proxy/upstream_pool.h"

namespace tandem::proxy {

// One I/O thread: its io_context, acceptor, upstream pools and the
// deadlines of its connections. Touched only from its own thread, except
// where noted.
struct Worker {
  std::unique_ptr<boost::asio::io_context> ioc;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor;
  PerBackend<std::unique_ptr<UpstreamPool>> pools;
  DeadlineList deadlines;
  uint64_t requests = 0;  // for access-log sampling
  std::thread thread;     // started and joined by the front
};

struct Pipeline {
  ProxyOptions options;
  ProxyDeps deps;
  RequestLimits limits;
  std::unique_ptr<ProxyMetrics> metrics;
  std::unique_ptr<CustomerResolver> resolver;
  std::unique_ptr<IdentifyStage> identify;
  std::unique_ptr<HoldStage> hold;
  std::unique_ptr<FreezeStage> freeze;
  // The request-side stages in order; a request that a billing system sent
  // back ("customer exported") re-enters at kHoldStage.
  std::array<const Stage*, 3> chain = {};
  static constexpr size_t kHoldStage = 1;
  HoldQueue* holds = nullptr;
  std::atomic<int64_t>* in_flight = nullptr;
  const std::atomic<bool>* draining_flag = nullptr;
  // CheckChange answers not yet posted back to an I/O thread.
  std::atomic<int64_t> pending_checks{0};

  bool draining() const { return draining_flag->load(); }
  // deps.clock, or the real clock.
  Clock& clock() const {
    return deps.clock != nullptr ? *deps.clock : Clock::Real();
  }
};

}  // namespace tandem::proxy
