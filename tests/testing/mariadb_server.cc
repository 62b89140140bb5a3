#include "tests/testing/mariadb_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "tests/testing/subprocess.h"

namespace tandem::testing {
namespace {

constexpr char kMariadbd[] = "/usr/sbin/mariadbd";
constexpr char kInstallDb[] = "/usr/bin/mariadb-install-db";
constexpr char kClient[] = "/usr/bin/mariadb";
constexpr char kAdmin[] = "/usr/bin/mariadb-admin";
constexpr char kDirPrefix[] = "tandem-mariadb-";
constexpr char kUser[] = "tandem";
constexpr char kDefaultPassword[] = "tandem-test";

// Start-up takes about 0.1 s and installing about 0.7 s on an idle machine;
// the deadlines leave room for a machine busy compiling.
constexpr int kInstallTimeoutMs = 120'000;
constexpr int kReadyTimeoutMs = 60'000;
constexpr int kStopTimeoutMs = 30'000;
constexpr int kKillTimeoutMs = 10'000;
constexpr int kClientTimeoutMs = 120'000;
constexpr int kPingTimeoutMs = 10'000;
constexpr auto kPollInterval = std::chrono::milliseconds(10);
constexpr int kLaunchAttempts = 3;
constexpr int kLogTailLines = 25;

// A port on 127.0.0.1 that nothing listens on right now. Another process
// may take it before mariadbd binds it; Start() retries when that happens.
absl::StatusOr<int> PickFreePort() {
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    return absl::InternalError(ErrnoText("socket", errno));
  }
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return absl::InternalError(ErrnoText("bind 127.0.0.1:0", errno));
  }
  socklen_t len = sizeof(addr);
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::InternalError(ErrnoText("getsockname", errno));
  }
  return ntohs(addr.sin_port);
}

bool IsSocket(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

std::string TempRoot() {
  const char* tmpdir = getenv("TMPDIR");
  std::string root = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
  while (root.size() > 1 && root.back() == '/') {
    root.pop_back();
  }
  return root;
}

// Identifies this process's pid namespace, so that a directory made in
// another container sharing the temp root is never taken for a dead one.
std::string PidNamespace() {
  std::error_code ec;
  std::filesystem::path ns =
      std::filesystem::read_symlink("/proc/self/ns/pid", ec);
  return ec ? "" : ns.string();
}

// Best effort: removes "tandem-mariadb-*" directories under `root` that a
// process of our pid namespace and user made and that process is gone,
// SIGKILLing a server still running there (normally PR_SET_PDEATHSIG did).
void RemoveStaleDirs(const std::string& root) {
  namespace fs = std::filesystem;
  const std::string own_namespace = PidNamespace();
  std::error_code ec;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end;
       it.increment(ec)) {
    const fs::path dir = it->path();
    if (!absl::StartsWith(dir.filename().string(), kDirPrefix)) {
      continue;
    }
    struct stat st;
    if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
        st.st_uid != geteuid()) {
      continue;
    }
    // Written (atomically) right after the directory was made; without it
    // the directory may be seconds old and its owner alive.
    std::ifstream owner_file(dir / "owner.pid");
    std::string pid_line, namespace_line;
    int owner = 0;
    if (!std::getline(owner_file, pid_line) ||
        !std::getline(owner_file, namespace_line) ||
        !absl::SimpleAtoi(pid_line, &owner) || owner <= 0 ||
        namespace_line != own_namespace) {
      continue;
    }
    if (owner == getpid() || kill(owner, 0) == 0 || errno != ESRCH) {
      continue;  // Alive (EPERM: alive, but someone else's).
    }
    std::ifstream server_file(dir / "server.pid");
    int server = 0;
    std::string server_line;
    if (std::getline(server_file, server_line) &&
        absl::SimpleAtoi(server_line, &server) && server > 0) {
      std::ifstream cmdline(absl::StrCat("/proc/", server, "/cmdline"));
      std::string args((std::istreambuf_iterator<char>(cmdline)),
                       std::istreambuf_iterator<char>());
      if (absl::StrContains(args, dir.string())) {
        kill(server, SIGKILL);
      }
    }
    fs::remove_all(dir, ec);
    ec.clear();
  }
}

// Where the pristine data directory made by mariadb-install-db for this
// mariadbd build and user is kept, so that only the first Start() on a
// machine pays for installing (0.7 s idle, up to 4 s on a busy machine) and
// later ones copy it (about 0.1 s). Empty if mariadbd cannot be found. The
// name does not start with kDirPrefix, so RemoveStaleDirs() leaves it alone.
std::string TemplatePath(const std::string& root) {
  struct stat st;
  if (stat(kMariadbd, &st) != 0) {
    return "";
  }
  return absl::StrCat(root, "/tandem-mariadb.template-v1-", st.st_size, "-",
                      st.st_mtim.tv_sec, "-uid", geteuid());
}

// Copies the regular file `from` to the new file `to` with its mode, leaving
// holes where `from` has blocks of zeros (most of a fresh 96 MiB redo log).
absl::Status CopyFileSparse(const std::string& from, const std::string& to) {
  Fd in(open(from.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st;
  if (in.get() < 0 || fstat(in.get(), &st) != 0) {
    return absl::InternalError(ErrnoText(absl::StrCat("open ", from), errno));
  }
  const mode_t mode = st.st_mode & 07777;
  Fd out(open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (out.get() < 0 || fchmod(out.get(), mode) != 0) {
    return absl::InternalError(ErrnoText(absl::StrCat("create ", to), errno));
  }
  std::vector<char> buffer(1 << 16);
  while (true) {
    const ssize_t n = read(in.get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return absl::InternalError(ErrnoText(absl::StrCat("read ", from), errno));
    }
    if (n == 0) {
      break;
    }
    const size_t size = static_cast<size_t>(n);
    if (buffer[0] == 0 &&
        memcmp(buffer.data(), buffer.data() + 1, size - 1) == 0) {
      if (lseek(out.get(), n, SEEK_CUR) < 0) {
        return absl::InternalError(ErrnoText(absl::StrCat("seek ", to), errno));
      }
      continue;
    }
    for (size_t done = 0; done < size;) {
      const ssize_t w = write(out.get(), buffer.data() + done, size - done);
      if (w < 0 && errno == EINTR) {
        continue;
      }
      if (w < 0) {
        return absl::InternalError(
            ErrnoText(absl::StrCat("write ", to), errno));
      }
      done += static_cast<size_t>(w);
    }
  }
  if (ftruncate(out.get(), st.st_size) != 0) {
    return absl::InternalError(ErrnoText(absl::StrCat("truncate ", to), errno));
  }
  return absl::OkStatus();
}

// Copies the directory tree `from` (directories and regular files only, as
// in a data directory) to the new directory `to`, keeping modes.
absl::Status CopyTree(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directory(to, ec);
  if (!ec) {
    fs::permissions(to, fs::status(from, ec).permissions(), ec);
  }
  if (ec) {
    return absl::InternalError(absl::StrCat("mkdir ", to, ": ", ec.message()));
  }
  for (fs::recursive_directory_iterator it(from, ec), end; !ec && it != end;
       it.increment(ec)) {
    const fs::path target = fs::path(to) / fs::relative(it->path(), from);
    const fs::file_status status = it->symlink_status(ec);
    if (ec) {
      break;
    }
    if (fs::is_directory(status)) {
      fs::create_directory(target, ec);
      if (!ec) {
        fs::permissions(target, status.permissions(), ec);
      }
    } else if (fs::is_regular_file(status)) {
      if (absl::Status s = CopyFileSparse(it->path(), target); !s.ok()) {
        return s;
      }
    } else {
      return absl::InternalError(
          absl::StrCat("cannot copy ", it->path().string(),
                       ": neither a directory nor a regular file"));
    }
  }
  if (ec) {
    return absl::InternalError(
        absl::StrCat("copy ", from, " to ", to, ": ", ec.message()));
  }
  return absl::OkStatus();
}

std::string SqlString(absl::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\\' || c == '\'') {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

// Turns a failed client run into a status whose code follows the MariaDB
// error number in its message ("ERROR 1146 (42S02) at line 1: ...").
absl::Status ClientError(const RunResult& result) {
  std::string message(absl::StripAsciiWhitespace(result.err));
  if (message.empty()) {
    message = absl::StrCat("mariadb client failed with ",
                           DescribeWaitStatus(result.status));
  }
  const size_t at = message.rfind("ERROR ");
  int code = 0;
  if (at != std::string::npos) {
    absl::string_view rest = absl::string_view(message).substr(at + 6);
    rest = rest.substr(0, rest.find_first_not_of("0123456789"));
    if (!absl::SimpleAtoi(rest, &code)) {
      code = 0;
    }
  }
  switch (code) {
    case 0:
      return absl::InternalError(message);
    case 2002:  // CR_CONNECTION_ERROR
    case 2003:  // CR_CONN_HOST_ERROR
    case 2006:  // CR_SERVER_GONE_ERROR
    case 2013:  // CR_SERVER_LOST
      return absl::UnavailableError(message);
    case 1205:  // ER_LOCK_WAIT_TIMEOUT
    case 1213:  // ER_LOCK_DEADLOCK
      return absl::AbortedError(message);
    case 1007:  // ER_DB_CREATE_EXISTS
    case 1022:  // ER_DUP_KEY
    case 1050:  // ER_TABLE_EXISTS_ERROR
    case 1062:  // ER_DUP_ENTRY
      return absl::AlreadyExistsError(message);
    case 1049:  // ER_BAD_DB_ERROR
    case 1051:  // ER_BAD_TABLE_ERROR
    case 1146:  // ER_NO_SUCH_TABLE
      return absl::NotFoundError(message);
    case 1044:  // ER_DBACCESS_DENIED_ERROR
    case 1045:  // ER_ACCESS_DENIED_ERROR
    case 1142:  // ER_TABLEACCESS_DENIED_ERROR
      return absl::PermissionDeniedError(message);
    default:
      return absl::InvalidArgumentError(message);
  }
}

// Puts a pristine data directory into DIR/data: a copy of the template when
// there is one, else a fresh mariadb-install-db (then published as the
// template). Returns whether it was copied from the template.
absl::StatusOr<bool> InstallDataDir(const std::string& dir,
                                    const std::string& root) {
  const std::string data_dir = dir + "/data";
  std::error_code ec;
  std::filesystem::remove_all(data_dir, ec);  // A half-made one, if any.
  const std::string template_dir = TemplatePath(root);
  if (!template_dir.empty() &&
      std::filesystem::is_directory(template_dir + "/mysql")) {
    if (CopyTree(template_dir, data_dir).ok()) {
      return true;
    }
    std::filesystem::remove_all(data_dir, ec);  // Fall back to installing.
  }
  std::vector<std::string> install = {
      kInstallDb,
      "--no-defaults",
      absl::StrCat("--datadir=", data_dir),
      absl::StrCat("--tmpdir=", dir, "/tmp"),
      "--auth-root-authentication-method=normal",
      "--skip-test-db",
  };
  if (geteuid() == 0) {
    install.push_back("--user=root");
  }
  absl::StatusOr<RunResult> installed =
      Run(std::move(install), "", kInstallTimeoutMs);
  if (!installed.ok()) {
    return installed.status();
  }
  {
    std::ofstream log(dir + "/install.log");
    log << installed->out << installed->err;
  }
  if (!installed->ok()) {
    return absl::InternalError(
        absl::StrCat("mariadb-install-db failed with ",
                     DescribeWaitStatus(installed->status), ": ",
                     TailOfFile(dir + "/install.log", kLogTailLines)));
  }
  // Best effort: publish a copy as the template. The copy is made inside
  // our directory (so a crash leaves nothing behind outside it) and then
  // renamed into place, which fails harmlessly if another process won.
  if (!template_dir.empty()) {
    const std::string copy = dir + "/template";
    if (!CopyTree(data_dir, copy).ok() ||
        rename(copy.c_str(), template_dir.c_str()) != 0) {
      std::filesystem::remove_all(copy, ec);
    }
  }
  return false;
}

}  // namespace

MariaDbServer::MariaDbServer(std::string dir, std::string password,
                             MariaDbServerOptions options)
    : dir_(std::move(dir)),
      socket_path_(dir_ + "/sock"),
      user_(kUser),
      password_(std::move(password)),
      options_(std::move(options)) {}

namespace {

// Makes the directory a server lives in: a new temporary one, or the one
// the options name (created if missing). Returns its absolute path.
absl::StatusOr<std::string> MakeServerDir(const MariaDbServerOptions& options,
                                          const std::string& root) {
  if (options.dir.empty()) {
    std::string dir = absl::StrCat(root, "/", kDirPrefix, "XXXXXX");
    if (mkdtemp(dir.data()) == nullptr) {
      return absl::InternalError(
          ErrnoText(absl::StrCat("cannot make a directory ", kDirPrefix,
                                 "XXXXXX in ", root),
                    errno));
    }
    return dir;
  }
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  std::filesystem::path dir = std::filesystem::canonical(options.dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot make directory ",
                                            options.dir, ": ", ec.message()));
  }
  return dir.string();
}

}  // namespace

absl::StatusOr<std::unique_ptr<MariaDbServer>> MariaDbServer::Start(
    const MariaDbServerOptions& options) {
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("port must be 0-65535, got ", options.port));
  }
  const std::string root = TempRoot();
  if (options.dir.empty()) {
    RemoveStaleDirs(root);
  }
  absl::StatusOr<std::string> made_dir = MakeServerDir(options, root);
  if (!made_dir.ok()) {
    return made_dir.status();
  }
  const char* password_env = getenv("TANDEM_TEST_DB_PASSWORD");
  // Owns the directory from here on: every return below removes a
  // temporary one (and stops a server it started, unless detached).
  std::unique_ptr<MariaDbServer> server(new MariaDbServer(
      *made_dir,
      password_env != nullptr && *password_env != '\0' ? password_env
                                                       : kDefaultPassword,
      options));
  server->owns_dir_ = options.dir.empty();
  const std::string& dir = server->dir_;

  if (server->owns_dir_) {
    if (absl::Status s = WriteFileAtomically(
            dir + "/owner.pid",
            absl::StrCat(getpid(), "\n", PidNamespace(), "\n"), 0644);
        !s.ok()) {
      return s;
    }
  }
  if (server->socket_path_.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return absl::FailedPreconditionError(
        absl::StrCat("socket path ", server->socket_path_, " is longer than ",
                     sizeof(sockaddr_un{}.sun_path) - 1,
                     " bytes; use a shorter directory (or TMPDIR)"));
  }
  // mariadb-install-db passes server options on without quoting them.
  if (std::any_of(dir.begin(), dir.end(), absl::ascii_isspace)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "directory '", dir, "' contains white space; use another (or TMPDIR)"));
  }
  // Every server deletes all "#sql*" files in its tmpdir when it starts, so
  // servers sharing /tmp would break each other's temporary tables.
  for (const char* sub : {"/tmp", "/binlog"}) {
    if (mkdir((dir + sub).c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::InternalError(
          ErrnoText(absl::StrCat("mkdir ", dir, sub), errno));
    }
  }
  if (!std::filesystem::is_directory(dir + "/data/mysql")) {
    absl::StatusOr<bool> from_template = InstallDataDir(dir, root);
    if (!from_template.ok()) {
      return from_template.status();
    }
    server->from_template_ = *from_template;
  }
  if (absl::Status s = server->LaunchOnSomePort(); !s.ok()) {
    return s;
  }
  if (absl::Status s = server->CreateUsers(); !s.ok()) {
    return s;
  }
  if (absl::Status s =
          WriteFileAtomically(server->password_file(), server->password_, 0600);
      !s.ok()) {
    return s;
  }
  server->started_ = true;
  return server;
}

absl::Status MariaDbServer::LaunchOnSomePort() {
  // A server in a directory it ran in before comes back on the same port.
  int previous_port = 0;
  {
    std::ifstream in(dir_ + "/port");
    std::string line;
    if (!std::getline(in, line) || !absl::SimpleAtoi(line, &previous_port)) {
      previous_port = 0;
    }
  }
  absl::Status launched;
  bool port_in_use = false;
  for (int attempt = 1; attempt <= kLaunchAttempts; ++attempt) {
    if (options_.port != 0) {
      port_ = options_.port;
    } else if (attempt == 1 && previous_port > 0) {
      port_ = previous_port;
    } else {
      absl::StatusOr<int> port = PickFreePort();
      if (!port.ok()) {
        return port.status();
      }
      port_ = *port;
    }
    launched = Launch(&port_in_use);
    if (launched.ok() || !port_in_use || options_.port != 0) {
      break;
    }
  }
  if (!launched.ok()) {
    const std::string template_dir = TemplatePath(TempRoot());
    if (from_template_ && !port_in_use &&
        launched.code() == absl::StatusCode::kUnavailable) {
      // Perhaps the template is damaged: let the next Start() install anew.
      std::error_code ec;
      std::filesystem::remove_all(template_dir, ec);
      return absl::UnavailableError(absl::StrCat(
          launched.message(), "\n(the data directory was copied from ",
          template_dir, ", which is now removed)"));
    }
    return launched;
  }
  return WriteFileAtomically(dir_ + "/port", absl::StrCat(port_, "\n"), 0644);
}

MariaDbServer::~MariaDbServer() {
  if (options_.detached && started_) {
    return;  // Left running for whoever stops it (tandem-mariadb-throwaway).
  }
  if (pid_ > 0 && !SignalAndWait(SIGTERM, kStopTimeoutMs)) {
    std::cerr << "MariaDbServer: mariadbd (pid " << pid_ << ") in " << dir_
              << " ignored SIGTERM for " << kStopTimeoutMs
              << " ms; sending SIGKILL\n";
    SignalAndWait(SIGKILL, kKillTimeoutMs);
  }
  if (!owns_dir_) {
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  if (ec) {
    std::cerr << "MariaDbServer: cannot remove " << dir_ << ": " << ec.message()
              << "\n";
  }
}

std::string MariaDbServer::url() const {
  return absl::StrCat("tcp://127.0.0.1:", port_);
}

std::string MariaDbServer::password_file() const { return dir_ + "/password"; }

uint32_t MariaDbServer::server_id() const {
  return options_.server_id != 0 ? options_.server_id
                                 : static_cast<uint32_t>(port_);
}

absl::Status MariaDbServer::Launch(bool* port_in_use) {
  *port_in_use = false;
  const std::string log_path = dir_ + "/err.log";
  const std::streamoff log_offset = FileSize(log_path);
  Fd log_fd(
      open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (log_fd.get() < 0) {
    return absl::InternalError(
        ErrnoText(absl::StrCat("open ", log_path), errno));
  }
  Fd null_fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (null_fd.get() < 0) {
    return absl::InternalError(ErrnoText("open /dev/null", errno));
  }
  // A killed server leaves its socket file behind; without it, the file's
  // existence tells when the new server has bound the socket.
  if (unlink(socket_path_.c_str()) != 0 && errno != ENOENT) {
    return absl::InternalError(
        ErrnoText(absl::StrCat("unlink ", socket_path_), errno));
  }
  std::vector<std::string> argv = {
      kMariadbd,
      // Must come first, or /etc/mysql is read.
      "--no-defaults",
      absl::StrCat("--datadir=", dir_, "/data"),
      absl::StrCat("--tmpdir=", dir_, "/tmp"),
      absl::StrCat("--socket=", socket_path_),
      absl::StrCat("--port=", port_),
      "--bind-address=127.0.0.1",
      absl::StrCat("--pid-file=", dir_, "/mariadbd.pid"),
      absl::StrCat("--log-error=", log_path),
      "--skip-name-resolve",
      "--innodb-buffer-pool-size=256M",
      // Throwaway speed: these give up durability only on an OS crash; a
      // SIGKILLed server keeps every committed transaction.
      "--innodb-flush-log-at-trx-commit=2",
      // What Debian's /etc/mysql configuration sets, so tests see the
      // character set production servers have.
      "--character-set-server=utf8mb4",
      "--collation-server=utf8mb4_general_ci",
      absl::StrCat("--server-id=", server_id()),
  };
  if (options_.binlog) {
    // The row-based binary log change capture reads (Ghostferry, Vitess):
    // every changed row with all its columns, before and after. sync_binlog
    // stays 0 (the default), like the redo log above.
    for (std::string arg :
         {absl::StrCat("--log-bin=", dir_, "/binlog/mariadb-bin"),
          absl::StrCat("--log-bin-index=", dir_, "/binlog/mariadb-bin.index"),
          std::string("--binlog-format=ROW"),
          std::string("--binlog-row-image=FULL"),
          // A bulk load's transactions (1,000-row INSERTs) fit in memory
          // instead of spilling to a temporary file each: measured, this
          // takes the binlog's cost on the datagen load from about +50 %
          // to within run-to-run noise (testbed/README.md).
          std::string("--binlog-cache-size=4M")}) {
      argv.push_back(std::move(arg));
    }
  } else {
    argv.push_back("--skip-log-bin");
  }
  if (geteuid() == 0) {
    argv.push_back("--user=root");
  }
  argv.insert(argv.end(), options_.extra_args.begin(),
              options_.extra_args.end());
  absl::StatusOr<pid_t> pid =
      Spawn(std::move(argv), null_fd.get(), log_fd.get(), log_fd.get(),
            /*die_with_parent=*/!options_.detached);
  if (!pid.ok()) {
    return pid.status();
  }
  log_fd.Reset();
  null_fd.Reset();
  if (absl::Status s = WriteFileAtomically(dir_ + "/server.pid",
                                           absl::StrCat(*pid, "\n"), 0644);
      !s.ok()) {
    kill(*pid, SIGKILL);
    int status;
    WaitForExit(*pid, -1, &status);
    return s;
  }

  const int64_t deadline = NowMs() + kReadyTimeoutMs;
  while (true) {
    int status;
    if (waitpid(*pid, &status, WNOHANG) == *pid) {
      const std::string log = TailOfFile(log_path, kLogTailLines, log_offset);
      *port_in_use = absl::StrContains(log, "Address already in use");
      return absl::UnavailableError(absl::StrCat(
          "mariadbd exited during start-up (", DescribeWaitStatus(status),
          ") on port ", port_, "; tail of ", log_path, ":\n", log));
    }
    // Checking for the socket is cheap; only then ask mariadb-admin, which
    // proves the server answers the protocol. (Probing the socket with a
    // bare connect() would log an "Aborted connection" warning.)
    if (IsSocket(socket_path_)) {
      absl::StatusOr<RunResult> ping =
          Run({kAdmin, "--no-defaults", "--protocol=socket",
               absl::StrCat("--socket=", socket_path_), "--user=root",
               "--connect-timeout=2", "ping"},
              "", kPingTimeoutMs);
      if (ping.ok() && ping->ok()) {
        pid_ = *pid;
        return absl::OkStatus();
      }
    }
    if (NowMs() >= deadline) {
      kill(*pid, SIGKILL);
      WaitForExit(*pid, -1, &status);
      return absl::UnavailableError(
          absl::StrCat("mariadbd did not answer a ping within ",
                       kReadyTimeoutMs, " ms; tail of ", log_path, ":\n",
                       TailOfFile(log_path, kLogTailLines, log_offset)));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

bool MariaDbServer::SignalAndWait(int signal, int timeout_ms) {
  kill(pid_, signal);
  int status;
  if (!WaitForExit(pid_, timeout_ms < 0 ? -1 : NowMs() + timeout_ms, &status)) {
    return false;
  }
  pid_ = -1;
  return true;
}

absl::Status MariaDbServer::CreateUsers() const {
  std::string sql;
  for (const char* host : {"127.0.0.1", "localhost"}) {
    const std::string account = absl::StrCat("'", user_, "'@'", host, "'");
    absl::StrAppend(&sql, "CREATE OR REPLACE USER ", account, " IDENTIFIED BY ",
                    SqlString(password_), ";\nGRANT ALL PRIVILEGES ON *.* TO ",
                    account, " WITH GRANT OPTION;\n");
  }
  if (absl::Status s = Execute(sql); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("creating the ", user_,
                                               " users: ", s.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> MariaDbServer::Query(
    const std::string& sql, const std::string& db) const {
  std::vector<std::string> argv = {kClient,
                                   "--no-defaults",
                                   "--protocol=socket",
                                   absl::StrCat("--socket=", socket_path_),
                                   "--user=root",
                                   "--batch",
                                   "--skip-column-names"};
  if (!db.empty()) {
    argv.push_back(absl::StrCat("--database=", db));
  }
  absl::StatusOr<RunResult> result =
      Run(std::move(argv), sql, kClientTimeoutMs);
  if (!result.ok()) {
    return result.status();
  }
  if (!result->ok()) {
    return ClientError(*result);
  }
  std::vector<std::string> rows;
  absl::string_view out = result->out;
  if (out.empty()) {
    return rows;
  }
  absl::ConsumeSuffix(&out, "\n");
  for (absl::string_view row : absl::StrSplit(out, '\n')) {
    rows.emplace_back(row);
  }
  return rows;
}

absl::Status MariaDbServer::Execute(const std::string& sql,
                                    const std::string& db) const {
  return Query(sql, db).status();
}

absl::Status MariaDbServer::CreateDatabase(const std::string& db) const {
  if (db.empty() ||
      db.find_first_of(std::string("`\0", 2)) != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad database name '", db, "'"));
  }
  return Execute(absl::StrCat("CREATE DATABASE IF NOT EXISTS `", db, "`"));
}

void MariaDbServer::Kill() {
  if (pid_ > 0) {
    SignalAndWait(SIGKILL, -1);
  }
}

absl::Status MariaDbServer::Restart() {
  if (pid_ > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("mariadbd (pid ", pid_, ") in ", dir_,
                     " is running; Restart() follows Kill()"));
  }
  bool port_in_use = false;
  absl::Status s = Launch(&port_in_use);
  if (!s.ok() && port_in_use) {
    return absl::UnavailableError(absl::StrCat(
        "port ", port_, " was taken while the server was down: ", s.message()));
  }
  return s;
}

}  // namespace tandem::testing
