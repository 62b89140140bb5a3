#include "tests/portal-proxy/test_backend.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <limits>
#include <sstream>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace tandem::proxy::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::unique_ptr<TestBackend> TestBackend::Start(std::string version) {
  auto backend = std::unique_ptr<TestBackend>(new TestBackend());
  backend->version_ = std::move(version);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd, 512) != 0) {
    ::close(fd);
    return nullptr;
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  backend->listen_fd_ = fd;
  backend->port_ = ntohs(addr.sin_port);
  backend->acceptor_ = std::thread([b = backend.get()] { b->AcceptLoop(); });
  return backend;
}

TestBackend::~TestBackend() {
  stopping_.store(true);
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  ::close(listen_fd_);
  {
    absl::MutexLock lock(&mu_);
    unstalled_ = true;
    for (int fd : open_fds_) {
      ::shutdown(fd, SHUT_RDWR);
    }
  }
  for (std::thread& t : threads_) {
    t.join();
  }
}

std::string TestBackend::address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

void TestBackend::Unstall() {
  {
    absl::MutexLock lock(&mu_);
    unstalled_ = true;
  }
}

void TestBackend::MarkExported(int64_t customer_id) {
  absl::MutexLock lock(&mu_);
  exported_.push_back(customer_id);
}

void TestBackend::AcceptLoop() {
  while (!stopping_.load()) {
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) {
      if (stopping_.load()) {
        return;
      }
      continue;
    }
    connections_.fetch_add(1);
    absl::MutexLock lock(&mu_);
    if (stopping_.load()) {
      ::close(fd);
      return;
    }
    open_fds_.push_back(fd);
    threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

void TestBackend::Serve(int fd) {
  asio::io_context ioc;
  tcp::socket socket(ioc);
  boost::system::error_code ec;
  socket.assign(tcp::v4(), fd, ec);
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::buffer_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    parser.header_limit(64 * 1024);
    http::read_header(socket, buffer, parser, ec);
    if (ec) {
      break;
    }
    requests_.fetch_add(1);
    auto& request = parser.get();
    // The body, in pieces.
    uint64_t bytes = 0;
    uint32_t fnv = 2166136261u;
    std::string head;
    char chunk[65536];
    while (!parser.is_done()) {
      request.body().data = chunk;
      request.body().size = sizeof(chunk);
      http::read(socket, buffer, parser, ec);
      if (ec == http::error::need_buffer) {
        ec = {};
      }
      if (ec) {
        break;
      }
      size_t n = sizeof(chunk) - request.body().size;
      for (size_t i = 0; i < n; ++i) {
        fnv = (fnv ^ static_cast<unsigned char>(chunk[i])) * 16777619u;
      }
      if (head.size() < 256) {
        head.append(chunk, std::min(n, 256 - head.size()));
      }
      bytes += n;
    }
    if (ec) {
      break;
    }
    std::string target(request.target());
    if (request.find(http::field::upgrade) != request.end()) {
      std::string answer =
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
          "Connection: Upgrade\r\nX-Billing-Version: " +
          version_ + "\r\n\r\n";
      asio::write(socket, asio::buffer(answer), ec);
      if (buffer.size() > 0) {
        asio::write(socket, buffer.data(), ec);
      }
      char data[4096];
      for (;;) {
        size_t n = socket.read_some(asio::buffer(data), ec);
        if (ec) break;
        asio::write(socket, asio::buffer(data, n), ec);
        if (ec) break;
      }
      break;
    }
    if (target.rfind("/download/", 0) == 0) {
      // A body of the given size, made by DownloadByte, with Content-Length.
      const uint64_t size = std::stoull(target.substr(10));
      std::string wire =
          "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
          "Content-Length: " +
          std::to_string(size) + "\r\nX-Billing-Version: " + version_ +
          "\r\n\r\n";
      // The head and the body's start in one write, as a real server
      // would send a small answer.
      std::string piece = std::move(wire);
      for (uint64_t at = 0; !ec && at < size;) {
        for (; at < size && piece.size() < 65536; ++at) {
          piece.push_back(DownloadByte(at));
        }
        asio::write(socket, asio::buffer(piece), ec);
        piece.clear();
      }
      if (ec || !request.keep_alive()) {
        break;
      }
      continue;
    }
    if (target.rfind("/stall", 0) == 0) {
      stalled_.fetch_add(1);
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(&unstalled_));
      stalled_.fetch_sub(1);
    }
    bool exported = false;
    if (request.method() != http::verb::get &&
        request.method() != http::verb::head) {
      absl::MutexLock lock(&mu_);
      std::string customer(request["X-Tandem-Customer-Id"]);
      for (int64_t id : exported_) {
        exported = exported || customer == std::to_string(id);
      }
    }
    if (exported) {
      exported_answers_.fetch_add(1);
      http::response<http::string_body> refused{http::status::conflict,
                                                request.version()};
      refused.set("X-Billing-Version", version_);
      refused.set("X-Billing-Customer-Exported", "1");
      refused.set(http::field::content_type, "application/json");
      refused.keep_alive(request.keep_alive());
      refused.body() = "{\"error\":\"customer exported\"}";
      refused.prepare_payload();
      http::write(socket, refused, ec);
      if (ec || !refused.keep_alive()) break;
      continue;
    }
    std::ostringstream body;
    body << "version: " << version_ << "\n";
    body << "method: " << request.method_string() << "\n";
    body << "target: " << target << "\n";
    for (const auto& field : request) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(c));
      body << "header " << name << ": " << field.value() << "\n";
    }
    char fnv_hex[16];
    std::snprintf(fnv_hex, sizeof(fnv_hex), "%08x", fnv);
    body << "body-bytes: " << bytes << "\n";
    body << "body-fnv: " << fnv_hex << "\n";
    body << "body: " << head << "\n";

    if (target.rfind("/chunked", 0) == 0) {
      // The echo in three chunks, framed by hand.
      std::string text = body.str();
      std::string wire =
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
          "Transfer-Encoding: chunked\r\nX-Billing-Version: " +
          version_ + "\r\n\r\n";
      for (size_t at = 0; at < text.size(); at += text.size() / 3 + 1) {
        std::string piece = text.substr(at, text.size() / 3 + 1);
        char size[16];
        std::snprintf(size, sizeof(size), "%zx\r\n", piece.size());
        wire += size + piece + "\r\n";
      }
      wire += "0\r\n\r\n";
      asio::write(socket, asio::buffer(wire), ec);
      if (ec || !request.keep_alive()) {
        break;
      }
      continue;
    }
    http::response<http::string_body> response{http::status::ok,
                                               request.version()};
    response.set("X-Billing-Version", version_);
    response.set("X-Tandem-System", "backend");
    response.set(http::field::content_type, "text/plain");
    if (request.method() == http::verb::post && target == "/login") {
      std::string login;
      size_t at = head.find("login=");
      if (at != std::string::npos) {
        login = head.substr(at + 6, head.find('&', at) - (at + 6));
      }
      response.set(http::field::set_cookie, "session=" + login + "; Path=/");
    }
    response.keep_alive(request.keep_alive());
    response.body() = body.str();
    response.prepare_payload();
    http::write(socket, response, ec);
    if (ec || !response.keep_alive()) {
      break;
    }
  }
  socket.shutdown(tcp::socket::shutdown_both, ec);
  // The descriptor is closed by `socket`; forget it so that the destructor
  // does not shut down a reused number.
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < open_fds_.size(); ++i) {
    if (open_fds_[i] == fd) {
      open_fds_.erase(open_fds_.begin() + i);
      break;
    }
  }
  socket.close(ec);
}

std::map<std::string, std::string> ParseEcho(const std::string& body) {
  std::map<std::string, std::string> out;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    size_t colon = line.find(": ");
    if (colon != std::string::npos) {
      out[line.substr(0, colon)] = line.substr(colon + 2);
    }
  }
  return out;
}

}  // namespace tandem::proxy::testing
