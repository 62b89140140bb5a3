// WatchBatch streams: one thread polls the control database for every
// watched batch at its interval and writes what changed to each stream (the
// callback API's write reactor, one write in flight at a time; a newer
// message replaces one still waiting). A finished batch gets one last
// message with `batch_finished` and the stream ends OK; shutting down ends
// every stream with UNAVAILABLE.
#pragma once

#include <grpcpp/grpcpp.h>

#include <map>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "migrator/batch/batch_store.h"
#include "tandem/migrator/v1/migrator.pb.h"

namespace tandem::migrator {

class BatchWatchHub {
 public:
  BatchWatchHub(BatchStore* store, Clock& clock = Clock::Real());
  ~BatchWatchHub();

  // A stream following `batch_id` (which must exist).
  grpc::ServerWriteReactor<::tandem::migrator::v1::WatchBatchResponse>* Watch(
      int64_t batch_id, absl::Duration interval, bool include_items);

  // Ends every stream with UNAVAILABLE and stops polling; later Watch calls
  // are refused the same way. Idempotent.
  void Shutdown();

  // Streams open now.
  int watchers();

 private:
  class Reactor;
  struct Watcher {
    int64_t batch_id = 0;
    absl::Duration interval;
    bool include_items = false;
    absl::Time due = absl::InfinitePast();
    int64_t items_since_ms = 0;
    std::string last_batch;  // serialized, to send only changes
    bool first = true;
  };
  void Loop();
  void Poll(Reactor* reactor, Watcher& w);
  void Done(Reactor* reactor);

  BatchStore* store_;
  Clock& clock_;
  absl::Mutex mu_;
  std::map<Reactor*, Watcher> watchers_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread loop_;
};

}  // namespace tandem::migrator
