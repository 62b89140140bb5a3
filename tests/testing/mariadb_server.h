// A throwaway MariaDB server for tests, scripts and benchmarks.
//
// MariaDbServer starts a private mariadbd (Debian 12, MariaDB 10.11) in a new
// temporary directory, on a free loopback port and its own Unix socket, with
// the row-based binary log on, and creates the users 'tandem'@'127.0.0.1' and
// 'tandem'@'localhost' with all privileges. Each server is independent: tests
// may run several side by side, also from parallel test processes. The
// server dies with the test process (PR_SET_PDEATHSIG), and a later Start()
// removes directories that dead test processes left behind.
//
// scripts/mariadb-throwaway is a thin wrapper over tandem-mariadb-throwaway
// (mariadb_throwaway_main.cc), which starts the same server with
// MariaDbServerOptions::dir and ::detached, so that it outlives the tool.
//
// Example:
//
//   absl::StatusOr<std::unique_ptr<MariaDbServer>> db = MariaDbServer::Start();
//   ASSERT_TRUE(db.ok()) << db.status();
//   ASSERT_TRUE((*db)->CreateDatabase("routes").ok());
//   // Point the code under test at (*db)->url(), (*db)->user() and
//   // (*db)->password_file().
//
// The first Start() for a given mariadbd build and user runs
// mariadb-install-db and keeps the pristine data directory it made as
// $TMPDIR/tandem-mariadb.template-v1-* (about 8 MB on disk); later Start()s
// copy it instead of installing again. Delete that directory to force a new
// install.
//
// Needs /usr/sbin/mariadbd and /usr/bin/{mariadb-install-db,mariadb,
// mariadb-admin} (packages mariadb-server and mariadb-client). Runs as root
// (with --user=root) or as an ordinary user.

#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tandem::testing {

struct MariaDbServerOptions {
  // The row-based binary log that change capture reads: --log-bin (files
  // DIR/binlog/mariadb-bin.NNNNNN), --binlog-format=ROW,
  // --binlog-row-image=FULL. Off: --skip-log-bin.
  bool binlog = true;
  // --server-id. 0 means the server's port, which no other server running
  // on this machine has; a binlog reader (which connects as a replica with
  // a server id of its own) should pick one above 65535.
  uint32_t server_id = 0;
  // The directory the server lives in. Empty: a new "tandem-mariadb-XXXXXX"
  // under $TMPDIR (or /tmp), removed with everything in it by the
  // destructor. Set: this directory, created if missing and kept by the
  // destructor; when it holds a data directory from an earlier run, the
  // server comes back on that data (and on the port it had, if free).
  std::string dir;
  // The TCP port on 127.0.0.1; 0 picks a free one.
  int port = 0;
  // Whether the server outlives this object and the process: it runs in a
  // session of its own without PR_SET_PDEATHSIG, and the destructor leaves
  // it running (once Start() succeeded). For tandem-mariadb-throwaway, which
  // stops it later by the pid in DIR/server.pid.
  bool detached = false;
  // Further mariadbd options, after the ones Start() sets (a later option
  // wins), e.g. "--performance-schema=ON" for a benchmark that reads the
  // server's statement digests.
  std::vector<std::string> extra_args;
};

class MariaDbServer {
 public:
  // Creates a directory "tandem-mariadb-XXXXXX" under $TMPDIR (or /tmp), or
  // uses options.dir, puts a pristine data directory there unless it holds
  // one, and starts mariadbd on 127.0.0.1 at a free port (or options.port).
  // When this returns OK, the server answers a ping and the tandem users
  // exist with password $TANDEM_TEST_DB_PASSWORD (default "tandem-test").
  // Takes about 0.3 s when the template exists, about 1.3 s when it has to
  // be made (more on a machine busy compiling).
  //
  // Before starting in a new temporary directory, removes
  // "tandem-mariadb-*" directories under the same root whose owning process
  // (recorded in owner.pid) is gone.
  //
  // Unless detached, the server is killed when the thread that called
  // Start() exits (that is how PR_SET_PDEATHSIG works), so call it from the
  // test's main thread or a thread that outlives the server.
  //
  // Errors: UNAVAILABLE when the server did not come up (the message holds
  // the tail of its error log; a template it was copied from is removed;
  // also when options.port is taken), INTERNAL when the directory, the data
  // directory or a child process could not be made, FAILED_PRECONDITION
  // when the directory path is unusable (too long for a socket, or holding
  // white space), INVALID_ARGUMENT for a port outside 0-65535.
  static absl::StatusOr<std::unique_ptr<MariaDbServer>> Start(
      const MariaDbServerOptions& options = {});

  MariaDbServer(const MariaDbServer&) = delete;
  MariaDbServer& operator=(const MariaDbServer&) = delete;

  // Stops the server (SIGTERM, then SIGKILL if it has not exited after 30 s)
  // and removes its directory with everything in it if Start() made it.
  // A detached server is left running, its directory in place.
  ~MariaDbServer();

  // The TCP port on 127.0.0.1. It stays the same across Kill() and Restart().
  int port() const { return port_; }

  // The Unix socket the server listens on.
  const std::string& socket_path() const { return socket_path_; }

  // "tcp://127.0.0.1:PORT", the form Connector/C++ accepts.
  std::string url() const;

  // "tandem", a user with ALL PRIVILEGES ON *.* WITH GRANT OPTION, both over
  // TCP (from 127.0.0.1) and over the socket (localhost).
  const std::string& user() const { return user_; }

  // The password of user().
  const std::string& password() const { return password_; }

  // A file (mode 0600) holding exactly password(), without a trailing
  // newline; for services' --db_password_file flag.
  std::string password_file() const;

  // The directory that holds the data directory, binary logs (binlog/),
  // socket, error log, port and password files; removed by the destructor
  // when Start() made it.
  const std::string& dir() const { return dir_; }

  // Runs `sql`, one or more ';'-separated statements, as root over the
  // socket with the mariadb client, in database `db` unless it is empty.
  // Statements run in order with autocommit and stop at the first error, so
  // those before it stay applied. Output of queries is discarded.
  //
  // Errors carry the client's message (e.g. "ERROR 1146 (42S02) at line 1:
  // Table 'x.t' doesn't exist"), with a code chosen from the MariaDB error:
  // UNAVAILABLE (cannot connect, server gone), ABORTED (deadlock, lock wait
  // timeout), ALREADY_EXISTS (duplicate key or object), NOT_FOUND (unknown
  // database or table), INVALID_ARGUMENT (other statement errors),
  // DEADLINE_EXCEEDED (the client ran for more than 120 s), INTERNAL (the
  // client could not be run). Safe to call from several threads at once.
  absl::Status Execute(const std::string& sql,
                       const std::string& db = "") const;

  // Runs `sql` like Execute() and returns the rows of its result, each row's
  // columns joined by '\t', without a header row (mariadb --batch
  // --skip-column-names). In values, tab, newline and backslash appear
  // escaped as "\t", "\n" and "\\", and SQL NULL as "NULL". If `sql` holds
  // several queries, their rows are concatenated.
  absl::StatusOr<std::vector<std::string>> Query(
      const std::string& sql, const std::string& db = "") const;

  // CREATE DATABASE IF NOT EXISTS `db` (utf8mb4, the server default).
  // INVALID_ARGUMENT if `db` is empty or holds a backquote or NUL.
  absl::Status CreateDatabase(const std::string& db) const;

  // For crash tests: SIGKILLs the server and waits until it has exited,
  // keeping the data directory. Committed transactions survive (the server
  // runs with innodb_flush_log_at_trx_commit=2, which loses data only when
  // the operating system crashes). Does nothing if the server is not
  // running.
  void Kill();

  // Starts the server again on the same port, socket and data directory,
  // after Kill(), and returns when it answers a ping (after crash recovery).
  // FAILED_PRECONDITION if the server is running; UNAVAILABLE if it did not
  // come up, for example because another process took the port meanwhile.
  absl::Status Restart();

  // Whether the server process is running (it may not be ready yet).
  bool running() const { return pid_ > 0; }

  // The server's process id while running(); -1 otherwise.
  pid_t pid() const { return pid_; }

  // Whether the row-based binary log is on (MariaDbServerOptions::binlog).
  bool binlog() const { return options_.binlog; }

  // The server's --server-id (see MariaDbServerOptions::server_id).
  uint32_t server_id() const;

 private:
  MariaDbServer(std::string dir, std::string password,
                MariaDbServerOptions options);

  // Picks a port (options_.port, the port of an earlier run in dir_, or a
  // free one, retrying when another process takes it first) and launches.
  absl::Status LaunchOnSomePort();

  // Spawns mariadbd on port_ and waits until it answers a ping. Sets pid_ on
  // success; on failure, reaps the child, leaves pid_ at -1 and sets
  // *port_in_use if the server could not bind port_.
  absl::Status Launch(bool* port_in_use);

  // Sends `signal` to the server and waits for it for up to `timeout_ms`
  // (forever if negative). Returns true once it has exited (pid_ is then -1).
  bool SignalAndWait(int signal, int timeout_ms);

  absl::Status CreateUsers() const;

  std::string dir_;
  std::string socket_path_;
  std::string user_;
  std::string password_;
  MariaDbServerOptions options_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool owns_dir_ = false;       // made by Start(): removed by the destructor
  bool from_template_ = false;  // data dir copied from the template
  bool started_ = false;        // Start() succeeded
};

}  // namespace tandem::testing
