// A fixed set of threads running queued tasks: blocking work (database
// calls) is handed here so gRPC's callback threads never block.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tandem {

class WorkerPool {
 public:
  // Starts `threads` workers (at least one).
  explicit WorkerPool(int threads);
  // Runs the tasks already queued, then joins the workers.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`; it runs on some worker, in FIFO order of starting.
  void Submit(std::function<void()> task);

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace tandem
