#include "portal-proxy/proxy_server.h"

#include <sys/socket.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <limits>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "portal-proxy/text.h"
#include "portal-proxy/upstream_pool.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"

namespace tandem::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr size_t kChunkBytes = 16 * 1024;

std::string_view SV(beast::string_view s) { return {s.data(), s.size()}; }
// Debian's Abseil has its own string_view, which StrCat wants.
absl::string_view AV(std::string_view s) { return {s.data(), s.size()}; }

int SystemIndex(System system) {
  return system == ::tandem::common::v1::SYSTEM_TARGET ? 2 : 1;
}

const char* SystemLabel(int index) {
  switch (index) {
    case 1:
      return "source";
    case 2:
      return "target";
    default:
      return "none";
  }
}

// Removes every X-Tandem-* header: only the proxy sets those.
template <class Fields>
void StripTandemHeaders(Fields& fields) {
  for (auto it = fields.begin(); it != fields.end();) {
    if (absl::StartsWithIgnoreCase(AV(SV(it->name_string())), "x-tandem-")) {
      it = fields.erase(it);
    } else {
      ++it;
    }
  }
}

// Message heads are written by hand into one contiguous string: Beast's
// serializer hands the kernel one small buffer per field, which showed up
// as the proxy's largest user-space cost in profiles.
// Hop-by-hop headers and the forwarding headers the proxy sets itself are
// dropped; the Upgrade handshake's Connection/Upgrade pass when `upgrade`.
bool Dropped(const http::fields::value_type& field, bool upgrade) {
  switch (field.name()) {
    case http::field::connection:
    case http::field::upgrade:
      return !upgrade;
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::te:
      return true;
    default:
      break;
  }
  beast::string_view name = field.name_string();
  return beast::iequals(name, "x-forwarded-for") ||
         beast::iequals(name, "x-forwarded-proto");
}

// Appends the fields but the dropped ones, then `extra` (whole header
// lines the proxy adds), then the blank line.
void AppendFields(const http::fields& fields, bool upgrade,
                  const std::string& extra, std::string* out) {
  for (const auto& field : fields) {
    if (Dropped(field, upgrade)) {
      continue;
    }
    out->append(field.name_string().data(), field.name_string().size());
    out->append(": ");
    out->append(field.value().data(), field.value().size());
    out->append("\r\n");
  }
  out->append(extra);
  out->append("\r\n");
}

void AppendRequestHead(const http::request<http::buffer_body>& request,
                       bool upgrade, const std::string& extra,
                       std::string* out) {
  out->append(request.method_string().data(), request.method_string().size());
  out->push_back(' ');
  out->append(request.target().data(), request.target().size());
  out->append(" HTTP/1.1\r\n");
  AppendFields(request, upgrade, extra, out);
}

void AppendResponseHead(const http::response<http::buffer_body>& response,
                        unsigned version, bool upgrade,
                        const std::string& extra, std::string* out) {
  out->append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  out->append(std::to_string(response.result_int()));
  out->push_back(' ');
  beast::string_view reason = response.reason();
  if (reason.empty()) {
    reason = http::obsolete_reason(response.result());
  }
  out->append(reason.data(), reason.size());
  out->append("\r\n");
  AppendFields(response, upgrade, extra, out);
}

// The buffers of one write: an optional head, then a piece of body, framed
// as a chunk when `chunked`, and the last chunk when `last`.
struct Piece {
  std::array<asio::const_buffer, 5> buffers;
  char size_line[24];

  void Set(const std::string* head, const char* data, size_t size, bool chunked,
           bool last) {
    buffers.fill(asio::const_buffer());
    if (head != nullptr) {
      buffers[0] = asio::buffer(*head);
    }
    if (size > 0) {
      if (chunked) {
        int n = std::snprintf(size_line, sizeof(size_line), "%zx\r\n", size);
        buffers[1] = asio::buffer(size_line, static_cast<size_t>(n));
        buffers[3] = asio::buffer("\r\n", 2);
      }
      buffers[2] = asio::buffer(data, size);
    }
    if (last && chunked) {
      buffers[4] = asio::buffer("0\r\n\r\n", 5);
    }
  }
};

auto Redirect(boost::system::error_code& ec) {
  return asio::redirect_error(asio::use_awaitable, ec);
}

bool IsTimeout(const boost::system::error_code& ec) {
  return ec == beast::error::timeout || ec == asio::error::timed_out;
}

// Counts a request in flight for the life of the object.
class InFlight {
 public:
  explicit InFlight(std::atomic<int64_t>& counter) : counter_(counter) {
    counter_.fetch_add(1);
  }
  ~InFlight() { counter_.fetch_sub(1); }

 private:
  std::atomic<int64_t>& counter_;
};

}  // namespace

struct ProxyServer::Impl {
  struct Worker {
    std::unique_ptr<asio::io_context> ioc;
    std::unique_ptr<tcp::acceptor> acceptor;
    std::unique_ptr<UpstreamPool> pools[3];
    uint64_t requests = 0;  // for access-log sampling
    std::thread thread;
  };

  // What one request did, recorded (metrics and access log) when it ends.
  struct Record {
    explicit Record(Impl* owner) : impl(owner) {}
    Record(const Record&) = delete;
    Record& operator=(const Record&) = delete;
    Impl* impl;
    SteadyClock::time_point start = SteadyClock::now();
    bool log = false;
    int status = 0;
    int system = 0;
    ResolvedBy by = ResolvedBy::kDefault;
    int64_t customer_id = 0;
    int64_t route_version = 0;
    double held_seconds = -1;
    double upstream_seconds = -1;
    std::string method;
    std::string target;
    std::string peer;
    const char* outcome = "ok";
    ~Record() { impl->Finish(*this); }
  };

  ProxyOptions options;
  ProxyDeps deps;
  ProxyServer* server = nullptr;
  std::shared_ptr<prometheus::Registry> own_registry;
  std::unique_ptr<CustomerResolver> resolver;
  tcp::endpoint backends[3];
  std::vector<std::unique_ptr<Worker>> workers;

  // Metrics.
  prometheus::Counter* requests[3][6] = {};
  prometheus::Histogram* duration = nullptr;
  prometheus::Histogram* upstream_duration[3] = {};
  prometheus::Gauge* held = nullptr;
  prometheus::Histogram* hold_duration = nullptr;
  prometheus::Counter* hold_timeouts = nullptr;
  prometheus::Counter* hold_rejected = nullptr;
  prometheus::Counter* hold_abandoned = nullptr;
  prometheus::Family<prometheus::Counter>* freeze_refusals = nullptr;
  prometheus::Family<prometheus::Counter>* client_errors = nullptr;
  UpstreamCounters upstream_counters[3];

  void InitMetrics(prometheus::Registry& registry);
  void Finish(const Record& record);

  asio::awaitable<void> Accept(Worker& worker);
  asio::awaitable<void> Session(Worker& worker, tcp::socket socket);
  asio::awaitable<bool> Handle(Worker& worker, beast::tcp_stream& client,
                               beast::flat_buffer& buffer,
                               http::request_parser<http::buffer_body>& parser,
                               const std::string& peer);
  // Writes a response the proxy makes itself; returns whether the connection
  // may stay open.
  asio::awaitable<bool> Reply(beast::tcp_stream& client, unsigned version,
                              http::status status, std::string content_type,
                              std::string body, bool keep_alive,
                              int retry_after = 0);
  asio::awaitable<bool> ReplyError(beast::tcp_stream& client, unsigned version,
                                   http::status status,
                                   std::string_view message, bool keep_alive);
  asio::awaitable<bool> ReplyMaintenance(beast::tcp_stream& client,
                                         unsigned version, bool html,
                                         bool keep_alive);
  // Reads and drops what is left of a request body, up to `limit` bytes, so
  // that a refusal can keep the connection; returns whether it all came.
  asio::awaitable<bool> DrainBody(
      beast::tcp_stream& client, beast::flat_buffer& buffer,
      http::request_parser<http::buffer_body>& parser, uint64_t limit);
  asio::awaitable<void> Tunnel(beast::tcp_stream& client,
                               beast::flat_buffer& client_buffer,
                               UpstreamConnection& upstream);
};

void ProxyServer::Impl::InitMetrics(prometheus::Registry& registry) {
  auto& requests_family =
      prometheus::BuildCounter()
          .Name("tandem_proxy_requests_total")
          .Help("Requests by serving system and status class")
          .Register(registry);
  static const char* kClasses[] = {"0xx", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (int s = 0; s < 3; ++s) {
    for (int c = 0; c < 6; ++c) {
      requests[s][c] = &requests_family.Add(
          {{"system", SystemLabel(s)}, {"code", kClasses[c]}});
    }
  }
  duration = &prometheus::BuildHistogram()
                  .Name("tandem_proxy_request_duration_seconds")
                  .Help("Time from request head to the end of the response")
                  .Register(registry)
                  .Add({}, LatencyBuckets());
  auto& upstream_family =
      prometheus::BuildHistogram()
          .Name("tandem_proxy_upstream_duration_seconds")
          .Help("Time from sending a request upstream to its response head")
          .Register(registry);
  auto& opened = prometheus::BuildCounter()
                     .Name("tandem_proxy_upstream_connections_opened_total")
                     .Help("Upstream connections opened")
                     .Register(registry);
  auto& reused = prometheus::BuildCounter()
                     .Name("tandem_proxy_upstream_connections_reused_total")
                     .Help("Requests sent on a kept-alive upstream connection")
                     .Register(registry);
  auto& connect_errors = prometheus::BuildCounter()
                             .Name("tandem_proxy_upstream_connect_errors_total")
                             .Help("Failed upstream connection attempts")
                             .Register(registry);
  for (int s = 1; s < 3; ++s) {
    upstream_duration[s] =
        &upstream_family.Add({{"system", SystemLabel(s)}}, LatencyBuckets());
    upstream_counters[s].opened = &opened.Add({{"system", SystemLabel(s)}});
    upstream_counters[s].reused = &reused.Add({{"system", SystemLabel(s)}});
    upstream_counters[s].connect_errors =
        &connect_errors.Add({{"system", SystemLabel(s)}});
  }
  held = &prometheus::BuildGauge()
              .Name("tandem_proxy_held_requests")
              .Help("Requests held right now (their customer is cutting over)")
              .Register(registry)
              .Add({});
  hold_duration = &prometheus::BuildHistogram()
                       .Name("tandem_proxy_hold_duration_seconds")
                       .Help("How long held requests were held")
                       .Register(registry)
                       .Add({}, prometheus::Histogram::BucketBoundaries{
                                    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                    0.5, 1, 2.5, 5, 10, 30, 60});
  auto& hold_outcomes = prometheus::BuildCounter()
                            .Name("tandem_proxy_hold_outcomes_total")
                            .Help("Held requests that did not get released")
                            .Register(registry);
  hold_timeouts =
      &prometheus::BuildCounter()
           .Name("tandem_proxy_hold_timeouts_total")
           .Help("Held requests answered 503 after the hold timeout")
           .Register(registry)
           .Add({});
  hold_rejected = &hold_outcomes.Add({{"outcome", "capacity"}});
  hold_abandoned = &hold_outcomes.Add({{"outcome", "client_gone"}});
  freeze_refusals = &prometheus::BuildCounter()
                         .Name("tandem_proxy_freeze_refusals_total")
                         .Help("Product-admin requests refused by the freeze")
                         .Register(registry);
  client_errors = &prometheus::BuildCounter()
                       .Name("tandem_proxy_client_errors_total")
                       .Help("Requests refused for a limit or malformed input")
                       .Register(registry);
}

void ProxyServer::Impl::Finish(const Record& record) {
  double seconds =
      std::chrono::duration<double>(SteadyClock::now() - record.start).count();
  int status_class = record.status / 100;
  if (status_class < 0 || status_class > 5) {
    status_class = 0;
  }
  requests[record.system][status_class]->Increment();
  duration->Observe(seconds);
  if (record.log) {
    auto line = TANDEM_LOG(Info, "access");
    line.With("method", record.method)
        .With("target", record.target)
        .With("status", record.status)
        .With("system", SystemLabel(record.system))
        .With("by", ResolvedByName(record.by))
        .With("customer_id", record.customer_id)
        .With("route_version", record.route_version)
        .With("duration_ms", seconds * 1000)
        .With("peer", record.peer)
        .With("outcome", record.outcome);
    if (record.held_seconds >= 0) {
      line.With("held_ms", record.held_seconds * 1000);
    }
    if (record.upstream_seconds >= 0) {
      line.With("upstream_ms", record.upstream_seconds * 1000);
    }
  }
}

asio::awaitable<bool> ProxyServer::Impl::Reply(
    beast::tcp_stream& client, unsigned version, http::status status,
    std::string content_type, std::string body, bool keep_alive,
    int retry_after) {
  http::response<http::string_body> response{status, version};
  response.set(http::field::server, "tandem-portal-proxy");
  response.set(http::field::content_type, content_type);
  response.set(http::field::cache_control, "no-store");
  if (retry_after > 0) {
    response.set(http::field::retry_after, std::to_string(retry_after));
  }
  response.body() = std::move(body);
  response.keep_alive(keep_alive && !server->draining());
  response.prepare_payload();
  boost::system::error_code ec;
  client.expires_after(absl::ToChronoMilliseconds(options.client_body_timeout));
  co_await http::async_write(client, response, Redirect(ec));
  co_return !ec && response.keep_alive();
}

asio::awaitable<bool> ProxyServer::Impl::ReplyError(beast::tcp_stream& client,
                                                    unsigned version,
                                                    http::status status,
                                                    std::string_view message,
                                                    bool keep_alive) {
  co_return co_await Reply(
      client, version, status, "application/json",
      absl::StrCat(
          "{\"error\":\"",
          absl::AsciiStrToLower(std::string(http::obsolete_reason(status))),
          "\",\"message\":\"", AV(message), "\"}\n"),
      keep_alive);
}

asio::awaitable<bool> ProxyServer::Impl::ReplyMaintenance(
    beast::tcp_stream& client, unsigned version, bool html, bool keep_alive) {
  std::string body;
  std::string type;
  if (html) {
    type = "text/html; charset=utf-8";
    body = absl::StrCat(
        "<!doctype html><html><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"refresh\" content=\"",
        options.retry_after_seconds,
        "\"><title>Short maintenance</title></head><body>"
        "<h1>We are upgrading your account</h1>"
        "<p>This takes a moment. The page reloads by itself in ",
        options.retry_after_seconds, " seconds.</p></body></html>\n");
  } else {
    type = "application/json";
    body = absl::StrCat(
        "{\"error\":\"maintenance\",\"message\":\"the account is being "
        "upgraded; retry shortly\",\"retry_after_seconds\":",
        options.retry_after_seconds, "}\n");
  }
  co_return co_await Reply(client, version, http::status::service_unavailable,
                           type, std::move(body), keep_alive,
                           options.retry_after_seconds);
}

asio::awaitable<bool> ProxyServer::Impl::DrainBody(
    beast::tcp_stream& client, beast::flat_buffer& buffer,
    http::request_parser<http::buffer_body>& parser, uint64_t limit) {
  char chunk[4096];
  uint64_t drained = 0;
  boost::system::error_code ec;
  while (!parser.is_done() && drained <= limit) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof(chunk);
    client.expires_after(
        absl::ToChronoMilliseconds(options.client_body_timeout));
    co_await http::async_read(client, buffer, parser, Redirect(ec));
    if (ec == http::error::need_buffer) {
      ec = {};
    }
    if (ec) {
      co_return false;
    }
    drained += sizeof(chunk) - parser.get().body().size;
  }
  co_return parser.is_done();
}

asio::awaitable<void> ProxyServer::Impl::Accept(Worker& worker) {
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
    asio::co_spawn(*worker.ioc, Session(worker, std::move(socket)),
                   asio::detached);
  }
}

asio::awaitable<void> ProxyServer::Impl::Session(Worker& worker,
                                                 tcp::socket socket) {
  try {
    boost::system::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    std::string peer = socket.remote_endpoint(ec).address().to_string(ec);
    beast::tcp_stream client(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::buffer_body> parser;
      parser.header_limit(options.max_header_bytes);
      parser.body_limit(options.max_body_bytes);
      // The head timeout is a timer of our own rather than the stream's:
      // the stream closes the socket on expiry, and a slow client is owed
      // a 408.
      client.expires_never();
      auto header_done = std::make_shared<bool>(false);
      auto header_timed_out = std::make_shared<bool>(false);
      asio::steady_timer header_timer(
          client.get_executor(),
          absl::ToChronoMilliseconds(options.client_header_timeout));
      tcp::socket* raw_socket = &client.socket();
      header_timer.async_wait([header_done, header_timed_out, raw_socket](
                                  const boost::system::error_code& timer_ec) {
        if (!timer_ec && !*header_done) {
          *header_timed_out = true;
          boost::system::error_code ignored;
          raw_socket->cancel(ignored);
        }
      });
      co_await http::async_read_header(client, buffer, parser, Redirect(ec));
      *header_done = true;
      header_timer.cancel();
      if (*header_timed_out && ec == asio::error::operation_aborted) {
        ec = beast::error::timeout;
      }
      if (ec) {
        const unsigned version = 11;
        if (IsTimeout(ec)) {
          if (buffer.size() > 0 || parser.got_some()) {
            client_errors->Add({{"reason", "slow_client"}}).Increment();
            co_await ReplyError(client, version, http::status::request_timeout,
                                "request head not received in time", false);
          }
        } else if (ec == http::error::header_limit) {
          client_errors->Add({{"reason", "header_too_large"}}).Increment();
          co_await ReplyError(client, version,
                              http::status::request_header_fields_too_large,
                              "request head larger than the limit", false);
        } else if (ec == http::error::body_limit) {
          client_errors->Add({{"reason", "body_too_large"}}).Increment();
          co_await ReplyError(client, version, http::status::payload_too_large,
                              "request body larger than the limit", false);
        } else if (ec.category() ==
                       http::make_error_code(http::error::bad_method)
                           .category() &&
                   ec != http::error::end_of_stream &&
                   ec != http::error::partial_message) {
          client_errors->Add({{"reason", "malformed"}}).Increment();
          co_await ReplyError(client, version, http::status::bad_request,
                              "malformed request", false);
        }
        break;
      }
      if (!co_await Handle(worker, client, buffer, parser, peer)) {
        break;
      }
      if (server->draining()) {
        break;
      }
    }
    client.socket().shutdown(tcp::socket::shutdown_send, ec);
  } catch (const std::exception& e) {
    TANDEM_LOG(Warning, "session_error").With("error", e.what());
  }
}

asio::awaitable<bool> ProxyServer::Impl::Handle(
    Worker& worker, beast::tcp_stream& client, beast::flat_buffer& buffer,
    http::request_parser<http::buffer_body>& parser, const std::string& peer) {
  InFlight in_flight(server->in_flight_);
  Record record(this);
  const absl::Time now = absl::Now();
  auto& request = parser.get();
  const unsigned version = request.version();
  const bool client_keep_alive = request.keep_alive();
  const bool head_request = request.method() == http::verb::head;
  const bool upgrade =
      request.find(http::field::upgrade) != request.end() &&
      ContainsIgnoreCase(AV(SV(request[http::field::connection])), "upgrade");
  const bool wants_html =
      ContainsIgnoreCase(AV(SV(request[http::field::accept])), "text/html");
  if (options.access_log_every > 0 &&
      worker.requests++ % options.access_log_every == 0) {
    record.log = true;
    record.method = std::string(SV(request.method_string()));
    record.target = std::string(SV(request.target()));
    record.peer = peer;
  }
  StripTandemHeaders(request);
  const std::string_view method = SV(request.method_string());
  const std::string_view target = SV(request.target());
  boost::system::error_code ec;

  // The login body, read (bounded) before resolving; it is forwarded from
  // `prefix` unchanged.
  std::string prefix;
  bool body_read = parser.is_done();
  const bool login = resolver->IsLogin(method, target);
  if (login && !parser.is_done()) {
    auto length = parser.content_length();
    if ((length && *length <= options.resolver.max_login_body_bytes) ||
        (!length && parser.chunked())) {
      char chunk[4096];
      while (!parser.is_done() &&
             prefix.size() <= options.resolver.max_login_body_bytes) {
        request.body().data = chunk;
        request.body().size = sizeof(chunk);
        client.expires_after(
            absl::ToChronoMilliseconds(options.client_body_timeout));
        co_await http::async_read(client, buffer, parser, Redirect(ec));
        if (ec == http::error::need_buffer) {
          ec = {};
        }
        if (ec) {
          record.status = IsTimeout(ec) ? 408 : 400;
          record.outcome = "client_error";
          if (IsTimeout(ec)) {
            co_await ReplyError(client, version, http::status::request_timeout,
                                "request body not received in time", false);
          }
          co_return false;
        }
        prefix.append(chunk, sizeof(chunk) - request.body().size);
      }
      body_read = parser.is_done();
    }
  }

  RequestView view;
  view.method = method;
  view.target = target;
  view.cookie_header = SV(request[http::field::cookie]);
  view.authorization = SV(request[http::field::authorization]);
  view.content_type = SV(request[http::field::content_type]);
  if (login && body_read) {
    view.body = std::string_view(prefix);
  }
  Resolution resolution = resolver->Resolve(view, now);
  record.by = resolution.by;
  record.customer_id = resolution.route.customer_id;

  // Hold while the customer is cutting over.
  if (resolution.by != ResolvedBy::kDefault &&
      resolution.route.state == ::tandem::router::v1::ROUTE_STATE_MIGRATING) {
    const int64_t customer = resolution.route.customer_id;
    const auto hold_start = SteadyClock::now();
    const auto deadline =
        hold_start + absl::ToChronoMilliseconds(options.hold_timeout);
    enum { kReleased, kTimedOut, kGone, kFull } outcome = kTimedOut;
    bool watch_client = true;
    for (;;) {
      auto timer =
          std::make_shared<asio::steady_timer>(client.get_executor(), deadline);
      auto executor = client.get_executor();
      uint64_t ticket = server->holds_->Hold(customer, [timer, executor] {
        asio::post(executor, [timer] { timer->cancel(); });
      });
      if (ticket == 0) {
        outcome = kFull;
        break;
      }
      // The route may have changed between the lookup and Hold(); a change
      // after Hold() wakes us.
      std::optional<RouteInfo> route = deps.routes->FindInfo(customer);
      if (!route ||
          route->state != ::tandem::router::v1::ROUTE_STATE_MIGRATING) {
        server->holds_->Cancel(customer, ticket);
        outcome = kReleased;
        if (route) {
          resolution.route = *route;
          resolution.system = route->system;
        } else {
          resolution.by = ResolvedBy::kDefault;
          resolution.system = deps.routes->default_system();
        }
        break;
      }
      auto readable = std::make_shared<bool>(false);
      if (watch_client) {
        client.socket().async_wait(
            tcp::socket::wait_read,
            [readable, timer](const boost::system::error_code& wait_ec) {
              if (!wait_ec) {
                *readable = true;
                timer->cancel();
              }
            });
      }
      co_await timer->async_wait(Redirect(ec));
      if (watch_client) {
        boost::system::error_code ignored;
        client.socket().cancel(ignored);
      }
      server->holds_->Cancel(customer, ticket);
      if (*readable) {
        char byte;
        ssize_t n = ::recv(client.socket().native_handle(), &byte, 1,
                           MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
          outcome = kGone;
          break;
        }
        watch_client = false;  // pipelined bytes: stop watching
      }
      if (SteadyClock::now() >= deadline) {
        route = deps.routes->FindInfo(customer);
        if (route &&
            route->state != ::tandem::router::v1::ROUTE_STATE_MIGRATING) {
          resolution.route = *route;
          resolution.system = route->system;
          outcome = kReleased;
        }
        break;
      }
    }
    record.held_seconds =
        std::chrono::duration<double>(SteadyClock::now() - hold_start).count();
    hold_duration->Observe(record.held_seconds);
    switch (outcome) {
      case kReleased:
        break;
      case kGone:
        hold_abandoned->Increment();
        record.outcome = "client_gone_while_held";
        record.status = 499;
        co_return false;
      case kFull:
        hold_rejected->Increment();
        [[fallthrough]];
      case kTimedOut:
        if (outcome == kTimedOut) {
          hold_timeouts->Increment();
        }
        record.status = 503;
        record.outcome = outcome == kFull ? "hold_capacity" : "hold_timeout";
        TANDEM_LOG(Warning, "hold_timeout")
            .With("customer_id", customer)
            .With("held_ms", record.held_seconds * 1000)
            .With("capacity", outcome == kFull);
        {
          bool drained = co_await DrainBody(client, buffer, parser, 64 * 1024);
          co_return co_await ReplyMaintenance(client, version, wants_html,
                                              client_keep_alive && drained);
        }
    }
  }
  const int system_index = SystemIndex(resolution.system);
  record.system = system_index;
  record.route_version = resolution.route.version;
  record.customer_id = resolution.route.customer_id;

  // The catalog freeze at the door.
  if (auto change = options.product_admin.Classify(method, target)) {
    change->system = resolution.system;
    FreezeDecision decision = deps.freeze->Check(*change);
    if (!decision.allowed) {
      const std::string refusal =
          ::tandem::catalog::v1::ChangeRefusal_Name(decision.refusal);
      freeze_refusals
          ->Add({{"system", SystemLabel(system_index)}, {"refusal", refusal}})
          .Increment();
      TANDEM_LOG(Warning, "freeze_refused")
          .With("system", SystemLabel(system_index))
          .With("method", AV(method))
          .With("target", AV(target))
          .With("product_id", change->product_id)
          .With("customer_id", resolution.route.customer_id)
          .With("refusal", refusal)
          .With("reason", decision.reason);
      record.status = 423;
      record.outcome = "freeze_refused";
      bool drained = co_await DrainBody(client, buffer, parser, 64 * 1024);
      std::string reason = decision.reason;
      for (char& c : reason) {
        if (c == '"' || c == '\\') c = '\'';
      }
      co_return co_await Reply(
          client, version, http::status::locked, "application/json",
          absl::StrCat("{\"error\":\"catalog_frozen\",\"refusal\":\"", refusal,
                       "\",\"reason\":\"", reason, "\"}\n"),
          client_keep_alive && drained);
    }
  }

  // The request as the backend sees it.
  // The headers the proxy adds upstream, formatted once.
  std::string added = absl::StrCat(
      "X-Forwarded-For: ", peer,
      "\r\nX-Forwarded-Proto: ", options.forwarded_proto,
      "\r\nX-Tandem-System: ", SystemLabel(system_index),
      "\r\nX-Tandem-Route-Version: ", resolution.route.version, "\r\n");
  if (resolution.route.customer_id > 0) {
    absl::StrAppend(
        &added, "X-Tandem-Customer-Id: ", resolution.route.customer_id, "\r\n");
  }

  UpstreamPool& pool = *worker.pools[system_index];
  const bool replayable = parser.is_done();
  std::unique_ptr<UpstreamConnection> upstream;
  std::optional<http::response_parser<http::buffer_body>> response_parser;
  auto upstream_start = SteadyClock::now();
  char chunk[kChunkBytes];
  for (int attempt = 0;; ++attempt) {
    bool connect_timeout = false;
    bool connect_failed = false;
    try {
      // Not a conditional expression: GCC 12 miscompiles co_await inside
      // one.
      if (attempt == 0) {
        upstream = co_await pool.Acquire();
      } else {
        upstream = co_await pool.Connect();
      }
    } catch (const boost::system::system_error& e) {
      connect_failed = true;
      connect_timeout = IsTimeout(e.code());
    }
    if (connect_failed) {
      record.status = connect_timeout ? 504 : 502;
      record.outcome = "upstream_connect_failed";
      co_return co_await ReplyError(
          client, version,
          connect_timeout ? http::status::gateway_timeout
                          : http::status::bad_gateway,
          "the billing system cannot be reached", false);
    }
    // Stream the request: head, then the body as it arrives.
    std::string wire_head;
    wire_head.reserve(1024);
    AppendRequestHead(request, upgrade, added, &wire_head);
    const bool chunked_out = request.chunked();
    bool prefix_pending = !prefix.empty();
    bool client_failed = false;
    bool head_pending = true;
    Piece piece;
    for (;;) {
      const char* data = nullptr;
      size_t size = 0;
      if (prefix_pending) {
        data = prefix.data();
        size = prefix.size();
        prefix_pending = false;
      } else if (!parser.is_done()) {
        request.body().data = chunk;
        request.body().size = sizeof(chunk);
        client.expires_after(
            absl::ToChronoMilliseconds(options.client_body_timeout));
        co_await http::async_read(client, buffer, parser, Redirect(ec));
        if (ec == http::error::need_buffer) {
          ec = {};
        }
        if (ec) {
          client_failed = true;
          break;
        }
        data = chunk;
        size = sizeof(chunk) - request.body().size;
      }
      const bool last = parser.is_done() && !prefix_pending;
      piece.Set(head_pending ? &wire_head : nullptr, data, size, chunked_out,
                last);
      head_pending = false;
      upstream->stream.expires_after(
          absl::ToChronoMilliseconds(options.upstream_response_timeout));
      co_await asio::async_write(upstream->stream, piece.buffers, Redirect(ec));
      if (ec || last) {
        break;
      }
    }
    if (client_failed) {
      if (ec == http::error::body_limit) {
        client_errors->Add({{"reason", "body_too_large"}}).Increment();
        record.status = 413;
        record.outcome = "body_too_large";
        co_await ReplyError(client, version, http::status::payload_too_large,
                            "request body larger than the limit", false);
      } else if (IsTimeout(ec)) {
        client_errors->Add({{"reason", "slow_client"}}).Increment();
        record.status = 408;
        record.outcome = "slow_client";
        co_await ReplyError(client, version, http::status::request_timeout,
                            "request body not received in time", false);
      } else {
        record.status = 499;
        record.outcome = "client_gone";
      }
      co_return false;
    }
    if (!ec) {
      response_parser.emplace();
      // Not boost::none: Beast 1.74 compares the length against the optional
      // and then treats "none" as a limit of zero.
      response_parser->body_limit(std::numeric_limits<std::uint64_t>::max());
      if (head_request) {
        response_parser->skip(true);
      }
      upstream->stream.expires_after(
          absl::ToChronoMilliseconds(options.upstream_response_timeout));
      co_await http::async_read_header(upstream->stream, upstream->buffer,
                                       *response_parser, Redirect(ec));
    }
    if (!ec) {
      break;
    }
    // A kept-alive connection the backend closed meanwhile: try once more
    // on a fresh one if the request can be sent again.
    if (attempt == 0 && upstream->reused && replayable && !IsTimeout(ec) &&
        !(response_parser && response_parser->got_some())) {
      continue;
    }
    const bool timeout = IsTimeout(ec);
    record.status = timeout ? 504 : 502;
    record.outcome = timeout ? "upstream_timeout" : "upstream_error";
    TANDEM_LOG(Warning, "upstream_failed")
        .With("system", SystemLabel(system_index))
        .With("error", ec.message());
    co_return co_await ReplyError(
        client, version,
        timeout ? http::status::gateway_timeout : http::status::bad_gateway,
        timeout ? "the billing system did not answer in time"
                : "the billing system failed",
        false);
  }
  record.upstream_seconds =
      std::chrono::duration<double>(SteadyClock::now() - upstream_start)
          .count();
  upstream_duration[system_index]->Observe(record.upstream_seconds);

  auto& response = response_parser->get();
  const bool upstream_keep_alive = response.keep_alive();
  const bool switching =
      upgrade && response.result() == http::status::switching_protocols;
  record.status = response.result_int();
  StripTandemHeaders(response);
  std::string response_added = absl::StrCat(
      "X-Tandem-System: ", SystemLabel(system_index),
      "\r\nX-Tandem-Route-Version: ", resolution.route.version, "\r\n");
  if (login && resolution.by != ResolvedBy::kDefault &&
      response.result_int() < 400) {
    absl::StrAppend(
        &response_added, "Set-Cookie: ", options.resolver.cookie_name, "=",
        deps.cookie->Sign(resolution.route.customer_id, resolution.route.system,
                          resolution.route.version, now),
        "; Path=/; Max-Age=", absl::ToInt64Seconds(deps.cookie->lifetime()),
        "; HttpOnly; SameSite=Lax", options.cookie_secure ? "; Secure" : "",
        "\r\n");
  }
  bool keep_alive = client_keep_alive && !server->draining() &&
                    parser.is_done() && !switching;

  // Stream the response back. A body without a length ends with the
  // connection, so the client's connection must close after it too.
  const bool delimited = response.chunked() || response.has_content_length() ||
                         response_parser->is_done();
  if (!delimited) {
    keep_alive = false;
  }
  if (!switching) {
    if (!keep_alive) {
      response_added.append("Connection: close\r\n");
    } else if (version == 10) {
      response_added.append("Connection: keep-alive\r\n");
    }
  }
  std::string wire_head;
  wire_head.reserve(1024);
  AppendResponseHead(response, version, switching, response_added, &wire_head);
  const bool chunked_out = response.chunked();
  bool head_pending = true;
  Piece piece;
  for (;;) {
    const char* data = nullptr;
    size_t size = 0;
    if (!response_parser->is_done()) {
      response.body().data = chunk;
      response.body().size = sizeof(chunk);
      upstream->stream.expires_after(
          absl::ToChronoMilliseconds(options.upstream_response_timeout));
      co_await http::async_read(upstream->stream, upstream->buffer,
                                *response_parser, Redirect(ec));
      if (ec == http::error::need_buffer) {
        ec = {};
      }
      if (ec == http::error::end_of_stream && !delimited) {
        ec = {};  // the end of a body delimited by the connection's close
      }
      if (ec) {
        record.outcome = "upstream_broke_mid_response";
        co_return false;
      }
      data = chunk;
      size = sizeof(chunk) - response.body().size;
    }
    const bool last = response_parser->is_done();
    piece.Set(head_pending ? &wire_head : nullptr, data, size, chunked_out,
              last);
    head_pending = false;
    client.expires_after(
        absl::ToChronoMilliseconds(options.client_body_timeout));
    co_await asio::async_write(client, piece.buffers, Redirect(ec));
    if (ec) {
      record.outcome = "client_gone";
      co_return false;
    }
    if (last) {
      break;
    }
  }

  if (switching) {
    record.outcome = "upgraded";
    co_await Tunnel(client, buffer, *upstream);
    co_return false;
  }
  if (upstream_keep_alive && response_parser->is_done()) {
    pool.Release(std::move(upstream));
  }
  const bool reuse_connection = keep_alive && delimited;
  co_return reuse_connection;
}

namespace {

// Copies bytes from `from` to `to` until either side fails, then shuts down
// the sending direction of `to`.
asio::awaitable<void> Pipe(tcp::socket& from, tcp::socket& to) {
  char data[kChunkBytes];
  boost::system::error_code ec;
  for (;;) {
    size_t n = co_await from.async_read_some(asio::buffer(data), Redirect(ec));
    if (ec) {
      break;
    }
    co_await asio::async_write(to, asio::buffer(data, n), Redirect(ec));
    if (ec) {
      break;
    }
  }
  to.shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace

asio::awaitable<void> ProxyServer::Impl::Tunnel(
    beast::tcp_stream& client, beast::flat_buffer& client_buffer,
    UpstreamConnection& upstream) {
  client.expires_never();
  upstream.stream.expires_never();
  boost::system::error_code ec;
  tcp::socket& down = client.socket();
  tcp::socket& up = upstream.stream.socket();
  // Bytes each side sent right after the handshake.
  if (client_buffer.size() > 0) {
    co_await asio::async_write(up, client_buffer.data(), Redirect(ec));
    client_buffer.consume(client_buffer.size());
  }
  if (upstream.buffer.size() > 0) {
    co_await asio::async_write(down, upstream.buffer.data(), Redirect(ec));
    upstream.buffer.consume(upstream.buffer.size());
  }
  auto executor = co_await asio::this_coro::executor;
  auto done = std::make_shared<asio::steady_timer>(
      executor, asio::steady_timer::time_point::max());
  auto finished = std::make_shared<bool>(false);
  asio::co_spawn(executor, Pipe(down, up),
                 [done, finished](std::exception_ptr) {
                   *finished = true;
                   done->cancel();
                 });
  co_await Pipe(up, down);
  if (!*finished) {
    // The backend is done; give the client's direction no more than the
    // close of both sockets.
    down.close(ec);
    up.close(ec);
    co_await done->async_wait(Redirect(ec));
  }
}

absl::StatusOr<std::unique_ptr<ProxyServer>> ProxyServer::Start(
    ProxyOptions options, ProxyDeps deps) {
  if (deps.routes == nullptr || deps.cookie == nullptr ||
      deps.freeze == nullptr) {
    return absl::InvalidArgumentError("routes, cookie and freeze are required");
  }
  if (options.io_threads < 1) {
    options.io_threads = 1;
  }
  auto parse_endpoint =
      [](const std::string& address) -> absl::StatusOr<tcp::endpoint> {
    size_t colon = address.rfind(':');
    int port = 0;
    if (colon == std::string::npos ||
        !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 ||
        port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad address (want host:port): ", address));
    }
    std::string host = address.substr(0, colon);
    if (host.empty()) {
      host = "0.0.0.0";
    }
    if (host == "localhost") {
      host = "127.0.0.1";
    }
    boost::system::error_code ec;
    auto ip = asio::ip::make_address(host, ec);
    if (ec) {
      // A name: resolve it once at start-up.
      asio::io_context ioc;
      tcp::resolver resolver(ioc);
      auto results = resolver.resolve(host, std::to_string(port), ec);
      if (ec || results.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("cannot resolve ", host, ": ", ec.message()));
      }
      return results.begin()->endpoint();
    }
    return tcp::endpoint(ip, static_cast<unsigned short>(port));
  };
  auto listen = parse_endpoint(options.listen);
  if (!listen.ok()) return listen.status();
  auto source = parse_endpoint(options.source_backend);
  if (!source.ok()) return source.status();
  auto target = parse_endpoint(options.target_backend);
  if (!target.ok()) return target.status();

  auto server = std::unique_ptr<ProxyServer>(new ProxyServer());
  auto impl = std::make_unique<Impl>();
  impl->server = server.get();
  impl->deps = deps;
  prometheus::Registry* registry = deps.registry;
  if (registry == nullptr) {
    impl->own_registry = std::make_shared<prometheus::Registry>();
    registry = impl->own_registry.get();
  }
  impl->InitMetrics(*registry);
  server->holds_ = std::make_unique<HoldQueue>(options.hold, impl->held);
  impl->resolver = std::make_unique<CustomerResolver>(options.resolver,
                                                      deps.routes, deps.cookie);
  impl->backends[1] = *source;
  impl->backends[2] = *target;
  impl->options = std::move(options);

  tcp::endpoint endpoint = *listen;
  for (int i = 0; i < impl->options.io_threads; ++i) {
    auto worker = std::make_unique<Impl::Worker>();
    worker->ioc = std::make_unique<asio::io_context>(1);
    worker->acceptor = std::make_unique<tcp::acceptor>(*worker->ioc);
    boost::system::error_code ec;
    worker->acceptor->open(endpoint.protocol(), ec);
    if (!ec) {
      worker->acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
      int one = 1;
      ::setsockopt(worker->acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT,
                   &one, sizeof(one));
      worker->acceptor->bind(endpoint, ec);
    }
    if (!ec) {
      worker->acceptor->listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
      return absl::UnavailableError(absl::StrCat(
          "cannot listen on ", impl->options.listen, ": ", ec.message()));
    }
    // Port 0: the first acceptor picks, the others share it.
    endpoint = worker->acceptor->local_endpoint();
    for (int s = 1; s < 3; ++s) {
      worker->pools[s] = std::make_unique<UpstreamPool>(
          worker->ioc->get_executor(), impl->backends[s],
          impl->options.upstream_max_idle_per_thread,
          impl->options.upstream_connect_timeout, impl->upstream_counters[s]);
    }
    impl->workers.push_back(std::move(worker));
  }
  server->port_ = endpoint.port();
  for (auto& worker : impl->workers) {
    Impl* raw = impl.get();
    Impl::Worker* w = worker.get();
    asio::co_spawn(*w->ioc, raw->Accept(*w), asio::detached);
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
  server->impl_ = std::move(impl);
  TANDEM_LOG(Info, "proxy_listening")
      .With("port", server->port_)
      .With("io_threads", server->impl_->options.io_threads)
      .With("source", server->impl_->options.source_backend)
      .With("target", server->impl_->options.target_backend);
  return server;
}

void ProxyServer::Shutdown(absl::Duration grace) {
  if (shut_down_ || impl_ == nullptr) {
    return;
  }
  shut_down_ = true;
  draining_.store(true);
  for (auto& worker : impl_->workers) {
    Impl::Worker* w = worker.get();
    asio::post(*w->ioc, [w] {
      boost::system::error_code ec;
      w->acceptor->close(ec);
    });
  }
  // Requests in flight and held requests finish by themselves (a held one
  // at the latest at its hold timeout).
  absl::Time deadline = absl::Now() + grace;
  while (in_flight_.load() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  TANDEM_LOG(Info, "proxy_stopped")
      .With("abandoned_requests", in_flight_.load());
  for (auto& worker : impl_->workers) {
    worker->ioc->stop();
  }
  for (auto& worker : impl_->workers) {
    if (worker->thread.joinable()) {
      worker->thread.join();
    }
  }
  holds_->DropAll();
  for (auto& worker : impl_->workers) {
    for (auto& pool : worker->pools) {
      pool.reset();
    }
    worker->acceptor.reset();
    worker->ioc.reset();  // destroys the remaining sessions
  }
}

ProxyServer::~ProxyServer() { Shutdown(absl::ZeroDuration()); }

}  // namespace tandem::proxy
