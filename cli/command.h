// The command table of tandemctl.
//
// A command is a path of words ("route lookup", "router default set"), the
// positional arguments and flags it takes, and a function that runs it. Each
// component adds its commands with one Add<Component>Commands(CommandSet&)
// call (router_commands.h, catalog_commands.h, health_command.h); migrator
// commands slot in the same way, under their own nouns, without touching the
// parser.
//
// Errors: a command returns UsageError(...) for a malformed invocation (exit
// code 2) and any other non-OK status for a failure (exit code 1); the
// status code's name is shown to the user, so pick it as a server would.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cli/output.h"

namespace tandem::cli {

// One flag of a command, or of every command (a global flag).
struct FlagSpec {
  FlagSpec(std::string name, std::string value_name, std::string help,
           char short_name = '\0')
      : name(std::move(name)),
        value_name(std::move(value_name)),
        help(std::move(help)),
        short_name(short_name) {}

  // Marks the flag as one the command cannot run without; the parser
  // refuses the command line (a usage error) when it is missing.
  FlagSpec& Required() {
    required = true;
    return *this;
  }

  // The spelling help shows, without dashes ("page_size", "dry-run"). On the
  // command line '-' and '_' are interchangeable in flag names.
  std::string name;
  // What help shows for the value ("N", "source|target"); empty for a
  // boolean flag, which is given alone or as --name=true|false.
  std::string value_name;
  std::string help;
  // A one-letter alias used with one dash ("-o json"); '\0' for none.
  char short_name = '\0';
  bool required = false;
};

// Returns `name` with every '-' turned into '_', the key flags are stored
// and looked up under.
std::string NormalizeFlagName(absl::string_view name);

// The flags given to one command, by normalized name.
class FlagValues {
 public:
  void Set(absl::string_view name, std::string value);
  bool Has(absl::string_view name) const;
  // The value given, or `fallback` when the flag was not given.
  std::string Get(absl::string_view name,
                  absl::string_view fallback = "") const;
  // True when a boolean flag was given (and not as =false).
  bool GetBool(absl::string_view name) const;
  // The value as an integer, `fallback` when not given; a malformed number
  // is a usage error naming the flag.
  absl::StatusOr<int64_t> GetInt64(absl::string_view name,
                                   int64_t fallback) const;

 private:
  std::map<std::string, std::string> values_;
};

// The flags every command accepts. Each is also read from the environment
// variable TANDEM_<NAME> (TANDEM_ROUTER, TANDEM_OUTPUT, ...) when it is not
// on the command line.
struct GlobalOptions {
  // gRPC target of the router.
  std::string router = "127.0.0.1:7001";
  // gRPC target of the catalog.
  std::string catalog = "127.0.0.1:7003";
  // gRPC target of the migrator.
  std::string migrator = "127.0.0.1:7005";
  // File holding the bearer token; when empty, the token comes from the
  // environment variable TANDEM_TOKEN, and without either calls carry none.
  std::string token_file;
  OutputFormat output = OutputFormat::kTable;
  // The deadline of each call; unset means the command's own default.
  std::optional<absl::Duration> timeout;
  // PEM roots to verify the server with; empty means plaintext.
  std::string tls_ca_file;
  // The value of TANDEM_TOKEN, if set.
  std::optional<std::string> env_token;
  // True when stderr is a terminal: progress may be animated there.
  bool interactive = false;
};

// Returns a status that makes tandemctl exit with code 2 and point the user
// at --help. Its code is INVALID_ARGUMENT.
absl::Status UsageError(absl::string_view message);

// True for a status made by UsageError().
bool IsUsageError(const absl::Status& status);

struct CommandSpec;

// What a running command sees: its arguments, its flags, the global options,
// the output streams and the connections.
class CommandContext {
 public:
  CommandContext(const CommandSpec& spec, std::vector<std::string> args,
                 FlagValues flags, GlobalOptions globals, std::ostream& out,
                 std::ostream& err);
  CommandContext(const CommandContext&) = delete;
  CommandContext& operator=(const CommandContext&) = delete;

  const CommandSpec& spec() const { return spec_; }
  // Positional arguments after the command's words; their number is already
  // checked against the spec.
  const std::vector<std::string>& args() const { return args_; }
  const FlagValues& flags() const { return flags_; }
  const GlobalOptions& globals() const { return globals_; }
  const Printer& printer() const { return printer_; }
  // Data only.
  std::ostream& out() { return out_; }
  // Messages for people.
  std::ostream& err() { return err_; }

  // The channel to `target`, made on first use (plaintext, or TLS when
  // --tls_ca_file is set). Unreadable CA files are errors; connecting
  // happens on the first call.
  absl::StatusOr<std::shared_ptr<grpc::Channel>> Channel(
      const std::string& target);

  // A context for one call: the bearer token (read once from --token_file
  // or TANDEM_TOKEN; none when neither is set) and the deadline (--timeout,
  // else the command's default; none when that is infinite). An unreadable
  // token file is an error.
  absl::StatusOr<std::unique_ptr<grpc::ClientContext>> NewCall();

  // The status of a finished call, for the user: its own code and message,
  // plus a hint when the router was unreachable or no token was given.
  absl::Status CallError(const grpc::Status& status,
                         const std::string& target) const;

  // True when a token was found (valid after the first NewCall()).
  bool has_token() const { return token_.has_value() && !token_->empty(); }

 private:
  const CommandSpec& spec_;
  std::vector<std::string> args_;
  FlagValues flags_;
  GlobalOptions globals_;
  std::ostream& out_;
  std::ostream& err_;
  Printer printer_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
  std::optional<std::string> token_;
};

// One command. Built with chained setters:
//
//   commands.Add(CommandSpec({"route", "get"}, "Show one customer's route.")
//                    .Args("<customer_id>", 1, 1)
//                    .Flags({{"keys", "", "Also show the customer's keys."}})
//                    .Run(RouteGet));
struct CommandSpec {
  CommandSpec(std::vector<std::string> path, std::string summary)
      : path(std::move(path)), summary(std::move(summary)) {}

  CommandSpec& Args(std::string usage, int min, int max) {
    args_usage = std::move(usage);
    min_args = min;
    max_args = max;
    return *this;
  }
  CommandSpec& Description(std::string text) {
    description = std::move(text);
    return *this;
  }
  CommandSpec& Flags(std::vector<FlagSpec> specs) {
    flags = std::move(specs);
    return *this;
  }
  CommandSpec& DefaultTimeout(absl::Duration timeout) {
    default_timeout = timeout;
    return *this;
  }
  CommandSpec& Run(std::function<absl::Status(CommandContext&)> fn) {
    run = std::move(fn);
    return *this;
  }

  // The words that name the command: {"route", "lookup"}.
  std::vector<std::string> path;
  // One line for lists of commands.
  std::string summary;
  // The positional arguments as help shows them: "<kind> <value>".
  std::string args_usage;
  int min_args = 0;
  // -1: no upper bound.
  int max_args = 0;
  // Optional paragraphs for the command's own --help.
  std::string description;
  std::vector<FlagSpec> flags;
  // The deadline of each call when --timeout is not given; InfiniteDuration
  // for none (streams).
  absl::Duration default_timeout = absl::Seconds(30);
  std::function<absl::Status(CommandContext&)> run;
};

// All commands, and the groups (nouns) they sit under.
class CommandSet {
 public:
  // Describes the group `path` ({"route"}, {"router", "default"}) for help.
  void AddGroup(std::vector<std::string> path, std::string summary);
  // Adds a command. No command's path may be a prefix of another's (the
  // parser could not tell them apart); that is a programming error.
  void Add(CommandSpec spec);

  // The command named exactly `path`, or null.
  const CommandSpec* Find(const std::vector<std::string>& path) const;
  // True when some command's path starts with `prefix` and is longer.
  bool IsGroup(const std::vector<std::string>& prefix) const;
  // The commands whose path starts with `prefix`, in the order added.
  std::vector<const CommandSpec*> Under(
      const std::vector<std::string>& prefix) const;
  // The summary of a group, or "" when it has none.
  std::string GroupSummary(const std::vector<std::string>& path) const;
  // The top-level groups (nouns), in the order first added.
  std::vector<std::string> Nouns() const;

 private:
  std::vector<CommandSpec> commands_;
  std::vector<std::pair<std::vector<std::string>, std::string>> groups_;
};

}  // namespace tandem::cli
