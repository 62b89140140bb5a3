#include "tests/portal-proxy/http_test_client.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <limits>

namespace tandem::proxy::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

void SetTimeouts(tcp::socket& socket, int seconds) {
  timeval tv{seconds, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv,
               sizeof(tv));
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv,
               sizeof(tv));
}

}  // namespace

HttpClient::HttpClient(int port) : socket_(ioc_) {
  boost::system::error_code ec;
  socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                                static_cast<unsigned short>(port)),
                  ec);
  if (!ec) {
    SetTimeouts(socket_, 30);
  }
}

bool HttpClient::WriteRaw(const std::string& bytes) {
  boost::system::error_code ec;
  asio::write(socket_, asio::buffer(bytes), ec);
  return !ec;
}

HttpResponse HttpClient::Read() {
  HttpResponse out;
  http::response_parser<http::string_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  boost::system::error_code ec;
  http::read(socket_, buffer_, parser, ec);
  if (ec) {
    return out;
  }
  auto& response = parser.get();
  out.status = response.result_int();
  for (const auto& field : response) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(c));
    out.headers[name] = std::string(field.value());
    if (name == "set-cookie") {
      out.set_cookies.emplace_back(field.value());
    }
  }
  out.body = std::move(response.body());
  return out;
}

HttpResponse HttpClient::Send(
    const std::string& method, const std::string& target,
    const std::vector<std::pair<std::string, std::string>>& headers,
    const std::string& body) {
  http::request<http::string_body> request;
  request.method_string(method);
  request.target(target);
  request.version(11);
  request.set(http::field::host, "portal.test");
  for (const auto& [name, value] : headers) {
    request.insert(name, value);
  }
  request.body() = body;
  if (!body.empty() || method == "POST" || method == "PUT") {
    request.prepare_payload();
  }
  boost::system::error_code ec;
  http::write(socket_, request, ec);
  if (ec) {
    return HttpResponse{};
  }
  return Read();
}

bool HttpClient::PeerClosed() {
  SetTimeouts(socket_, 5);
  char byte;
  boost::system::error_code ec;
  for (;;) {
    socket_.read_some(asio::buffer(&byte, 1), ec);
    if (ec) {
      return ec == asio::error::eof || ec == asio::error::connection_reset;
    }
  }
}

void HttpClient::Close() {
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

std::string CookieFrom(const std::vector<std::string>& set_cookies,
                       const std::string& name) {
  for (const std::string& cookie : set_cookies) {
    if (cookie.rfind(name + "=", 0) == 0) {
      size_t end = cookie.find(';');
      return cookie.substr(name.size() + 1, end - name.size() - 1);
    }
  }
  return "";
}

}  // namespace tandem::proxy::testing
