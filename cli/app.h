// tandemctl as a function: parse the command line, run the command, map the
// outcome to an exit code. main.cc only hands over argv, the environment and
// the standard streams.
//
// Command line: `tandemctl <noun> <verb...> [args] [flags]`. Flags may come
// before, between or after the words and arguments, as --name=value,
// --name value, or for a boolean --name; `-o json` is short for
// --output=json; `--` ends the flags. A command's own flags must follow its
// words (they are not known before).
//
// Environment: each global flag not given on the command line is read from
// TANDEM_<FLAG> (TANDEM_ROUTER, TANDEM_CATALOG, TANDEM_TOKEN_FILE,
// TANDEM_OUTPUT, TANDEM_TIMEOUT, TANDEM_TLS_CA_FILE); the token itself may come
// from TANDEM_TOKEN when no token file is set. A command's own flags (a
// version, a state, --dry-run) are deliberately not read from the environment:
// a mutation must not depend on what a shell happened to export.
//
// Exit codes: 0 success (also for --help), 1 a call or a local operation
// failed ("tandemctl: <CODE>: <message>" on stderr, CODE the gRPC code
// name), 2 a usage error (message and a pointer to --help on stderr).
#pragma once

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cli/command.h"

namespace tandem::cli {

// Every command of this build (router, catalog, health; migrator later).
CommandSet AllCommands();

// A parsed command line.
struct Invocation {
  // The command to run; null when only help was asked for, for `path`.
  const CommandSpec* command = nullptr;
  // The command words recognized so far (also on errors, for the hint).
  std::vector<std::string> path;
  std::vector<std::string> args;
  FlagValues flags;
  GlobalOptions globals;
  bool help = false;
};

// Parses `args` (argv without the program name) against `commands`, filling
// in global flags from `env` (TANDEM_* names). Every problem is a
// UsageError(); `out` is filled as far as parsing got.
absl::Status ParseInvocation(const CommandSet& commands,
                             const std::vector<std::string>& args,
                             const std::map<std::string, std::string>& env,
                             Invocation* out);

// Help text: the whole program for an empty `path`, a group's commands, or
// one command's usage and flags.
std::string HelpText(const CommandSet& commands,
                     const std::vector<std::string>& path);

// Runs tandemctl and returns its exit code (see the file comment). Data goes
// to `out`, messages to `err`. `interactive` says whether `err` is a
// terminal.
int RunTandemctl(const CommandSet& commands,
                 const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env,
                 std::ostream& out, std::ostream& err,
                 bool interactive = false);

}  // namespace tandem::cli
