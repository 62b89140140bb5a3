// A blocking HTTP/1.1 client for the proxy's tests: one keep-alive
// connection per object, plus a raw exchange for malformed input.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tandem::proxy::testing {

struct HttpResponse {
  // 0 when the connection failed or closed before an answer.
  int status = 0;
  // Lower-case names; the last value wins.
  std::map<std::string, std::string> headers;
  std::vector<std::string> set_cookies;
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

class HttpClient {
 public:
  // Connects to 127.0.0.1:`port`; every operation times out after 30 s.
  explicit HttpClient(int port);

  // Sends one request on the connection and reads the answer.
  HttpResponse Send(
      const std::string& method, const std::string& target,
      const std::vector<std::pair<std::string, std::string>>& headers = {},
      const std::string& body = "");

  // Writes raw bytes on the connection.
  bool WriteRaw(const std::string& bytes);
  // Reads one response from the connection.
  HttpResponse Read();
  // True when the peer closed the connection (reads EOF within 5 s).
  bool PeerClosed();

  boost::asio::ip::tcp::socket& socket() { return socket_; }
  void Close();

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  // Bytes read past the last response (a pipelined answer's start).
  boost::beast::flat_buffer buffer_;
};

// The value of cookie `name` in a list of Set-Cookie headers ("" if none).
std::string CookieFrom(const std::vector<std::string>& set_cookies,
                       const std::string& name);

}  // namespace tandem::proxy::testing
