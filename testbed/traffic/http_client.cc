#include "testbed/traffic/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tandem::testbed {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

struct HttpClient::Conn {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
};

std::string ClientResponse::Header(absl::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (absl::EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

HttpClient::HttpClient(std::string host, int port, absl::Duration timeout)
    : host_(std::move(host)), port_(port), timeout_(timeout) {}

HttpClient::~HttpClient() { Close(); }

void HttpClient::Close() {
  if (conn_) {
    beast::error_code ignored;
    conn_->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    conn_->stream.close();
    conn_.reset();
  }
}

absl::StatusOr<ClientResponse> HttpClient::Send(
    absl::string_view method, absl::string_view target,
    const std::vector<std::pair<std::string, std::string>>& headers,
    absl::string_view body) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = conn_ != nullptr;
    beast::error_code ec;
    if (!conn_) {
      conn_ = std::make_unique<Conn>();
      tcp::resolver resolver(conn_->ioc);
      auto endpoints = resolver.resolve(host_, std::to_string(port_), ec);
      if (!ec) {
        conn_->stream.expires_after(
            std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout_)));
        conn_->stream.connect(endpoints, ec);
      }
      if (ec) {
        conn_.reset();
        return absl::UnavailableError(
            absl::StrCat("connect to ", host_, ":", port_, ": ", ec.message()));
      }
      conn_->stream.socket().set_option(tcp::no_delay(true), ec);
      ++connects_;
    }
    http::request<http::string_body> req;
    req.method_string(std::string(method));
    req.target(std::string(target));
    req.version(11);
    req.set(http::field::host, absl::StrCat(host_, ":", port_));
    for (const auto& [k, v] : headers) req.insert(k, v);
    req.body() = std::string(body);
    if (!body.empty() || method == "POST" || method == "PUT" ||
        method == "PATCH") {
      req.prepare_payload();
    }
    conn_->stream.expires_after(
        std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout_)));
    http::write(conn_->stream, req, ec);
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    if (!ec) http::read(conn_->stream, conn_->buffer, parser, ec);
    if (ec) {
      Close();
      if (reused && (ec == http::error::end_of_stream ||
                     ec == net::error::connection_reset ||
                     ec == net::error::broken_pipe)) {
        continue;  // the server closed the idle connection: retry once
      }
      if (ec == beast::error::timeout) {
        return absl::DeadlineExceededError(
            absl::StrCat(method, " ", target, ": timed out"));
      }
      return absl::UnavailableError(
          absl::StrCat(method, " ", target, ": ", ec.message()));
    }
    http::response<http::string_body>& res = parser.get();
    ClientResponse out;
    out.status = res.result_int();
    for (const auto& f : res) {
      out.headers.emplace_back(std::string(f.name_string()),
                               std::string(f.value()));
    }
    out.body = std::move(res.body());
    if (!res.keep_alive()) Close();
    return out;
  }
  return absl::UnavailableError("connection closed twice");
}

}  // namespace tandem::testbed
