#include "tests/portal-proxy/recording_backend.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace tandem::proxy::testing {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(c));
  return s;
}

// The value of header `name` (lower case) in `head`, or "".
std::string HeaderOf(const std::string& head, const std::string& name) {
  const std::string lower = Lower(head);
  size_t at = lower.find("\n" + name + ":");
  if (at == std::string::npos) return "";
  at += name.size() + 2;
  size_t end = lower.find('\n', at);
  std::string value = head.substr(at, end - at);
  value.erase(0, value.find_first_not_of(" \t"));
  while (!value.empty() && (value.back() == '\r' || value.back() == ' ')) {
    value.pop_back();
  }
  return value;
}

// The end of a leniently read chunked body starting at `at`, or npos.
size_t ChunkedEnd(const std::string& data, size_t at) {
  for (;;) {
    size_t eol = data.find('\n', at);
    if (eol == std::string::npos) return std::string::npos;
    const uint64_t size = std::strtoull(data.c_str() + at, nullptr, 16);
    at = eol + 1;
    if (size == 0) {
      // Trailers up to an empty line.
      for (;;) {
        size_t next = data.find('\n', at);
        if (next == std::string::npos) return std::string::npos;
        const bool empty = next == at || (next == at + 1 && data[at] == '\r');
        at = next + 1;
        if (empty) return at;
      }
    }
    if (data.size() < at + size) return std::string::npos;
    at += size;
    size_t line_end = data.find('\n', at);
    if (line_end == std::string::npos) return std::string::npos;
    at = line_end + 1;
  }
}

}  // namespace

std::unique_ptr<RecordingBackend> RecordingBackend::Start() {
  auto backend = std::unique_ptr<RecordingBackend>(new RecordingBackend());
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd, 64) != 0) {
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

RecordingBackend::~RecordingBackend() {
  stopping_.store(true);
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  ::close(listen_fd_);
  {
    absl::MutexLock lock(&mu_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  for (std::thread& t : threads_) t.join();
}

std::string RecordingBackend::address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

std::vector<std::string> RecordingBackend::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

std::string RecordingBackend::received() const {
  absl::MutexLock lock(&mu_);
  return received_;
}

void RecordingBackend::SetResponse(std::string raw) {
  absl::MutexLock lock(&mu_);
  response_ = std::move(raw);
}

void RecordingBackend::AcceptLoop() {
  while (!stopping_.load()) {
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) {
      if (stopping_.load()) return;
      continue;
    }
    absl::MutexLock lock(&mu_);
    open_fds_.push_back(fd);
    threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

bool RecordingBackend::TakeRequests(std::string* pending, int fd) {
  for (;;) {
    const size_t head_end = pending->find("\r\n\r\n");
    if (head_end == std::string::npos) return true;
    const std::string head = pending->substr(0, head_end + 4);
    size_t end = head_end + 4;
    if (Lower(HeaderOf(head, "transfer-encoding")).find("chunked") !=
        std::string::npos) {
      end = ChunkedEnd(*pending, end);
      if (end == std::string::npos) return true;
    } else if (std::string length = HeaderOf(head, "content-length");
               !length.empty()) {
      end += std::strtoull(length.c_str(), nullptr, 10);
      if (pending->size() < end) return true;
    }
    std::string response;
    {
      absl::MutexLock lock(&mu_);
      requests_.push_back(pending->substr(0, end));
      response = response_;
    }
    pending->erase(0, end);
    if (::send(fd, response.data(), response.size(), MSG_NOSIGNAL) < 0) {
      return false;
    }
  }
}

void RecordingBackend::Serve(int fd) {
  std::string pending;
  char data[16384];
  for (;;) {
    const ssize_t n = ::recv(fd, data, sizeof(data), 0);
    if (n <= 0) break;
    {
      absl::MutexLock lock(&mu_);
      received_.append(data, static_cast<size_t>(n));
    }
    pending.append(data, static_cast<size_t>(n));
    if (!TakeRequests(&pending, fd)) break;
  }
  absl::MutexLock lock(&mu_);
  open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd),
                  open_fds_.end());
  ::close(fd);
}

}  // namespace tandem::proxy::testing
