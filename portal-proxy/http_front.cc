#include "portal-proxy/http_front.h"

#include <sys/socket.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "portal-proxy/connection.h"
#include "portal-proxy/pipeline.h"

namespace tandem::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct HttpFront::Impl {
  Pipeline pipeline;
  PerBackend<tcp::endpoint> backends;
  PerBackend<UpstreamStats> stats;
  std::shared_ptr<prometheus::Registry> own_registry;
  std::vector<std::unique_ptr<Worker>> workers;
  // Deadlines are enforced to within a quarter of the shortest timeout.
  std::chrono::milliseconds sweep_period{50};

  asio::awaitable<void> Accept(Worker& worker);
  asio::awaitable<void> Sweep(Worker& worker);
  // Makes the io_threads workers, each with its acceptor listening on
  // `endpoint` (port 0: the first picks one, and `endpoint` gets it; the
  // others share it) and its upstream pools. UNAVAILABLE when one cannot
  // listen.
  absl::Status MakeWorkers(tcp::endpoint* endpoint);
};

namespace {

auto Redirect(boost::system::error_code& ec) {
  return asio::redirect_error(asio::use_awaitable, ec);
}

// "host:port" to an endpoint; a name is resolved once, at start-up.
absl::StatusOr<tcp::endpoint> ParseEndpoint(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad address (want host:port): ", address));
  }
  std::string host = address.substr(0, colon);
  if (host.empty()) host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(host, ec);
  if (!ec) return tcp::endpoint(ip, static_cast<unsigned short>(port));
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve ", host, ": ", ec.message()));
  }
  return results.begin()->endpoint();
}

// A listening socket on `endpoint` shared with the other I/O threads'.
absl::Status Listen(tcp::acceptor& acceptor, const tcp::endpoint& endpoint) {
  boost::system::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) {
    acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    int one = 1;
    ::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one,
                 sizeof(one));
    acceptor.bind(endpoint, ec);
  }
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return absl::UnavailableError(ec.message());
  return absl::OkStatus();
}

}  // namespace

asio::awaitable<void> HttpFront::Impl::Accept(Worker& worker) {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket = co_await worker.acceptor->async_accept(Redirect(ec));
    if (ec == asio::error::operation_aborted || !worker.acceptor->is_open()) {
      co_return;
    }
    if (ec) {
      // Out of descriptors and the like: back off briefly instead of
      // spinning.
      asio::steady_timer timer(*worker.ioc, std::chrono::milliseconds(10));
      co_await timer.async_wait(Redirect(ec));
      continue;
    }
    auto connection =
        std::make_unique<Connection>(pipeline, worker, std::move(socket));
    Connection* raw = connection.get();
    asio::co_spawn(*worker.ioc, raw->Run(),
                   [owned = std::move(connection)](std::exception_ptr) {});
  }
}

asio::awaitable<void> HttpFront::Impl::Sweep(Worker& worker) {
  asio::steady_timer timer(*worker.ioc);
  boost::system::error_code ec;
  for (;;) {
    timer.expires_after(sweep_period);
    co_await timer.async_wait(Redirect(ec));
    if (ec) co_return;
    worker.deadlines.Sweep(std::chrono::steady_clock::now());
  }
}

namespace {

// Wires the pipeline's stages and collaborators.
void BuildPipeline(Pipeline& p, HoldQueue* holds,
                   std::atomic<int64_t>* in_flight,
                   const std::atomic<bool>* draining,
                   prometheus::Registry& registry) {
  p.limits.max_header_bytes = p.options.max_header_bytes;
  p.limits.max_body_bytes = p.options.max_body_bytes;
  p.limits.admin_identity_header = p.options.admin_identity_header;
  p.metrics = std::make_unique<ProxyMetrics>(registry);
  p.resolver = std::make_unique<CustomerResolver>(p.options.resolver,
                                                  p.deps.routes, p.deps.cookie);
  p.identify = std::make_unique<IdentifyStage>(p.resolver.get(), p.clock());
  p.hold = std::make_unique<HoldStage>(p.deps.routes, p.options.hold_timeout,
                                       p.options.retry_after_seconds,
                                       p.metrics.get());
  p.freeze =
      std::make_unique<FreezeStage>(&p.options.product_admin, p.deps.freeze,
                                    p.deps.checker != nullptr, p.metrics.get());
  p.chain = {p.identify.get(), p.hold.get(), p.freeze.get()};
  p.holds = holds;
  p.in_flight = in_flight;
  p.draining_flag = draining;
}

}  // namespace

absl::Status HttpFront::Impl::MakeWorkers(tcp::endpoint* endpoint) {
  const ProxyOptions& o = pipeline.options;
  for (int i = 0; i < o.io_threads; ++i) {
    auto worker = std::make_unique<Worker>();
    // One thread runs each io_context, and whatever another thread wants
    // done to a worker's sockets it posts (shutdown, drain, wake-ups of
    // held requests, catalog answers), so the reactor's per-socket mutexes
    // guard nothing; the hint turns them off.
    worker->ioc = std::make_unique<asio::io_context>(
        BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO);
    worker->acceptor = std::make_unique<tcp::acceptor>(*worker->ioc);
    if (absl::Status s = Listen(*worker->acceptor, *endpoint); !s.ok()) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", o.listen, ": ", s.message()));
    }
    // Port 0: the first acceptor picks, the others share it.
    *endpoint = worker->acceptor->local_endpoint();
    for (Backend backend : kBackends) {
      const size_t b = Index(backend);
      worker->pools[b] = std::make_unique<UpstreamPool>(
          worker->ioc->get_executor(), backends[b],
          o.upstream_max_idle_per_thread, o.upstream_connect_timeout,
          pipeline.metrics->upstream_counters(backend), &stats[b]);
    }
    workers.push_back(std::move(worker));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<HttpFront>> HttpFront::Start(
    ProxyOptions options, ProxyDeps deps) {
  if (deps.routes == nullptr || deps.cookie == nullptr ||
      deps.freeze == nullptr) {
    return absl::InvalidArgumentError("routes, cookie and freeze are required");
  }
  options.io_threads = std::max(options.io_threads, 1);
  auto listen = ParseEndpoint(options.listen);
  if (!listen.ok()) return listen.status();
  auto source = ParseEndpoint(options.source_backend);
  if (!source.ok()) return source.status();
  auto target = ParseEndpoint(options.target_backend);
  if (!target.ok()) return target.status();

  auto front = std::unique_ptr<HttpFront>(new HttpFront());
  auto impl = std::make_unique<Impl>();
  prometheus::Registry* registry = deps.registry;
  if (registry == nullptr) {
    impl->own_registry = std::make_shared<prometheus::Registry>();
    registry = impl->own_registry.get();
  }
  impl->backends = {*source, *target};
  impl->pipeline.options = std::move(options);
  impl->pipeline.deps = deps;
  BuildPipeline(impl->pipeline, nullptr, &front->in_flight_, &front->draining_,
                *registry);
  front->holds_ = std::make_unique<HoldQueue>(impl->pipeline.options.hold,
                                              impl->pipeline.metrics->held());
  impl->pipeline.holds = front->holds_.get();
  const ProxyOptions& o = impl->pipeline.options;
  const auto shortest =
      std::min({o.client_header_timeout, o.client_body_timeout,
                o.upstream_response_timeout, o.upstream_connect_timeout});
  impl->sweep_period = std::chrono::milliseconds(
      std::clamp<int64_t>(absl::ToInt64Milliseconds(shortest) / 4, 5, 100));

  tcp::endpoint endpoint = *listen;
  TANDEM_RETURN_IF_ERROR(impl->MakeWorkers(&endpoint));
  front->port_ = endpoint.port();
  for (auto& worker : impl->workers) {
    Impl* raw = impl.get();
    Worker* w = worker.get();
    asio::co_spawn(*w->ioc, raw->Accept(*w), asio::detached);
    asio::co_spawn(*w->ioc, raw->Sweep(*w), asio::detached);
    w->thread = std::thread([w] {
      for (;;) {
        try {
          w->ioc->run();
          return;
        } catch (const std::exception& e) {
          TANDEM_LOG(Error, "io_thread_error").With("error", e.what());
        }
      }
    });
  }
  front->impl_ = std::move(impl);
  TANDEM_LOG(Info, "proxy_listening")
      .With("port", front->port_)
      .With("io_threads", o.io_threads)
      .With("source", o.source_backend)
      .With("target", o.target_backend);
  return front;
}

void HttpFront::Shutdown(absl::Duration grace) {
  if (shut_down_ || impl_ == nullptr) return;
  shut_down_ = true;
  draining_.store(true);
  for (auto& worker : impl_->workers) {
    Worker* w = worker.get();
    asio::post(*w->ioc, [w] {
      boost::system::error_code ec;
      w->acceptor->close(ec);
    });
  }
  // Requests in flight and held requests finish by themselves (a held one
  // at the latest at its hold timeout).
  const absl::Time deadline = absl::Now() + grace;
  while (in_flight_.load() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  TANDEM_LOG(Info, "proxy_stopped")
      .With("abandoned_requests", in_flight_.load());
  for (auto& worker : impl_->workers) worker->ioc->stop();
  for (auto& worker : impl_->workers) {
    if (worker->thread.joinable()) worker->thread.join();
  }
  holds_->DropAll();
  // A CheckChange answer still to come would post to an executor destroyed
  // below; each is bounded by its deadline.
  const absl::Time checks_deadline =
      absl::Now() + impl_->pipeline.options.catalog_check_timeout +
      absl::Seconds(5);
  while (impl_->pipeline.pending_checks.load() > 0 &&
         absl::Now() < checks_deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  for (auto& worker : impl_->workers) {
    // The pools' idle sockets and the acceptor first, while their
    // io_context exists; then the io_context, which destroys the remaining
    // connections (owned by their coroutines' completion handlers).
    for (auto& pool : worker->pools) pool.reset();
    worker->acceptor.reset();
    worker->ioc.reset();
  }
}

bool HttpFront::Drain(absl::Duration grace) {
  if (draining_.exchange(true) || impl_ == nullptr) return false;
  TANDEM_LOG(Info, "proxy_draining")
      .With("grace_ms", absl::ToInt64Milliseconds(grace));
  for (auto& worker : impl_->workers) {
    Worker* w = worker.get();
    // The timer is made and armed on the worker's own thread.
    asio::post(*w->ioc, [w, grace] {
      auto timer = std::make_shared<asio::steady_timer>(
          *w->ioc, absl::ToChronoMilliseconds(grace));
      timer->async_wait([timer, w](const boost::system::error_code& ec) {
        if (!ec) {
          boost::system::error_code ignored;
          w->acceptor->close(ignored);
        }
      });
    });
  }
  return true;
}

std::vector<ProxyControl::UpstreamInfo> HttpFront::Upstreams() const {
  std::vector<UpstreamInfo> out;
  for (Backend backend : kBackends) {
    const UpstreamStats& stats = impl_->stats[Index(backend)];
    UpstreamInfo info;
    info.system = ToSystem(backend);
    info.address = backend == Backend::kSource
                       ? impl_->pipeline.options.source_backend
                       : impl_->pipeline.options.target_backend;
    info.idle_connections = stats.idle.load(std::memory_order_relaxed);
    info.busy_connections = stats.busy.load(std::memory_order_relaxed);
    info.connections_opened = stats.opened.load(std::memory_order_relaxed);
    info.requests = stats.requests.load(std::memory_order_relaxed);
    out.push_back(std::move(info));
  }
  return out;
}

HttpFront::~HttpFront() { Shutdown(absl::ZeroDuration()); }

}  // namespace tandem::proxy
