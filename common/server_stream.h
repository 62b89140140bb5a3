// The server side of a server-streaming RPC (gRPC's callback API), shared by
// the router's Watch and the catalog's WatchFreeze: one write in flight at a
// time, a subclass that says what the next message is, a Close() that ends
// the stream once the write in flight is done, and a StreamSet that tracks
// the open streams so a replica shutting down closes them all (clients
// reconnect to another replica) and refuses new ones.
//
// Threading: NextMessage() runs with mu_ held, on whichever thread called
// Pump() (a publisher's notification or gRPC's write completion), so a
// subclass guards what it shares with publishers by mu_ too.
#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/status.h>

#include <set>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"

namespace tandem {

template <typename Message>
class StreamSet;

template <typename Message>
class ServerStream : public grpc::ServerWriteReactor<Message> {
 public:
  // Ends the stream with `status` as soon as no write is in flight. The
  // first Close wins; later ones do nothing.
  void Close(grpc::Status status) {
    {
      absl::MutexLock lock(&mu_);
      if (closing_) return;
      closing_ = true;
      close_status_ = std::move(status);
    }
    Pump();
  }

  void OnWriteDone(bool ok) final {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok && !closing_) {
        closing_ = true;
        close_status_ =
            grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
      }
    }
    Pump();
  }

  void OnCancel() final {
    Close(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
  }

  void OnDone() final;

 protected:
  // `set` (may be null) is the set that opens this stream (StreamSet::Open
  // passes itself to the subclass's constructor); the stream leaves it when
  // gRPC is done with it.
  explicit ServerStream(StreamSet<Message>* set) : set_(set) {}
  virtual ~ServerStream() = default;

  // Sends the next message if no write is in flight and NextMessage has
  // one; finishes the stream if it is closing. Call it whenever there may
  // be something new to send (the constructor of a subclass, a publisher's
  // notification).
  void Pump() {
    absl::MutexLock lock(&mu_);
    if (writing_ || finished_) return;
    if (closing_) {
      finished_ = true;
      this->Finish(close_status_);
      return;
    }
    message_.Clear();
    if (!NextMessage(&message_)) return;  // Idle until the next Pump().
    writing_ = true;
    this->StartWrite(&message_);
  }

  // Fills `*next` (cleared) with the next message and returns true, or
  // returns false when there is nothing to send yet.
  virtual bool NextMessage(Message* next)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) = 0;

  // Runs once when gRPC is done with the stream, before it is deleted:
  // unsubscribe from publishers here.
  virtual void OnStreamDone() {}

  absl::Mutex mu_;

 private:
  friend class StreamSet<Message>;

  StreamSet<Message>* const set_;
  Message message_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status close_status_ ABSL_GUARDED_BY(mu_);
};

// A stream refused before it started: finishes at once with a status.
template <typename Message>
class RefusedStream final : public grpc::ServerWriteReactor<Message> {
 public:
  explicit RefusedStream(grpc::Status status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

// The open streams of one service.
template <typename Message>
class StreamSet {
 public:
  // `shutting_down` is the message new streams are refused with once
  // CloseAll ran (UNAVAILABLE).
  explicit StreamSet(std::string shutting_down)
      : shutting_down_(std::move(shutting_down)) {}
  ~StreamSet() { CloseAll(); }

  // Returns the stream `make(this)` builds (a ServerStream subclass
  // constructed with this set), tracked until gRPC is done with it,
  // when `admitted` is OK and the set is not closed; otherwise a stream
  // that ends at once with `admitted` or UNAVAILABLE.
  template <typename MakeFn>
  grpc::ServerWriteReactor<Message>* Open(absl::Status admitted, MakeFn make) {
    if (admitted.ok()) {
      absl::MutexLock lock(&mu_);
      if (!closed_) {
        // Inserted before a stream done at once can leave: Remove waits
        // for this lock.
        ServerStream<Message>* stream = make(this);
        streams_.insert(stream);
        return stream;
      }
      admitted = absl::UnavailableError(shutting_down_);
    }
    return new RefusedStream<Message>(ToGrpcStatus(admitted));
  }

  // Ends every open stream with UNAVAILABLE and refuses new ones.
  // Idempotent.
  void CloseAll() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    // Close() only schedules Finish; a stream leaves the set in OnDone,
    // which waits for this lock, so every one here is still alive.
    for (ServerStream<Message>* stream : streams_) {
      stream->Close(
          grpc::Status(grpc::StatusCode::UNAVAILABLE, shutting_down_));
    }
  }

 private:
  friend class ServerStream<Message>;
  void Remove(ServerStream<Message>* stream) {
    absl::MutexLock lock(&mu_);
    streams_.erase(stream);
  }

  const std::string shutting_down_;
  absl::Mutex mu_;
  std::set<ServerStream<Message>*> streams_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

template <typename Message>
void ServerStream<Message>::OnDone() {
  OnStreamDone();
  if (set_ != nullptr) set_->Remove(this);
  delete this;
}

}  // namespace tandem
