// The proxy's one timeout mechanism for socket operations: a Deadline per
// connection, armed on the socket an operation waits on, enforced by one
// sweeper per I/O thread (http_front.h) that cancels the socket's
// operations once its deadline has passed. One timer per thread instead of
// one or several per request; the waiter sees operation_aborted with
// `fired` set, and the socket stays open, so that the proxy can still
// answer (a 408 to a client whose body stalled).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <vector>

namespace tandem::proxy {

struct Deadline {
  using Clock = std::chrono::steady_clock;
  Clock::time_point at;
  boost::asio::ip::tcp::socket* socket = nullptr;
  // The deadline passed and the socket's operations were cancelled.
  bool fired = false;
  size_t index = 0;  // in its DeadlineList

  void Arm(boost::asio::ip::tcp::socket* s, Clock::time_point when) {
    socket = s;
    at = when;
    fired = false;
  }
  void Disarm() { socket = nullptr; }
};

// The deadlines of one I/O thread's connections. Used only on that thread.
class DeadlineList {
 public:
  // Registers `deadline` until Remove.
  void Add(Deadline* deadline) {
    deadline->index = deadlines_.size();
    deadlines_.push_back(deadline);
  }
  void Remove(Deadline* deadline) {
    Deadline* last = deadlines_.back();
    last->index = deadline->index;
    deadlines_[deadline->index] = last;
    deadlines_.pop_back();
  }
  // Cancels the operations of every armed socket whose deadline is past.
  void Sweep(Deadline::Clock::time_point now) {
    for (Deadline* deadline : deadlines_) {
      if (deadline->socket != nullptr && now >= deadline->at) {
        deadline->fired = true;
        boost::system::error_code ignored;
        deadline->socket->cancel(ignored);
        deadline->socket = nullptr;
      }
    }
  }

 private:
  std::vector<Deadline*> deadlines_;
};

// Registers a Deadline with a DeadlineList for the life of a connection.
class DeadlineSlot {
 public:
  explicit DeadlineSlot(DeadlineList& list) : list_(list) {
    list_.Add(&deadline_);
  }
  ~DeadlineSlot() { list_.Remove(&deadline_); }
  DeadlineSlot(const DeadlineSlot&) = delete;
  DeadlineSlot& operator=(const DeadlineSlot&) = delete;
  Deadline& operator*() { return deadline_; }
  Deadline* operator->() { return &deadline_; }

 private:
  DeadlineList& list_;
  Deadline deadline_;
};

}  // namespace tandem::proxy
