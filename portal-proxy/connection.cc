#include "portal-proxy/connection.h"

#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>

#include "common/log.h"
#include "portal-proxy/freeze_stage.h"
#include "portal-proxy/socket_io.h"

namespace tandem::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr HttpError kSlowHead{408, "slow_client",
                              "request head not received in time"};
constexpr HttpError kSlowBody{408, "slow_client",
                              "request body not received in time"};
// A refused request's unread body is read and dropped up to this much, so
// that the connection can stay; beyond it the connection closes.
constexpr uint64_t kDrainLimit = 64 * 1024;

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

}  // namespace

void SetBodyFailure(const BodyPiece& failure, Exchange& x) {
  switch (failure.status) {
    case BodyPiece::Status::kMalformed:
      SetClientError(failure.error, &x.reply);
      x.record.outcome = failure.error.reason;
      break;
    case BodyPiece::Status::kTimeout:
      SetClientError(kSlowBody, &x.reply);
      x.record.outcome = "slow_client";
      break;
    default:
      x.reply.Clear();  // nobody to answer
      x.record.status = 499;
      x.record.outcome = "client_gone";
      break;
  }
}

Connection::Connection(Pipeline& pipeline, Worker& worker, tcp::socket socket)
    : pipeline_(pipeline),
      worker_(worker),
      client_(std::move(socket), worker.deadlines,
              absl::ToChronoMilliseconds(pipeline.options.client_body_timeout)),
      upstream_(pipeline, worker, client_) {}

asio::awaitable<void> Connection::Run() {
  try {
    for (;;) {
      const Next next = co_await Serve();
      if (next != Next::kKeepAlive || pipeline_.draining()) break;
    }
    boost::system::error_code ec;
    client_.socket().shutdown(tcp::socket::shutdown_send, ec);
  } catch (const std::exception& e) {
    TANDEM_LOG(Warning, "session_error").With("error", e.what());
  }
}

asio::awaitable<Connection::HeadRead> Connection::ReadHead(size_t* head_bytes) {
  const auto until =
      Clock::now() +
      absl::ToChronoMilliseconds(pipeline_.options.client_header_timeout);
  for (;;) {
    const std::string_view data = client_.Buffered();
    if (!data.empty()) {
      const HeadParse parsed =
          ParseRequest(data, pipeline_.limits, &head_, &exchange_, head_bytes);
      if (parsed == HeadParse::kComplete) co_return HeadRead::kComplete;
      if (parsed == HeadParse::kError) co_return HeadRead::kError;
    }
    // ClientStream::ReadMore, inline: one coroutine frame less a request.
    boost::system::error_code ec;
    tcp::socket& socket = client_.socket();
    Deadline& deadline = client_.deadline();
    deadline.Arm(&socket, until);
    const size_t n = co_await socket.async_read_some(
        client_.buffer().prepare(ClientStream::kReadBytes),
        asio::redirect_error(asio::use_awaitable, ec));
    deadline.Disarm();
    if (ec) {
      if (deadline.fired && !client_.Buffered().empty()) {
        SetClientError(kSlowHead, &exchange_.reply);
        co_return HeadRead::kError;
      }
      co_return HeadRead::kClosed;  // idle past the timeout, or closed
    }
    if (n < ClientStream::kReadBytes) MarkDrained(socket);
    client_.buffer().commit(n);
  }
}

asio::awaitable<Connection::Next> Connection::Serve() {
  Exchange& x = exchange_;
  x.Reset();
  watch_client_ = true;
  size_t head_bytes = 0;
  const HeadRead head = co_await ReadHead(&head_bytes);
  if (head == HeadRead::kClosed) co_return Next::kClose;
  InFlight in_flight(*pipeline_.in_flight);
  const int every = pipeline_.options.access_log_every;
  x.record.Begin(every > 0 && worker_.requests++ % every == 0);
  Next next = Next::kClose;
  if (head == HeadRead::kError) {
    next = co_await Reply();
  } else {
    if (x.record.log) {
      x.record.method = x.method;
      x.record.target = x.target.target;
    }
    client_.Consume(head_bytes);
    client_.StartBody(x.framing, pipeline_.options.max_body_bytes,
                      x.expect_continue);
    next = co_await Process();
  }
  FinishRecord(*pipeline_.metrics, x.record, client_.peer());
  co_return next;
}

asio::awaitable<Connection::Next> Connection::Process() {
  Exchange& x = exchange_;
  size_t from = 0;
  for (;;) {
    for (size_t i = from; i < pipeline_.chain.size();) {
      switch (pipeline_.chain[i]->Run(x)) {
        case StageResult::kContinue:
          ++i;
          break;
        case StageResult::kReadBody:
          if (!co_await ReadBodyForStage()) co_return co_await Reply();
          break;
        case StageResult::kAskCatalog:
          co_await AskCatalog();
          break;
        case StageResult::kHold: {
          const HoldWait wait = co_await WaitForRoute();
          switch (wait) {
            case HoldWait::kWoken:
              break;
            case HoldWait::kGone:
              pipeline_.metrics->hold_abandoned()->Increment();
              x.record.status = 499;
              x.record.outcome = "client_gone_while_held";
              co_return Next::kClose;
            case HoldWait::kFull:
              pipeline_.metrics->hold_rejected()->Increment();
              x.record.outcome = "hold_capacity";
              SetMaintenanceReply(x.wants_html,
                                  pipeline_.options.retry_after_seconds,
                                  &x.reply);
              co_return co_await Reply();
          }
          break;
        }
        case StageResult::kReply:
          co_return co_await Reply();
      }
    }
    x.record.backend = x.backend;
    x.record.route_version =
        x.resolution.route ? x.resolution.route->version : 0;
    const UpstreamExchange::Outcome outcome = co_await upstream_.Forward(x);
    switch (outcome) {
      case UpstreamExchange::Outcome::kKeepAlive:
        co_return Next::kKeepAlive;
      case UpstreamExchange::Outcome::kClose:
        co_return Next::kClose;
      case UpstreamExchange::Outcome::kReply:
        co_return co_await Reply();
      case UpstreamExchange::Outcome::kExported:
        from = Pipeline::kHoldStage;
        break;
    }
  }
}

asio::awaitable<bool> Connection::ReadBodyForStage() {
  Exchange& x = exchange_;
  BodyPiece failed;
  const bool complete =
      co_await client_.ReadBodyInto(&x.body, x.body_wanted, &failed);
  if (complete) {
    x.body_complete = true;
    co_return true;
  }
  if (failed.status == BodyPiece::Status::kData) {
    x.body_over_limit = true;  // more than the stage wanted
    co_return true;
  }
  SetBodyFailure(failed, x);
  co_return false;
}

asio::awaitable<void> Connection::AskCatalog() {
  Exchange& x = exchange_;
  absl::StatusOr<FreezeDecision> answer = co_await AsyncCheckChange(
      client_.socket().get_executor(), *pipeline_.deps.checker, *x.change,
      AdminIdentity(x.admin_identity, x.authorization),
      pipeline_.options.catalog_check_timeout, pipeline_.pending_checks,
      asio::use_awaitable);
  x.catalog_answer = std::move(answer);
}

asio::awaitable<Connection::HoldWait> Connection::WaitForRoute() {
  Exchange& x = exchange_;
  const int64_t customer = x.resolution.customer_id;
  auto executor = client_.socket().get_executor();
  auto timer = std::make_shared<asio::steady_timer>(
      executor, x.hold.resend_at != Exchange::Clock::time_point()
                    ? std::min(x.hold.resend_at, x.hold.deadline)
                    : x.hold.deadline);
  const uint64_t ticket = pipeline_.holds->Hold(
      customer,
      [timer, executor] { asio::post(executor, [timer] { timer->cancel(); }); },
      x.hold.since, x.resolution.route ? x.resolution.route->version : 0);
  if (ticket == 0) co_return HoldWait::kFull;
  // The route may have changed between the stage's look and Hold(); a
  // change after Hold() wakes the timer.
  if (!pipeline_.hold->MustWait(x, pipeline_.deps.routes->FindInfo(customer))) {
    pipeline_.holds->Cancel(customer, ticket);
    co_return HoldWait::kWoken;
  }
  auto readable = std::make_shared<bool>(false);
  tcp::socket& socket = client_.socket();
  if (watch_client_) {
    socket.async_wait(tcp::socket::wait_read,
                      [readable, timer](const boost::system::error_code& ec) {
                        if (!ec) {
                          *readable = true;
                          timer->cancel();
                        }
                      });
  }
  boost::system::error_code ec;
  co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  if (watch_client_) socket.cancel(ec);
  pipeline_.holds->Cancel(customer, ticket);
  if (*readable) {
    char byte;
    const ssize_t n =
        ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
      co_return HoldWait::kGone;
    }
    watch_client_ = false;  // pipelined bytes: stop watching
  }
  co_return HoldWait::kWoken;
}

asio::awaitable<Connection::Next> Connection::Reply() {
  Exchange& x = exchange_;
  if (x.reply.status == 0) co_return Next::kClose;  // the client is gone
  if (x.reply.client_error != nullptr) {
    pipeline_.metrics->CountClientError(x.reply.client_error);
  }
  x.record.status = x.reply.status;
  if (std::string_view(x.record.outcome) == "ok") {
    x.record.outcome =
        x.reply.client_error != nullptr ? x.reply.client_error : "proxy_answer";
  }
  bool keep_alive = x.keep_alive && !x.reply.close && !pipeline_.draining();
  if (keep_alive && !client_.body_done()) {
    // A client waiting for "100 Continue" sends no body: close instead.
    if (x.expect_continue && !client_.body_started()) {
      keep_alive = false;
    } else {
      keep_alive = co_await client_.DrainBody(kDrainLimit);
    }
  }
  SerializeReply(x.reply, x.version, keep_alive, &out_);
  const bool written = co_await client_.Write(out_);
  co_return written&& keep_alive ? Next::kKeepAlive : Next::kClose;
}

}  // namespace tandem::proxy
