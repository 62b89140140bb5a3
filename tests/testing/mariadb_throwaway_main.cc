// tandem-mariadb-throwaway: a disposable MariaDB server for scripts, the demo
// and benchmarks: the server MariaDbServer starts for tests, started
// detached in a directory of the caller's choosing.
//
//   tandem-mariadb-throwaway start DIR [PORT] [--skip-binlog] [--server-id=N]
//   tandem-mariadb-throwaway stop DIR
//   tandem-mariadb-throwaway sql DIR [DB [CLIENT_OPTION...]]
//
// `start` makes DIR if needed, starts mariadbd on 127.0.0.1:PORT (a free port
// if none is given) with its socket DIR/sock and the row-based binary log in
// DIR/binlog (unless --skip-binlog), creates the tandem users (password from
// $TANDEM_TEST_DB_PASSWORD, default "tandem-test"), and writes DIR/env,
// which it also prints on stdout:
//
//   export TANDEM_DB_PORT=... TANDEM_DB_SOCKET=... TANDEM_DB_URL=...
//   export TANDEM_DB_USER=tandem TANDEM_DB_PASSWORD_FILE=DIR/password
//
// On a DIR whose server runs it only prints the env; on a DIR whose server
// died it starts it again on the existing data (on the same port if free).
// `stop` stops the server (SIGTERM; SIGKILL after $MARIADB_THROWAWAY_TIMEOUT
// seconds, default 30) and removes DIR. `sql` runs the mariadb client as root
// over the socket. A DIR that exists, is not empty and was not made by this
// tool is refused. Progress and errors go to stderr; the exit status is 0 on
// success, 1 on failure and 2 for a usage error.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/testing/mariadb_server.h"
#include "tests/testing/subprocess.h"

extern char** environ;

namespace tandem::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kProgram[] = "mariadb-throwaway";
constexpr char kMarker[] = ".mariadb-throwaway";
constexpr char kClient[] = "/usr/bin/mariadb";
constexpr char kAdmin[] = "/usr/bin/mariadb-admin";

int Usage() {
  std::cerr << "usage:\n"
               "  mariadb-throwaway start DIR [PORT] [--skip-binlog] "
               "[--server-id=N]\n"
               "                                     start a server in DIR, "
               "print its env\n"
               "  mariadb-throwaway stop DIR         stop it and remove DIR\n"
               "  mariadb-throwaway sql DIR [DB [CLIENT_OPTION...]]\n"
               "                                     run SQL from stdin as "
               "root\n";
  return 2;
}

int Fail(const std::string& message) {
  std::cerr << kProgram << ": " << message << "\n";
  return 1;
}

std::string ReadLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// Whether `pid` is a live (not zombie) mariadbd with socket DIR/sock; the
// command line guards against a recycled pid.
bool IsOurServer(int pid, const std::string& dir) {
  if (pid <= 0) return false;
  const std::string stat = ReadLine(absl::StrCat("/proc/", pid, "/stat"));
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return false;
  const char state = stat[paren + 2];
  if (state == 'Z' || state == 'X') return false;
  std::ifstream in(absl::StrCat("/proc/", pid, "/cmdline"), std::ios::binary);
  std::string args((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  return absl::StrContains(args, "mariadbd") &&
         absl::StrContains(args, std::string("--socket=") + dir + "/sock" +
                                     std::string(1, '\0'));
}

int ServerPid(const std::string& dir) {
  int pid = 0;
  return absl::SimpleAtoi(ReadLine(dir + "/server.pid"), &pid) ? pid : 0;
}

bool Ping(const std::string& dir) {
  absl::StatusOr<RunResult> ping =
      Run({kAdmin, "--no-defaults", "--protocol=socket",
           absl::StrCat("--socket=", dir, "/sock"), "--user=root",
           "--connect-timeout=2", "ping"},
          "", 10'000);
  return ping.ok() && ping->ok();
}

// Shell-quotes `s` as bash's printf %q would for the characters paths and
// URLs hold.
std::string Quote(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (!absl::ascii_isalnum(c) &&
        std::string("/._-:+=,@%").find(c) == std::string::npos) {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  return out;
}

std::string EnvText(const std::string& dir, int port, const std::string& user,
                    const std::string& password_file) {
  return absl::StrCat(
      "export TANDEM_DB_PORT=", port, "\n",
      "export TANDEM_DB_SOCKET=", Quote(dir + "/sock"), "\n",
      "export TANDEM_DB_URL=", Quote(absl::StrCat("tcp://127.0.0.1:", port)),
      "\n", "export TANDEM_DB_USER=", Quote(user), "\n",
      "export TANDEM_DB_PASSWORD_FILE=", Quote(password_file), "\n");
}

// Makes DIR (refusing a foreign, non-empty one), marks it ours, and takes
// its lock for the life of the process. Returns the absolute path.
absl::StatusOr<std::string> ClaimDir(const std::string& given, bool create) {
  std::error_code ec;
  if (fs::exists(given, ec) && !fs::exists(fs::path(given) / kMarker, ec) &&
      !fs::is_empty(given, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat(given, " exists, is not empty and was not made by ",
                     kProgram, "; refusing to use it"));
  }
  if (create) fs::create_directories(given, ec);
  const std::string dir = fs::canonical(given, ec).string();
  if (ec) {
    return absl::InternalError(absl::StrCat(given, ": ", ec.message()));
  }
  if (create) std::ofstream(dir + "/" + kMarker).flush();
  const int lock = open((dir + "/.lock").c_str(), O_WRONLY | O_CREAT, 0644);
  if (lock < 0 || flock(lock, LOCK_EX) != 0) {
    return absl::InternalError(ErrnoText(absl::StrCat("lock ", dir), errno));
  }
  return dir;  // The lock is released when the process exits.
}

// Sends `signal` to the server and waits up to `timeout_ms` for it to go.
bool SignalAndWait(int pid, const std::string& dir, int signal,
                   int64_t timeout_ms) {
  kill(pid, signal);
  const int64_t deadline = NowMs() + timeout_ms;
  while (IsOurServer(pid, dir)) {
    if (NowMs() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

int64_t StopTimeoutMs() {
  const char* env = getenv("MARIADB_THROWAWAY_TIMEOUT");
  int64_t seconds = 30;
  if (env != nullptr && !absl::SimpleAtoi(env, &seconds)) seconds = 30;
  return seconds * 1000;
}

int Start(const std::vector<std::string>& args) {
  MariaDbServerOptions options;
  options.detached = true;
  std::string given;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    uint32_t id = 0;
    if (a == "--skip-binlog") {
      options.binlog = false;
    } else if (absl::StartsWith(a, "--server-id=")) {
      if (!absl::SimpleAtoi(a.substr(12), &id) || id == 0) {
        return Fail(absl::StrCat("--server-id must be 1-4294967295, got '",
                                 a.substr(12), "'"));
      }
      options.server_id = id;
    } else if (absl::StartsWith(a, "-")) {
      return Usage();
    } else if (given.empty()) {
      given = a;
    } else if (options.port == 0) {
      if (!absl::SimpleAtoi(a, &options.port) || options.port <= 0 ||
          options.port > 65535) {
        return Fail(absl::StrCat("PORT must be a number, got '", a, "'"));
      }
    } else {
      return Usage();
    }
  }
  if (given.empty()) return Usage();
  absl::StatusOr<std::string> dir = ClaimDir(given, /*create=*/true);
  if (!dir.ok()) return Fail(std::string(dir.status().message()));
  const int pid = ServerPid(*dir);
  if (IsOurServer(pid, *dir)) {
    if (!Ping(*dir)) {
      return Fail(absl::StrCat("mariadbd (pid ", pid, ") runs in ", *dir,
                               " but does not answer; stop it first"));
    }
    if (fs::exists(*dir + "/env")) {
      std::ifstream env(*dir + "/env");
      std::cout << env.rdbuf();
      return 0;
    }
    // An earlier start died before writing the env: start over.
    SignalAndWait(pid, *dir, SIGTERM, StopTimeoutMs());
  }
  options.dir = *dir;
  absl::StatusOr<std::unique_ptr<MariaDbServer>> server =
      MariaDbServer::Start(options);
  if (!server.ok()) return Fail(server.status().ToString());
  const std::string env = EnvText(*dir, (*server)->port(), (*server)->user(),
                                  (*server)->password_file());
  if (absl::Status s = WriteFileAtomically(*dir + "/env", env, 0644); !s.ok()) {
    return Fail(s.ToString());
  }
  std::cerr << kProgram << ": mariadbd (pid " << (*server)->pid()
            << ") ready on 127.0.0.1:" << (*server)->port() << ", socket "
            << (*server)->socket_path()
            << ((*server)->binlog() ? absl::StrCat(", binlog on (server id ",
                                                   (*server)->server_id(), ")")
                                    : std::string(", binlog off"))
            << "\n";
  std::cout << env;
  return 0;
}

int Stop(const std::string& given) {
  std::error_code ec;
  if (!fs::exists(given, ec)) return 0;  // Already stopped and removed.
  if (!fs::exists(fs::path(given) / kMarker, ec)) {
    return Fail(absl::StrCat(given, " was not made by ", kProgram,
                             "; refusing to remove it"));
  }
  absl::StatusOr<std::string> dir = ClaimDir(given, /*create=*/false);
  if (!dir.ok()) return Fail(std::string(dir.status().message()));
  const int pid = ServerPid(*dir);
  if (IsOurServer(pid, *dir) &&
      !SignalAndWait(pid, *dir, SIGTERM, StopTimeoutMs())) {
    std::cerr << kProgram << ": mariadbd (pid " << pid
              << ") ignored SIGTERM; sending SIGKILL\n";
    if (!SignalAndWait(pid, *dir, SIGKILL, 5000)) {
      return Fail(absl::StrCat("mariadbd (pid ", pid, ") survived SIGKILL; ",
                               *dir, " left in place"));
    }
  }
  fs::remove_all(*dir, ec);
  if (ec) return Fail(absl::StrCat("cannot remove ", *dir, ": ", ec.message()));
  return 0;
}

int Sql(const std::vector<std::string>& args) {
  if (args.empty()) return Usage();
  const std::string socket = args[0] + "/sock";
  if (!fs::is_socket(socket)) {
    return Fail(
        absl::StrCat("no server socket at ", socket, "; is it started?"));
  }
  std::vector<std::string> argv = {
      kClient, "--no-defaults", "--protocol=socket",
      absl::StrCat("--socket=", socket), "--user=root"};
  for (size_t i = 2; i < args.size(); ++i) argv.push_back(args[i]);
  if (args.size() > 1 && !args[1].empty()) argv.push_back(args[1]);
  // The client honours MYSQL_HOST, MYSQL_PWD and friends, which would send
  // it elsewhere or make root's login fail.
  std::vector<std::string> names;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string var(*e);
    if (absl::StartsWith(var, "MYSQL") || absl::StartsWith(var, "MARIADB")) {
      names.push_back(var.substr(0, var.find('=')));
    }
  }
  for (const std::string& n : names) unsetenv(n.c_str());
  std::vector<char*> c_argv;
  for (std::string& a : argv) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  execv(kClient, c_argv.data());
  return Fail(ErrnoText(absl::StrCat("exec ", kClient), errno));
}

}  // namespace
}  // namespace tandem::testing

int main(int argc, char** argv) {
  using namespace tandem::testing;
  if (argc < 3 || std::string(argv[2]).empty()) return Usage();
  const std::string command = argv[1];
  std::vector<std::string> rest(argv + 2, argv + argc);
  if (command == "start") return Start(rest);
  if (command == "stop") return rest.size() == 1 ? Stop(rest[0]) : Usage();
  if (command == "sql") return Sql(rest);
  return Usage();
}
