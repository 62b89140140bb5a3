#include "tests/testing/subprocess.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

extern char** environ;

namespace tandem::testing {
namespace {

constexpr auto kExitPollInterval = std::chrono::milliseconds(10);

// The environment for children, without MYSQL_* and MARIADB_* variables,
// which the client tools would honour (MYSQL_HOST, MYSQL_PWD, ...).
std::vector<std::string> ChildEnvironment() {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const absl::string_view var(*e);
    if (!absl::StartsWith(var, "MYSQL") && !absl::StartsWith(var, "MARIADB")) {
      env.emplace_back(var);
    }
  }
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> result;
  result.reserve(strings.size() + 1);
  for (std::string& s : strings) {
    result.push_back(s.data());
  }
  result.push_back(nullptr);
  return result;
}

}  // namespace

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string ErrnoText(absl::string_view what, int error) {
  return absl::StrCat(what, ": ", strerror(error));
}

std::string TailOfFile(const std::string& path, int max_lines,
                       std::streamoff offset) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::StrCat("(cannot read ", path, ")");
  }
  in.seekg(offset);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  size_t start = text.size();
  int lines = 0;
  while (start > 0 && lines <= max_lines) {
    start = text.rfind('\n', start - 1);
    if (start == std::string::npos) {
      start = 0;
      break;
    }
    ++lines;
  }
  if (lines > max_lines) {
    ++start;  // Skip the newline that ends the line before the tail.
  }
  return std::string(absl::StripTrailingAsciiWhitespace(text.substr(start)));
}

std::streamoff FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view content, mode_t mode) {
  const std::string tmp = path + ".tmp";
  Fd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (fd.get() < 0) {
    return absl::InternalError(ErrnoText(absl::StrCat("open ", tmp), errno));
  }
  // The mode given to open() is masked by the umask; set it exactly.
  if (fchmod(fd.get(), mode) != 0) {
    return absl::InternalError(ErrnoText(absl::StrCat("chmod ", tmp), errno));
  }
  while (!content.empty()) {
    const ssize_t n = write(fd.get(), content.data(), content.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return absl::InternalError(ErrnoText(absl::StrCat("write ", tmp), errno));
    }
    content.remove_prefix(static_cast<size_t>(n));
  }
  fd.Reset();
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(
        ErrnoText(absl::StrCat("rename ", tmp, " to ", path), errno));
  }
  return absl::OkStatus();
}

absl::StatusOr<pid_t> Spawn(std::vector<std::string> argv, int stdin_fd,
                            int stdout_fd, int stderr_fd,
                            bool die_with_parent) {
  // Everything the child needs is allocated here: after fork() in a
  // multi-threaded process, only async-signal-safe calls are allowed.
  std::vector<std::string> env = ChildEnvironment();
  std::vector<char*> c_argv = CStrings(argv);
  std::vector<char*> c_env = CStrings(env);
  int exec_error_pipe[2];
  if (pipe2(exec_error_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(ErrnoText("pipe2", errno));
  }
  Fd error_read(exec_error_pipe[0]);
  Fd error_write(exec_error_pipe[1]);
  const pid_t parent = getpid();

  const pid_t pid = fork();
  if (pid < 0) {
    return absl::InternalError(ErrnoText("fork", errno));
  }
  if (pid == 0) {
    auto fail = [&](int error) {
      (void)!write(error_write.get(), &error, sizeof(error));
      _exit(127);
    };
    if (die_with_parent) {
      if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
        fail(errno);
      }
      // The parent may have died before prctl() took effect.
      if (getppid() != parent) {
        _exit(127);
      }
    } else if (setsid() < 0) {
      fail(errno);  // A session of its own: no signals from our terminal.
    }
    // Move the three descriptors above 2 first, so that dup2() cannot
    // clobber one with another.
    const int sources[3] = {stdin_fd, stdout_fd, stderr_fd};
    int high[3];
    for (int i = 0; i < 3; ++i) {
      high[i] = fcntl(sources[i], F_DUPFD_CLOEXEC, 3);
      if (high[i] < 0) {
        fail(errno);
      }
    }
    for (int i = 0; i < 3; ++i) {
      if (dup2(high[i], i) < 0) {
        fail(errno);
      }
    }
    const unsigned error_fd = static_cast<unsigned>(error_write.get());
    if (error_fd > 3) {
      close_range(3, error_fd - 1, 0);
    }
    close_range(error_fd + 1, ~0U, 0);
    for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT}) {
      signal(sig, SIG_DFL);
    }
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, nullptr);
    execve(c_argv[0], c_argv.data(), c_env.data());
    fail(errno);
  }

  error_write.Reset();
  int child_error = 0;
  ssize_t n;
  do {
    n = read(error_read.get(), &child_error, sizeof(child_error));
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return absl::InternalError(
        ErrnoText(absl::StrCat("starting ", argv[0]), child_error));
  }
  return pid;
}

// Waits for `pid` until `deadline_ms` (NowMs() clock); -1 waits forever.
// Returns true and the wait status once it has exited.
bool WaitForExit(pid_t pid, int64_t deadline_ms, int* status) {
  while (true) {
    const pid_t r = waitpid(pid, status, deadline_ms < 0 ? 0 : WNOHANG);
    if (r == pid) {
      return true;
    }
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r < 0) {
      return true;  // Already reaped (ECHILD): nothing left to wait for.
    }
    if (NowMs() >= deadline_ms) {
      return false;
    }
    std::this_thread::sleep_for(kExitPollInterval);
  }
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) {
    return absl::StrCat("exit status ", WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return absl::StrCat("killed by signal ", WTERMSIG(status));
  }
  return absl::StrCat("wait status ", status);
}

// Runs argv to completion, feeding it `input` on stdin and collecting its
// stdout and stderr. DEADLINE_EXCEEDED (after SIGKILLing it) if it runs for
// longer than `timeout_ms`.
absl::StatusOr<RunResult> Run(std::vector<std::string> argv,
                              absl::string_view input, int timeout_ms) {
  // stdin is a socket so that send(MSG_NOSIGNAL) reports a child that exits
  // without reading as EPIPE instead of raising SIGPIPE in the test.
  int in_pair[2], out_pipe[2], err_pipe[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_pair) != 0) {
    return absl::InternalError(ErrnoText("socketpair", errno));
  }
  Fd in_parent(in_pair[0]), in_child(in_pair[1]);
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(ErrnoText("pipe2", errno));
  }
  Fd out_parent(out_pipe[0]), out_child(out_pipe[1]);
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(ErrnoText("pipe2", errno));
  }
  Fd err_parent(err_pipe[0]), err_child(err_pipe[1]);

  const std::string program = argv[0];
  absl::StatusOr<pid_t> pid =
      Spawn(std::move(argv), in_child.get(), out_child.get(), err_child.get(),
            /*die_with_parent=*/true);
  if (!pid.ok()) {
    return pid.status();
  }
  in_child.Reset();
  out_child.Reset();
  err_child.Reset();
  if (input.empty()) {
    in_parent.Reset();
  }

  RunResult result;
  const int64_t deadline = NowMs() + timeout_ms;
  bool timed_out = false;
  while (out_parent.get() >= 0 || err_parent.get() >= 0) {
    pollfd fds[3] = {{in_parent.get(), POLLOUT, 0},
                     {out_parent.get(), POLLIN, 0},
                     {err_parent.get(), POLLIN, 0}};
    const int64_t left = deadline - NowMs();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    const int n = poll(fds, 3, static_cast<int>(left));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      kill(*pid, SIGKILL);
      int status;
      WaitForExit(*pid, -1, &status);
      return absl::InternalError(ErrnoText("poll", errno));
    }
    if (fds[0].revents != 0) {
      const ssize_t sent = send(in_parent.get(), input.data(), input.size(),
                                MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent > 0) {
        input.remove_prefix(static_cast<size_t>(sent));
      }
      if ((sent < 0 && errno != EAGAIN && errno != EINTR) || input.empty()) {
        in_parent.Reset();  // Done, or the child stopped reading.
      }
    }
    char buffer[16384];
    for (auto [index, fd, sink] : {std::tuple{1, &out_parent, &result.out},
                                   std::tuple{2, &err_parent, &result.err}}) {
      if (fds[index].revents == 0) {
        continue;
      }
      const ssize_t got = read(fd->get(), buffer, sizeof(buffer));
      if (got > 0) {
        sink->append(buffer, static_cast<size_t>(got));
      } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
        fd->Reset();
      }
    }
  }
  if (timed_out) {
    kill(*pid, SIGKILL);
  }
  WaitForExit(*pid, -1, &result.status);
  if (timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat(program, " did not finish within ", timeout_ms, " ms"));
  }
  return result;
}

}  // namespace tandem::testing
