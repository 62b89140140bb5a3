#include "portal-proxy/proxy_server.h"

#include <openssl/sha.h>
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
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "portal-proxy/http_head.h"
#include "portal-proxy/socket_io.h"
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
// One read of a request or response head.
constexpr size_t kReadBytes = 8 * 1024;
// Beast's default limit on a response head, kept on the hand-parsed path.
constexpr size_t kMaxResponseHeadBytes = 8 * 1024;

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
bool Dropped(const http::fields::value_type& field, bool upgrade,
             bool dechunk) {
  switch (field.name()) {
    case http::field::transfer_encoding:
      return dechunk;
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
void AppendFields(const http::fields& fields, bool upgrade, bool dechunk,
                  const std::string& extra, std::string* out) {
  for (const auto& field : fields) {
    if (Dropped(field, upgrade, dechunk)) {
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
  AppendFields(request, upgrade, /*dechunk=*/false, extra, out);
}

// `dechunk`: the body goes out without chunked framing (to an HTTP/1.0
// client, which does not know it; the close of the connection ends it).
void AppendResponseHead(const http::response<http::buffer_body>& response,
                        unsigned version, bool upgrade, bool dechunk,
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
  AppendFields(response, upgrade, dechunk, extra, out);
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

// An upstream connection for `attempt`: a pooled one first, a fresh one on
// a retry (the pooled one may have been closed by the backend). Returns
// null when the backend cannot be reached, with `timed_out` telling a
// timeout (504) from a refusal (502).
asio::awaitable<std::unique_ptr<UpstreamConnection>> ConnectUpstream(
    UpstreamPool& pool, int attempt, bool* timed_out) {
  *timed_out = false;
  try {
    // Not a conditional expression: GCC 12 miscompiles co_await inside one.
    if (attempt == 0) co_return co_await pool.Acquire();
    co_return co_await pool.Connect();
  } catch (const boost::system::system_error& e) {
    *timed_out = IsTimeout(e.code());
  }
  co_return nullptr;
}

std::string_view PathOf(std::string_view target) {
  size_t q = target.find_first_of("?#");
  return q == std::string_view::npos ? target : target.substr(0, q);
}

// Who asks for a product change, for the catalog's audit log: the identity
// header an SSO gateway sets, else the user of Basic credentials, else a
// short fingerprint of a bearer token (never the token itself).
std::string AdminIdentity(const http::fields& fields,
                          const std::string& identity_header) {
  constexpr size_t kMaxIdentity = 128;
  if (!identity_header.empty()) {
    auto it = fields.find(identity_header);
    if (it != fields.end() && !it->value().empty()) {
      return std::string(SV(it->value()).substr(0, kMaxIdentity));
    }
  }
  absl::string_view auth = AV(SV(fields[http::field::authorization]));
  if (absl::StartsWithIgnoreCase(auth, "basic ")) {
    std::string decoded;
    if (absl::Base64Unescape(absl::StripAsciiWhitespace(auth.substr(6)),
                             &decoded)) {
      return decoded.substr(0, std::min(decoded.find(':'), kMaxIdentity));
    }
  } else if (absl::StartsWithIgnoreCase(auth, "bearer ")) {
    absl::string_view token = absl::StripAsciiWhitespace(auth.substr(7));
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(),
           digest);
    return absl::StrCat("bearer-sha256:",
                        absl::BytesToHexString(absl::string_view(
                            reinterpret_cast<const char*>(digest), 6)));
  }
  return "";
}

// Awaits the ChangeChecker's answer on the calling coroutine's executor:
// the checker's thread only posts the result back, so the I/O thread is
// never blocked. `pending` counts answers not yet posted (Shutdown waits for
// them before it destroys the executors).
template <class Token>
auto AsyncCheckChange(asio::any_io_executor executor, ChangeChecker& checker,
                      const ProductChange& change, std::string on_behalf_of,
                      absl::Duration timeout, std::atomic<int64_t>& pending,
                      Token&& token) {
  return asio::async_initiate<Token, void(absl::StatusOr<FreezeDecision>)>(
      [executor, &checker, &change, &pending, timeout](auto handler,
                                                       std::string who) {
        auto shared = std::make_shared<std::decay_t<decltype(handler)>>(
            std::move(handler));
        pending.fetch_add(1);
        checker.CheckChange(
            change, std::move(who), timeout,
            [executor, shared, &pending](absl::StatusOr<FreezeDecision> r) {
              asio::post(executor, [shared, r = std::move(r)]() mutable {
                (*shared)(std::move(r));
              });
              pending.fetch_sub(1);
            });
      },
      token, std::move(on_behalf_of));
}

// The `refusal` label of tandem_proxy_freeze_refusals_total: one of a fixed
// set (the ChangeRefusal values, plus catalog_unreachable).
const char* RefusalLabel(ChangeRefusal refusal) {
  switch (refusal) {
    case ::tandem::catalog::v1::CHANGE_REFUSAL_CATALOG_FROZEN:
      return "catalog_frozen";
    case ::tandem::catalog::v1::CHANGE_REFUSAL_TARGET_NOT_OPEN:
      return "target_not_open";
    case ::tandem::catalog::v1::CHANGE_REFUSAL_SOURCE_CLOSED:
      return "source_closed";
    case ::tandem::catalog::v1::CHANGE_REFUSAL_MAPPING_TARGET:
      return "mapping_target";
    case ::tandem::catalog::v1::CHANGE_REFUSAL_UNKNOWN_PRODUCT:
      return "unknown_product";
    default:
      return "unspecified";
  }
}

// The readable bytes of a flat buffer.
std::string_view View(const beast::flat_buffer& buffer) {
  return {static_cast<const char*>(buffer.data().data()), buffer.size()};
}

// Hop-by-hop fields and the ones only the proxy sets: never forwarded, in
// either direction, on the hand-parsed path (the Beast path's Dropped() and
// StripTandemHeaders() for non-upgrade messages).
bool DroppedField(std::string_view name) {
  if (name.size() >= 9 && EqualsIgnoreCase(name.substr(0, 9), "x-tandem-")) {
    return true;
  }
  switch (name.size()) {
    case 2:
      return EqualsIgnoreCase(name, "te");
    case 7:
      return EqualsIgnoreCase(name, "upgrade");
    case 10:
      return EqualsIgnoreCase(name, "connection") ||
             EqualsIgnoreCase(name, "keep-alive");
    case 15:
      return EqualsIgnoreCase(name, "x-forwarded-for");
    case 16:
      return EqualsIgnoreCase(name, "proxy-connection");
    case 17:
      return EqualsIgnoreCase(name, "x-forwarded-proto") ||
             EqualsIgnoreCase(name, "transfer-encoding");
    default:
      return false;
  }
}

void AppendKeptFields(const HeadCommon& head, std::string* out) {
  for (size_t i = 0; i < head.field_count; ++i) {
    const HeaderField& field = head.fields[i];
    if (DroppedField(field.name)) {
      continue;
    }
    out->append(field.name);
    out->append(": ", 2);
    out->append(field.value);
    out->append("\r\n", 2);
  }
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
  // A deadline on one socket's pending operations, enforced by its worker's
  // sweeper: one timer per I/O thread instead of one (or several) per
  // request. On expiry the socket's operations are cancelled and `fired`
  // tells the waiter why.
  struct Deadline {
    SteadyClock::time_point at;
    tcp::socket* socket = nullptr;
    bool fired = false;
    size_t index = 0;  // in Worker::deadlines
    void Arm(tcp::socket* s, SteadyClock::time_point when) {
      socket = s;
      at = when;
      fired = false;
    }
    void Disarm() { socket = nullptr; }
  };

  struct Worker {
    std::unique_ptr<asio::io_context> ioc;
    std::unique_ptr<tcp::acceptor> acceptor;
    std::unique_ptr<UpstreamPool> pools[3];
    uint64_t requests = 0;  // for access-log sampling
    std::vector<Deadline*> deadlines;
    std::thread thread;
  };

  // Registers a Deadline with its worker for the life of a connection.
  class DeadlineSlot {
   public:
    explicit DeadlineSlot(Worker& worker) : worker_(worker) {
      deadline_.index = worker_.deadlines.size();
      worker_.deadlines.push_back(&deadline_);
    }
    ~DeadlineSlot() {
      Deadline* last = worker_.deadlines.back();
      last->index = deadline_.index;
      worker_.deadlines[deadline_.index] = last;
      worker_.deadlines.pop_back();
    }
    DeadlineSlot(const DeadlineSlot&) = delete;
    DeadlineSlot& operator=(const DeadlineSlot&) = delete;
    Deadline& operator*() { return deadline_; }
    Deadline* operator->() { return &deadline_; }

   private:
    Worker& worker_;
    Deadline deadline_;
  };

  // Per-connection strings of the hand-parsed path, reused (with their
  // capacity) from request to request.
  struct Scratch {
    std::string upstream_head;
    std::string response_head;
    // Here rather than in FastHandle's frame, which then stays small enough
    // for asio's per-thread frame recycling.
    ResponseHead response;
  };

  enum class FastResult { kKeepAlive, kClose, kFallback };

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
  UpstreamStats upstream_stats[3];
  // CheckChange answers not yet posted back to an I/O thread.
  std::atomic<int64_t> pending_checks{0};

  void InitMetrics(prometheus::Registry& registry);
  void Finish(const Record& record);

  asio::awaitable<void> Accept(Worker& worker);
  asio::awaitable<void> Sweep(Worker& worker);
  // The hand-parsed path for the common request: no body, no upgrade, not a
  // login nor a product change, a customer not cutting over. kFallback,
  // before anything is consumed or sent, for every other request.
  asio::awaitable<FastResult> FastHandle(Worker& worker,
                                         beast::tcp_stream& client,
                                         beast::flat_buffer& buffer,
                                         const RequestHead& head,
                                         const std::string& peer,
                                         Deadline& deadline, Scratch& scratch);
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
  // Appends a Set-Cookie line with a routing cookie for `route`.
  void AppendRoutingCookie(const RouteInfo& route, absl::Time now,
                           std::string* out) const {
    absl::StrAppend(
        out, "Set-Cookie: ", options.resolver.cookie_name, "=",
        deps.cookie->Sign(route.customer_id, route.system, route.version, now),
        "; Path=/; Max-Age=", absl::ToInt64Seconds(deps.cookie->lifetime()),
        "; HttpOnly; SameSite=Lax", options.cookie_secure ? "; Secure" : "",
        "\r\n");
  }
  asio::awaitable<void> Tunnel(beast::tcp_stream& client,
                               beast::flat_buffer& client_buffer,
                               UpstreamConnection& upstream);

  // What the response half of an exchange needs to know of its request.
  struct ResponseContext {
    unsigned version = 11;
    bool client_keep_alive = true;
    // The whole request body was read (so the connection may be reused).
    bool request_done = true;
    bool upgrade = false;
    // Set a (fresh) routing cookie for `route` on a successful response.
    bool issue_cookie = false;
    RouteInfo route;
    absl::Time now;
    int system_index = 0;
    UpstreamPool* pool = nullptr;
  };
  // Streams a response whose head `response_parser` has read back to the
  // client; returns whether the client connection may be reused.
  asio::awaitable<bool> ForwardResponse(
      beast::tcp_stream& client, beast::flat_buffer& buffer,
      std::unique_ptr<UpstreamConnection> upstream,
      http::response_parser<http::buffer_body>& response_parser,
      const ResponseContext& context, Record& record);

  std::chrono::milliseconds sweep_period{50};
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
    DeadlineSlot deadline(worker);
    Scratch scratch;
    for (;;) {
      // Gather a complete request head with plain reads (no timer of its
      // own: the worker's sweeper enforces the head timeout), parse it in
      // place, and take the hand-parsed path when the request allows.
      RequestHead head;
      HeadParse parsed = HeadParse::kIncomplete;
      bool read_failed = false;
      const auto head_deadline =
          SteadyClock::now() +
          absl::ToChronoMilliseconds(options.client_header_timeout);
      for (;;) {
        parsed = ParseRequestHead(View(buffer), &head);
        if (parsed != HeadParse::kIncomplete ||
            buffer.size() > options.max_header_bytes) {
          break;
        }
        deadline->Arm(&client.socket(), head_deadline);
        size_t n = co_await client.socket().async_read_some(
            buffer.prepare(kReadBytes), Redirect(ec));
        if (!ec && n < kReadBytes) MarkDrained(client.socket());
        deadline->Disarm();
        if (ec) {
          read_failed = true;
          break;
        }
        buffer.commit(n);
      }
      if (read_failed) {
        if (deadline->fired && buffer.size() > 0) {
          client_errors->Add({{"reason", "slow_client"}}).Increment();
          co_await ReplyError(client, 11, http::status::request_timeout,
                              "request head not received in time", false);
        }
        break;
      }
      if (parsed == HeadParse::kIncomplete) {
        client_errors->Add({{"reason", "header_too_large"}}).Increment();
        co_await ReplyError(client, 11,
                            http::status::request_header_fields_too_large,
                            "request head larger than the limit", false);
        break;
      }
      if (parsed == HeadParse::kComplete &&
          head.head_bytes <= options.max_header_bytes) {
        FastResult result = co_await FastHandle(worker, client, buffer, head,
                                                peer, *deadline, scratch);
        if (result == FastResult::kClose) {
          break;
        }
        if (result == FastResult::kKeepAlive) {
          if (server->draining()) {
            break;
          }
          continue;
        }
      }
      // Beast's path: it parses the head already buffered.
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

asio::awaitable<void> ProxyServer::Impl::Sweep(Worker& worker) {
  asio::steady_timer timer(*worker.ioc);
  boost::system::error_code ec;
  for (;;) {
    timer.expires_after(sweep_period);
    co_await timer.async_wait(Redirect(ec));
    if (ec) {
      co_return;
    }
    const auto now = SteadyClock::now();
    for (Deadline* deadline : worker.deadlines) {
      if (deadline->socket != nullptr && now >= deadline->at) {
        deadline->fired = true;
        boost::system::error_code ignored;
        deadline->socket->cancel(ignored);
        deadline->socket = nullptr;
      }
    }
  }
}

asio::awaitable<ProxyServer::Impl::FastResult> ProxyServer::Impl::FastHandle(
    Worker& worker, beast::tcp_stream& client, beast::flat_buffer& buffer,
    const RequestHead& head, const std::string& peer, Deadline& deadline,
    Scratch& scratch) {
  if (head.has_transfer_encoding ||
      (head.has_content_length && head.content_length > 0) ||
      head.has_upgrade) {
    co_return FastResult::kFallback;
  }
  const std::string_view method = head.method;
  const std::string_view target = head.target;
  if (resolver->IsLogin(method, target) ||
      options.product_admin.Classify(method, target)) {
    co_return FastResult::kFallback;
  }
  RequestView view;
  view.method = method;
  view.target = target;
  for (size_t i = 0; i < head.field_count; ++i) {
    const HeaderField& field = head.fields[i];
    if (field.name.size() == 6 && EqualsIgnoreCase(field.name, "cookie")) {
      view.cookie_header = field.value;
    } else if (field.name.size() == 13 &&
               EqualsIgnoreCase(field.name, "authorization")) {
      view.authorization = field.value;
    }
  }
  // The wall clock only matters for a routing cookie (its expiry, and the
  // fresh one a stale cookie earns): not read without one.
  const absl::Time now =
      view.cookie_header.empty() ? absl::UnixEpoch() : absl::Now();
  Resolution resolution = resolver->Resolve(view, now);
  if (resolution.by != ResolvedBy::kDefault &&
      resolution.route.state == ::tandem::router::v1::ROUTE_STATE_MIGRATING) {
    co_return FastResult::kFallback;  // Handle() holds it
  }

  InFlight in_flight(server->in_flight_);
  Record record(this);
  if (options.access_log_every > 0 &&
      worker.requests++ % options.access_log_every == 0) {
    record.log = true;
    record.method = std::string(method);
    record.target = std::string(target);
    record.peer = peer;
  }
  const int system_index = SystemIndex(resolution.system);
  record.by = resolution.by;
  record.system = system_index;
  record.customer_id = resolution.route.customer_id;
  record.route_version = resolution.route.version;
  const unsigned version = static_cast<unsigned>(head.version);
  const bool client_keep_alive = head.keep_alive;
  const bool head_request = method == "HEAD";

  std::string& up = scratch.upstream_head;
  up.clear();
  up.append(method);
  up.push_back(' ');
  up.append(target);
  up.append(" HTTP/1.1\r\n");
  AppendKeptFields(head, &up);
  absl::StrAppend(&up, "X-Forwarded-For: ", peer,
                  "\r\nX-Forwarded-Proto: ", options.forwarded_proto,
                  "\r\nX-Tandem-System: ", SystemLabel(system_index),
                  "\r\nX-Tandem-Route-Version: ", resolution.route.version,
                  "\r\n");
  if (resolution.route.customer_id > 0) {
    absl::StrAppend(&up, "X-Tandem-Customer-Id: ", resolution.route.customer_id,
                    "\r\n");
  }
  up.append("\r\n");
  // `head` views the buffer; nothing reads it after this.
  buffer.consume(head.head_bytes);

  boost::system::error_code ec;
  UpstreamPool& pool = *worker.pools[system_index];
  std::unique_ptr<UpstreamConnection> upstream;
  ResponseHead& response = scratch.response;
  const auto upstream_timeout =
      absl::ToChronoMilliseconds(options.upstream_response_timeout);
  const auto upstream_start = record.start;
  for (int attempt = 0;; ++attempt) {
    if (attempt == 0) {
      upstream = pool.TakeIdle();
    }
    if (upstream == nullptr) {
      bool connect_timeout = false;
      upstream = co_await ConnectUpstream(pool, attempt, &connect_timeout);
      if (upstream == nullptr) {
        record.status = connect_timeout ? 504 : 502;
        record.outcome = "upstream_connect_failed";
        co_await ReplyError(client, version,
                            connect_timeout ? http::status::gateway_timeout
                                            : http::status::bad_gateway,
                            "the billing system cannot be reached", false);
        co_return FastResult::kClose;
      }
    }
    tcp::socket& upstream_socket = upstream->stream.socket();
    deadline.Arm(&upstream_socket, upstream_start + upstream_timeout);
    // In place; asynchronously only what the socket did not take.
    const size_t sent = WriteAvailable(upstream_socket, asio::buffer(up), ec);
    if (!ec && sent < up.size()) {
      co_await asio::async_write(upstream_socket, asio::buffer(up) + sent,
                                 Redirect(ec));
    }
    HeadParse parsed = HeadParse::kIncomplete;
    while (!ec) {
      parsed = ParseResponseHead(View(upstream->buffer), &response);
      if (parsed != HeadParse::kIncomplete) {
        break;
      }
      if (upstream->buffer.size() > kMaxResponseHeadBytes) {
        ec = http::error::header_limit;
        break;
      }
      size_t n = co_await upstream_socket.async_read_some(
          upstream->buffer.prepare(kReadBytes), Redirect(ec));
      if (!ec) {
        if (n < kReadBytes) MarkDrained(upstream_socket);
        upstream->buffer.commit(n);
      }
    }
    deadline.Disarm();
    if (!ec) {
      if (parsed == HeadParse::kComplete) {
        break;
      }
      // A head Beast should judge: it takes the whole response over.
      response.status = 0;
      break;
    }
    const bool timeout = deadline.fired;
    // A kept-alive connection the backend closed meanwhile: once more on a
    // fresh one (the request has no body, so it can be sent again).
    if (attempt == 0 && upstream->reused && !timeout &&
        upstream->buffer.size() == 0) {
      upstream.reset();
      continue;
    }
    record.status = timeout ? 504 : 502;
    record.outcome = timeout ? "upstream_timeout" : "upstream_error";
    TANDEM_LOG(Warning, "upstream_failed")
        .With("system", SystemLabel(system_index))
        .With("error", timeout ? "timeout" : ec.message());
    co_await ReplyError(
        client, version,
        timeout ? http::status::gateway_timeout : http::status::bad_gateway,
        timeout ? "the billing system did not answer in time"
                : "the billing system failed",
        false);
    co_return FastResult::kClose;
  }
  const auto answered = SteadyClock::now();
  record.upstream_seconds =
      std::chrono::duration<double>(answered - upstream_start).count();
  upstream_duration[system_index]->Observe(record.upstream_seconds);
  const bool issue_cookie =
      resolution.by == ResolvedBy::kCookie && resolution.stale_cookie;

  const int status = response.status;
  const bool no_body = head_request || status == 204 || status == 304;
  if (status < 200 || response.has_transfer_encoding ||
      (!response.has_content_length && !no_body)) {
    // Chunked, close-delimited, interim or unusual: Beast streams it, from
    // the head already buffered.
    http::response_parser<http::buffer_body> response_parser;
    response_parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    if (head_request) {
      response_parser.skip(true);
    }
    upstream->stream.expires_after(upstream_timeout);
    co_await http::async_read_header(upstream->stream, upstream->buffer,
                                     response_parser, Redirect(ec));
    if (ec) {
      record.status = 502;
      record.outcome = "upstream_error";
      co_await ReplyError(client, version, http::status::bad_gateway,
                          "the billing system failed", false);
      co_return FastResult::kClose;
    }
    ResponseContext context;
    context.version = version;
    context.client_keep_alive = client_keep_alive;
    context.issue_cookie = issue_cookie;
    context.route = resolution.route;
    context.now = now;
    context.system_index = system_index;
    context.pool = &pool;
    const bool keep = co_await ForwardResponse(
        client, buffer, std::move(upstream), response_parser, context, record);
    co_return keep ? FastResult::kKeepAlive : FastResult::kClose;
  }

  record.status = status;
  const uint64_t body_length = no_body ? 0 : response.content_length;
  const bool keep_alive = client_keep_alive && !server->draining();
  std::string& out = scratch.response_head;
  out.clear();
  out.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  absl::StrAppend(&out, status, " ");
  if (response.reason.empty()) {
    beast::string_view reason =
        http::obsolete_reason(static_cast<http::status>(status));
    out.append(reason.data(), reason.size());
  } else {
    out.append(response.reason);
  }
  out.append("\r\n");
  AppendKeptFields(response, &out);
  absl::StrAppend(&out, "X-Tandem-System: ", SystemLabel(system_index),
                  "\r\nX-Tandem-Route-Version: ", resolution.route.version,
                  "\r\n");
  if (issue_cookie && status < 400) {
    AppendRoutingCookie(resolution.route, now, &out);
  }
  if (!keep_alive) {
    out.append("Connection: close\r\n");
  } else if (version == 10) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
  const bool upstream_keep_alive = response.keep_alive;
  const size_t head_bytes = response.head_bytes;
  // The head and as much of the body as came with it, in one write.
  const size_t in_buffer = static_cast<size_t>(
      std::min<uint64_t>(upstream->buffer.size() - head_bytes, body_length));
  const char* base = static_cast<const char*>(upstream->buffer.data().data());
  std::array<asio::const_buffer, 2> first = {
      asio::buffer(out), asio::buffer(base + head_bytes, in_buffer)};
  tcp::socket& client_socket = client.socket();
  tcp::socket& upstream_socket = upstream->stream.socket();
  const auto client_timeout =
      absl::ToChronoMilliseconds(options.client_body_timeout);
  const size_t sent = WriteAvailable(client_socket, first, ec);
  if (!ec && sent < asio::buffer_size(first)) {
    beast::buffers_suffix<std::array<asio::const_buffer, 2>> rest(first);
    rest.consume(sent);
    deadline.Arm(&client_socket, answered + client_timeout);
    co_await asio::async_write(client_socket, rest, Redirect(ec));
    deadline.Disarm();
  }
  upstream->buffer.consume(head_bytes + in_buffer);
  if (ec) {
    record.outcome = "client_gone";
    co_return FastResult::kClose;
  }
  for (uint64_t remaining = body_length - in_buffer; remaining > 0;) {
    deadline.Arm(&upstream_socket, SteadyClock::now() + upstream_timeout);
    const size_t asked =
        static_cast<size_t>(std::min<uint64_t>(remaining, kChunkBytes));
    size_t n = co_await upstream_socket.async_read_some(
        upstream->buffer.prepare(asked), Redirect(ec));
    deadline.Disarm();
    if (ec) {
      record.outcome = "upstream_broke_mid_response";
      co_return FastResult::kClose;
    }
    if (n < asked) MarkDrained(upstream_socket);
    upstream->buffer.commit(n);
    deadline.Arm(&client_socket, SteadyClock::now() + client_timeout);
    co_await asio::async_write(client_socket, upstream->buffer.data(),
                               Redirect(ec));
    deadline.Disarm();
    upstream->buffer.consume(n);
    if (ec) {
      record.outcome = "client_gone";
      co_return FastResult::kClose;
    }
    remaining -= n;
  }
  if (upstream_keep_alive) {
    pool.Release(std::move(upstream));
  }
  co_return keep_alive ? FastResult::kKeepAlive : FastResult::kClose;
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
    const int64_t hold_version = resolution.route.version;
    const absl::Time hold_since = absl::Now();
    const auto hold_start = SteadyClock::now();
    const auto deadline =
        hold_start + absl::ToChronoMilliseconds(options.hold_timeout);
    enum { kReleased, kTimedOut, kGone, kFull } outcome = kTimedOut;
    bool watch_client = true;
    for (;;) {
      auto timer =
          std::make_shared<asio::steady_timer>(client.get_executor(), deadline);
      auto executor = client.get_executor();
      uint64_t ticket = server->holds_->Hold(
          customer,
          [timer, executor] {
            asio::post(executor, [timer] { timer->cancel(); });
          },
          hold_since, hold_version);
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

  // The catalog freeze at the door. While the cached freeze is OPEN or
  // LIFTED changes pass without asking; otherwise the catalog decides (and
  // audits) each one, and a catalog that cannot be asked means refusal.
  if (auto change = options.product_admin.Classify(method, target)) {
    change->system = resolution.system;
    const std::string detail =
        absl::StrCat(AV(method), " ", AV(PathOf(target)));
    change->detail = detail;
    const FreezeState state = deps.freeze->EffectiveState();
    FreezeDecision decision;
    const char* refusal_label = nullptr;
    if (state == ::tandem::catalog::v1::FREEZE_STATE_OPEN ||
        state == ::tandem::catalog::v1::FREEZE_STATE_LIFTED) {
      // Allowed without asking.
    } else if (deps.checker != nullptr) {
      absl::StatusOr<FreezeDecision> answer = co_await AsyncCheckChange(
          client.get_executor(), *deps.checker, *change,
          AdminIdentity(request, options.admin_identity_header),
          options.catalog_check_timeout, pending_checks, asio::use_awaitable);
      if (answer.ok()) {
        decision = *std::move(answer);
      } else {
        decision.allowed = false;
        decision.reason =
            absl::StrCat("the catalog could not be asked (",
                         absl::StatusCodeToString(answer.status().code()), ": ",
                         answer.status().message(),
                         "); product changes are refused until it answers");
        refusal_label = "catalog_unreachable";
      }
    } else {
      decision = deps.freeze->Check(*change);
    }
    if (!decision.allowed) {
      std::string refusal =
          ::tandem::catalog::v1::ChangeRefusal_Name(decision.refusal);
      if (refusal_label == nullptr) {
        refusal_label = RefusalLabel(decision.refusal);
      }
      freeze_refusals
          ->Add({{"system", SystemLabel(system_index)},
                 {"refusal", refusal_label}})
          .Increment();
      TANDEM_LOG(Warning, "freeze_refused")
          .With("system", SystemLabel(system_index))
          .With("method", AV(method))
          .With("target", AV(target))
          .With("product_id", change->product_id)
          .With("customer_id", resolution.route.customer_id)
          .With("refusal", refusal_label)
          .With("reason", decision.reason);
      record.status = 423;
      record.outcome = "freeze_refused";
      bool drained = co_await DrainBody(client, buffer, parser, 64 * 1024);
      std::string reason = decision.reason;
      for (char& c : reason) {
        if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
          c = '\'';
        }
      }
      const bool unreachable =
          std::string_view(refusal_label) == "catalog_unreachable";
      co_return co_await Reply(
          client, version, http::status::locked, "application/json",
          absl::StrCat("{\"error\":\"",
                       unreachable ? "catalog_unreachable" : "catalog_frozen",
                       "\",\"refusal\":\"", refusal, "\",\"reason\":\"", reason,
                       "\"}\n"),
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
    upstream = co_await ConnectUpstream(pool, attempt, &connect_timeout);
    if (upstream == nullptr) {
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

  ResponseContext context;
  context.version = version;
  context.client_keep_alive = client_keep_alive;
  context.request_done = parser.is_done();
  context.upgrade = upgrade;
  // A cookie after a login, and a fresh one when the client's cookie names
  // a route version or system that is not current (the customer moved).
  context.issue_cookie =
      (login && resolution.by != ResolvedBy::kDefault) ||
      (resolution.by == ResolvedBy::kCookie && resolution.stale_cookie);
  context.route = resolution.route;
  context.now = now;
  context.system_index = system_index;
  context.pool = &pool;
  co_return co_await ForwardResponse(client, buffer, std::move(upstream),
                                     *response_parser, context, record);
}

asio::awaitable<bool> ProxyServer::Impl::ForwardResponse(
    beast::tcp_stream& client, beast::flat_buffer& buffer,
    std::unique_ptr<UpstreamConnection> upstream,
    http::response_parser<http::buffer_body>& response_parser,
    const ResponseContext& context, Record& record) {
  boost::system::error_code ec;
  char chunk[kChunkBytes];
  auto& response = response_parser.get();
  const bool upstream_keep_alive = response.keep_alive();
  const bool switching =
      context.upgrade && response.result() == http::status::switching_protocols;
  record.status = response.result_int();
  StripTandemHeaders(response);
  std::string response_added = absl::StrCat(
      "X-Tandem-System: ", SystemLabel(context.system_index),
      "\r\nX-Tandem-Route-Version: ", context.route.version, "\r\n");
  if (context.issue_cookie && response.result_int() < 400) {
    AppendRoutingCookie(context.route, context.now, &response_added);
  }
  bool keep_alive = context.client_keep_alive && !server->draining() &&
                    context.request_done && !switching;

  // Stream the response back. A body without a length ends with the
  // connection, so the client's connection must close after it too.
  const bool delimited = response.chunked() || response.has_content_length() ||
                         response_parser.is_done();
  if (!delimited) {
    keep_alive = false;
  }
  // HTTP/1.0 has no chunked coding: such a client gets the bare body,
  // delimited by the close of its connection.
  const bool dechunk = context.version == 10 && response.chunked();
  if (dechunk) {
    keep_alive = false;
  }
  if (!switching) {
    if (!keep_alive) {
      response_added.append("Connection: close\r\n");
    } else if (context.version == 10) {
      response_added.append("Connection: keep-alive\r\n");
    }
  }
  std::string wire_head;
  wire_head.reserve(1024);
  AppendResponseHead(response, context.version, switching, dechunk,
                     response_added, &wire_head);
  const bool chunked_out = response.chunked() && !dechunk;
  bool head_pending = true;
  Piece piece;
  for (;;) {
    const char* data = nullptr;
    size_t size = 0;
    if (!response_parser.is_done()) {
      response.body().data = chunk;
      response.body().size = sizeof(chunk);
      upstream->stream.expires_after(
          absl::ToChronoMilliseconds(options.upstream_response_timeout));
      co_await http::async_read(upstream->stream, upstream->buffer,
                                response_parser, Redirect(ec));
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
    const bool last = response_parser.is_done();
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
  if (upstream_keep_alive && response_parser.is_done()) {
    context.pool->Release(std::move(upstream));
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
  {
    // Deadlines are enforced to within a quarter of the shortest timeout.
    auto shortest = std::min({impl->options.client_header_timeout,
                              impl->options.client_body_timeout,
                              impl->options.upstream_response_timeout});
    impl->sweep_period = std::chrono::milliseconds(
        std::clamp<int64_t>(absl::ToInt64Milliseconds(shortest) / 4, 5, 100));
  }

  tcp::endpoint endpoint = *listen;
  for (int i = 0; i < impl->options.io_threads; ++i) {
    auto worker = std::make_unique<Impl::Worker>();
    // One thread runs each io_context, and whatever another thread wants
    // done to a worker's sockets it posts (shutdown, drain, wake-ups of
    // held requests, catalog answers), so the reactor's per-socket mutexes
    // guard nothing; the hint turns them off.
    worker->ioc = std::make_unique<asio::io_context>(
        BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO);
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
          impl->options.upstream_connect_timeout, impl->upstream_counters[s],
          &impl->upstream_stats[s]);
    }
    impl->workers.push_back(std::move(worker));
  }
  server->port_ = endpoint.port();
  for (auto& worker : impl->workers) {
    Impl* raw = impl.get();
    Impl::Worker* w = worker.get();
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
  // A CheckChange answer still to come would post to an executor destroyed
  // below; each is bounded by its deadline.
  absl::Time checks_deadline =
      absl::Now() + impl_->options.catalog_check_timeout + absl::Seconds(5);
  while (impl_->pending_checks.load() > 0 && absl::Now() < checks_deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  for (auto& worker : impl_->workers) {
    for (auto& pool : worker->pools) {
      pool.reset();
    }
    worker->acceptor.reset();
    worker->ioc.reset();  // destroys the remaining sessions
  }
}

bool ProxyServer::Drain(absl::Duration grace) {
  if (draining_.exchange(true) || impl_ == nullptr) {
    return false;
  }
  TANDEM_LOG(Info, "proxy_draining")
      .With("grace_ms", absl::ToInt64Milliseconds(grace));
  for (auto& worker : impl_->workers) {
    Impl::Worker* w = worker.get();
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

std::vector<ProxyServer::UpstreamInfo> ProxyServer::Upstreams() const {
  std::vector<UpstreamInfo> out;
  for (int s = 1; s < 3; ++s) {
    const UpstreamStats& stats = impl_->upstream_stats[s];
    UpstreamInfo info;
    info.system = s == 1 ? ::tandem::common::v1::SYSTEM_SOURCE
                         : ::tandem::common::v1::SYSTEM_TARGET;
    info.address =
        s == 1 ? impl_->options.source_backend : impl_->options.target_backend;
    info.idle_connections = stats.idle.load(std::memory_order_relaxed);
    info.busy_connections = stats.busy.load(std::memory_order_relaxed);
    info.connections_opened = stats.opened.load(std::memory_order_relaxed);
    info.requests = stats.requests.load(std::memory_order_relaxed);
    out.push_back(std::move(info));
  }
  return out;
}

ProxyServer::~ProxyServer() { Shutdown(absl::ZeroDuration()); }

}  // namespace tandem::proxy
