#include "testbed/sim/http_server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/worker_pool.h"
#include "testbed/base/json.h"

namespace tandem::testbed {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions options, Handler handler, Predicate inline_ok)
      : options_(std::move(options)),
        handler_(std::move(handler)),
        inline_ok_(std::move(inline_ok)),
        acceptor_(net::make_strand(ioc_)),
        workers_(options_.worker_threads) {}

  ~Impl() {
    ioc_.stop();
    for (std::thread& t : threads_) t.join();
  }

  absl::Status Listen() {
    beast::error_code ec;
    tcp::endpoint endpoint(net::ip::make_address(options_.address, ec),
                           static_cast<unsigned short>(options_.port));
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad address ", options_.address, ": ", ec.message()));
    }
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", options_.address, ":",
                       options_.port, ": ", ec.message()));
    }
    port_ = acceptor_.local_endpoint().port();
    Accept();
    for (int i = 0; i < std::max(1, options_.io_threads); ++i) {
      threads_.emplace_back([this] { ioc_.run(); });
    }
    return absl::OkStatus();
  }

  int port() const { return port_; }

 private:
  class Session;

  void Accept();

  const HttpServerOptions options_;
  const Handler handler_;
  const Predicate inline_ok_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  // Declared after ioc_: destroyed (and drained) before it.
  WorkerPool workers_;
  int port_ = 0;
};

class HttpServer::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Impl* server, tcp::socket socket)
      : server_(server), stream_(std::move(socket)) {}

  void Start() {
    net::dispatch(stream_.get_executor(),
                  [self = shared_from_this()] { self->Read(); });
  }

 private:
  void Read() {
    parser_.emplace();
    parser_->body_limit(server_->options_.body_limit);
    parser_->header_limit(
        static_cast<std::uint32_t>(server_->options_.header_limit));
    stream_.expires_after(std::chrono::milliseconds(
        absl::ToInt64Milliseconds(server_->options_.idle_timeout)));
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->OnRead(ec);
                     });
  }

  void OnRead(beast::error_code ec) {
    if (ec) {
      if (ec == http::error::body_limit) {
        return Fail(413, "request body too large");
      }
      if (ec == http::error::header_limit) {
        return Fail(431, "request header fields too large");
      }
      if (&ec.category() ==
              &http::make_error_code(http::error::bad_method).category() &&
          ec != http::error::end_of_stream &&
          ec != http::error::partial_message) {
        return Fail(400,
                    absl::StrCat("malformed HTTP request: ", ec.message()));
      }
      return Close();  // peer closed, timed out or reset
    }
    http::request<http::string_body>& req = parser_->get();
    HttpRequest request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    for (const auto& field : req) {
      request.headers.emplace_back(std::string(field.name_string()),
                                   std::string(field.value()));
    }
    request.body = std::move(req.body());
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    if (server_->inline_ok_(request)) {
      return Write(server_->handler_(request));
    }
    server_->workers_.Submit(
        [self = shared_from_this(), request = std::move(request)]() mutable {
          HttpResponse response = self->server_->handler_(request);
          net::post(self->stream_.get_executor(),
                    [self, response = std::move(response)]() mutable {
                      self->Write(std::move(response));
                    });
        });
  }

  // Answers a protocol error and closes the connection.
  void Fail(int status, const std::string& message) {
    keep_alive_ = false;
    HttpResponse r;
    r.status = status;
    r.body = JsonError(message);
    Write(std::move(r));
  }

  // Serializes the response by hand (cheaper than Beast's fields and
  // serializer; this is the hot path of the /healthz benchmark).
  void Write(HttpResponse response) {
    auto out = std::make_shared<std::string>();
    out->reserve(160 + response.body.size());
    absl::StrAppend(out.get(), version_ == 10 ? "HTTP/1.0 " : "HTTP/1.1 ",
                    response.status, " ",
                    std::string(http::obsolete_reason(
                        static_cast<http::status>(response.status))),
                    "\r\nServer: tandem-billing-sim\r\nX-Billing-Version: ",
                    server_->options_.version, "\r\n");
    if (!response.content_type.empty()) {
      absl::StrAppend(out.get(), "Content-Type: ", response.content_type,
                      "\r\n");
    }
    for (const auto& [name, value] : response.headers) {
      absl::StrAppend(out.get(), name, ": ", value, "\r\n");
    }
    if (!keep_alive_) {
      out->append("Connection: close\r\n");
    } else if (version_ == 10) {
      out->append("Connection: keep-alive\r\n");
    }
    absl::StrAppend(out.get(), "Content-Length: ", response.body.size(),
                    "\r\n\r\n");
    out->append(response.body);
    // The deadline set before the read still bounds this write: a client
    // that stops reading is dropped as one that stops sending is.
    net::async_write(
        stream_, net::buffer(*out),
        [self = shared_from_this(), out](beast::error_code ec, size_t) {
          if (ec || !self->keep_alive_) return self->Close();
          self->Read();
        });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  Impl* server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = true;
  unsigned version_ = 11;
};

void HttpServer::Impl::Accept() {
  acceptor_.async_accept(
      net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted || !acceptor_.is_open()) {
          return;
        }
        if (!ec) {
          beast::error_code ignored;
          socket.set_option(tcp::no_delay(true), ignored);
          std::make_shared<Session>(this, std::move(socket))->Start();
        }
        Accept();
      });
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    HttpServerOptions options, Handler handler, Predicate inline_ok) {
  auto impl = std::make_unique<Impl>(std::move(options), std::move(handler),
                                     std::move(inline_ok));
  absl::Status s = impl->Listen();
  if (!s.ok()) return s;
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() = default;

int HttpServer::port() const { return impl_->port(); }

}  // namespace tandem::testbed
