// Process and file helpers shared by MariaDbServer (mariadb_server.h) and the
// tandem-mariadb-throwaway tool: spawning a child with exactly the
// descriptors it should have, running a client to completion with a
// deadline, and writing files atomically. Not meant for other users.
#pragma once

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <ios>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tandem::testing {

// Milliseconds on a monotonic clock.
int64_t NowMs();

// "what: strerror(error)".
std::string ErrnoText(absl::string_view what, int error);

// Owns a file descriptor and closes it.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    Reset(std::exchange(other.fd_, -1));
    return *this;
  }
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  void Reset(int fd = -1) {
    if (fd_ >= 0) {
      close(fd_);
    }
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// The last `max_lines` lines of the file at `path`, from byte `offset` on;
// a note instead if it cannot be read.
std::string TailOfFile(const std::string& path, int max_lines,
                       std::streamoff offset = 0);

// The size of the file at `path`; 0 if it cannot be read.
std::streamoff FileSize(const std::string& path);

// Writes `content` to `path` through a temporary file and a rename, with
// exactly `mode`. INTERNAL on any system-call failure.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view content, mode_t mode);

// Forks and execs argv[0] with the given stdin, stdout and stderr, an
// environment without MYSQL* and MARIADB* variables (which the client tools
// would honour), no other descriptors, default handlers for the signals we
// send and an empty signal mask. With `die_with_parent`, the child is
// SIGKILLed when the calling thread exits (PR_SET_PDEATHSIG); without it,
// the child runs in a session of its own and outlives us. Returns the
// child's pid once exec succeeded; INTERNAL otherwise.
absl::StatusOr<pid_t> Spawn(std::vector<std::string> argv, int stdin_fd,
                            int stdout_fd, int stderr_fd, bool die_with_parent);

// Waits for our child `pid` until `deadline_ms` (NowMs() clock); -1 waits
// forever. Returns true and the wait status once it has exited.
bool WaitForExit(pid_t pid, int64_t deadline_ms, int* status);

// "exit status N", "killed by signal N", ...
std::string DescribeWaitStatus(int status);

struct RunResult {
  int status = 0;  // As from waitpid().
  std::string out;
  std::string err;
  bool ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};

// Runs argv to completion (a child that dies with us), feeding it `input` on
// stdin and collecting its stdout and stderr. DEADLINE_EXCEEDED (after
// SIGKILLing it) if it runs for longer than `timeout_ms`.
absl::StatusOr<RunResult> Run(std::vector<std::string> argv,
                              absl::string_view input, int timeout_ms);

}  // namespace tandem::testing
