#include "cli/app.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "cli/batch_commands.h"
#include "cli/catalog_commands.h"
#include "cli/health_command.h"
#include "cli/migrator_commands.h"
#include "cli/router_commands.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"

namespace tandem::cli {
namespace {

constexpr size_t kHelpWidth = 80;

std::vector<FlagSpec> GlobalFlags() {
  return {
      {"router", "ADDRESS",
       "gRPC target of the router (default 127.0.0.1:7001)."},
      {"catalog", "ADDRESS",
       "gRPC target of the catalog (default 127.0.0.1:7003)."},
      {"migrator", "ADDRESS",
       "gRPC target of the migrator (default 127.0.0.1:7005)."},
      {"token_file", "PATH",
       "File holding the bearer token. Without it the token comes from "
       "TANDEM_TOKEN; tokens are never flag values."},
      {"output", "table|json|yaml", "Output format (default table).", 'o'},
      {"timeout", "DURATION",
       "Deadline of each call, e.g. 5s, 2m (default 30s; route import 10m; "
       "catalog products refresh, generate and plan 2m; route watch and "
       "catalog freeze watch none). A plain number means seconds."},
      {"tls_ca_file", "PATH",
       "Use TLS and verify the server with these PEM roots (default "
       "plaintext)."},
      {"help", "", "Show help for the program, a noun or a command.", 'h'},
  };
}

// The flag named `name` (normalized) or with short name `short_name`.
const FlagSpec* FindFlag(const std::vector<FlagSpec>& flags,
                         absl::string_view name, bool is_short) {
  for (const FlagSpec& flag : flags) {
    if (is_short ? (name.size() == 1 && flag.short_name == name.front())
                 : NormalizeFlagName(flag.name) == name) {
      return &flag;
    }
  }
  return nullptr;
}

std::string EnvName(absl::string_view flag) {
  return absl::StrCat("TANDEM_",
                      absl::AsciiStrToUpper(NormalizeFlagName(flag)));
}

std::string FlagUsage(const FlagSpec& flag) {
  std::string out;
  if (flag.short_name != '\0') {
    absl::StrAppend(&out, "-", std::string(1, flag.short_name), ", ");
  }
  absl::StrAppend(&out, "--", flag.name);
  if (!flag.value_name.empty()) {
    absl::StrAppend(&out, "=", flag.value_name);
  }
  return out;
}

// `text` broken into lines of at most `width` characters; the first is
// indented by `indent` spaces, the others by `indent + hanging`.
std::string Wrap(absl::string_view text, size_t indent, size_t width,
                 size_t hanging = 0) {
  std::string out;
  std::string line;
  size_t current = indent;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (!line.empty() && current + line.size() + 1 + word.size() > width) {
      absl::StrAppend(&out, std::string(current, ' '), line, "\n");
      line.clear();
      current = indent + hanging;
    }
    absl::StrAppend(&line, line.empty() ? "" : " ", word);
  }
  if (!line.empty()) {
    absl::StrAppend(&out, std::string(current, ' '), line, "\n");
  }
  return out;
}

// Two columns: names padded to the widest, then wrapped descriptions.
std::string Columns(
    const std::vector<std::pair<std::string, std::string>>& rows) {
  size_t width = 0;
  for (const auto& row : rows) {
    width = std::max(width, row.first.size());
  }
  width = std::min<size_t>(width, 32);
  std::string out;
  for (const auto& [name, text] : rows) {
    std::string wrapped = Wrap(text, width + 5, kHelpWidth);
    if (name.size() > width) {
      absl::StrAppend(&out, "  ", name, "\n", wrapped);
      continue;
    }
    // Replace the indentation of the first line with the name.
    absl::StrAppend(&out, "  ", name, std::string(width - name.size() + 3, ' '),
                    wrapped.substr(std::min(wrapped.size(), width + 5)));
  }
  return out;
}

// The command's words, arguments and required flags, and with
// `with_optional` its other flags in brackets.
std::string CommandUsage(const CommandSpec& command, bool with_optional) {
  std::string out = absl::StrJoin(command.path, " ");
  if (!command.args_usage.empty()) {
    absl::StrAppend(&out, " ", command.args_usage);
  }
  for (const FlagSpec& flag : command.flags) {
    if (flag.required) {
      absl::StrAppend(&out, " ", FlagUsage(flag));
    }
  }
  if (with_optional) {
    for (const FlagSpec& flag : command.flags) {
      if (!flag.required) {
        absl::StrAppend(&out, " [", FlagUsage(flag), "]");
      }
    }
  }
  return out;
}

std::string GlobalFlagsHelp() {
  std::vector<std::pair<std::string, std::string>> rows;
  for (const FlagSpec& flag : GlobalFlags()) {
    rows.emplace_back(FlagUsage(flag), flag.help);
  }
  return absl::StrCat("\n",
                      Wrap("Global flags (each also from the environment as "
                           "TANDEM_<FLAG>, e.g. TANDEM_ROUTER):",
                           0, kHelpWidth),
                      Columns(rows));
}

int ReportUsageError(std::ostream& err, const std::vector<std::string>& path,
                     absl::string_view message) {
  err << "tandemctl: " << message << "\n"
      << "Run 'tandemctl" << (path.empty() ? "" : " ")
      << absl::StrJoin(path, " ") << " --help' for usage.\n";
  return 2;
}

absl::StatusOr<absl::Duration> ParseTimeout(absl::string_view text) {
  absl::Duration timeout;
  int64_t seconds = 0;
  if (absl::SimpleAtoi(text, &seconds)) {
    timeout = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(text, &timeout)) {
    return UsageError(
        absl::StrCat("--timeout wants a duration like 30s, got `", text, "`"));
  }
  if (timeout <= absl::ZeroDuration()) {
    return UsageError("--timeout must be positive");
  }
  return timeout;
}

}  // namespace

CommandSet AllCommands() {
  CommandSet commands;
  AddRouterCommands(commands);
  AddCatalogCommands(commands);
  AddMigratorCommands(commands);
  AddBatchCommands(commands);
  AddHealthCommand(commands);
  return commands;
}

namespace {

// A word that is not a flag: the next part of the command's path, or one of
// the command's arguments once the command is known.
absl::Status ParseWord(const CommandSet& commands, const std::string& arg,
                       Invocation* out) {
  if (out->command != nullptr) {
    out->args.push_back(arg);
    return absl::OkStatus();
  }
  if (out->path.empty() && !out->help && arg == "help") {
    out->help = true;  // `tandemctl help route` is `route --help`.
    return absl::OkStatus();
  }
  std::vector<std::string> candidate = out->path;
  candidate.push_back(arg);
  if (const CommandSpec* command = commands.Find(candidate)) {
    out->command = command;
  } else if (!commands.IsGroup(candidate)) {
    return UsageError(
        absl::StrCat("unknown command `", absl::StrJoin(candidate, " "), "`"));
  }
  out->path = std::move(candidate);
  return absl::OkStatus();
}

// The spec of flag `name` among `flags`; a long name after one dash
// (-router) works too.
const FlagSpec* FindFlagEitherWay(const std::vector<FlagSpec>& flags,
                                  const std::string& name, bool is_short) {
  const FlagSpec* spec = FindFlag(flags, name, is_short);
  if (spec == nullptr && is_short) spec = FindFlag(flags, name, false);
  return spec;
}

// The flag `args[*i]` (a global one, or the command's own once the command
// is known), with its value from `=` or the next argument (advancing `*i`).
absl::Status ParseFlag(const std::vector<FlagSpec>& globals,
                       const std::vector<std::string>& args, size_t* i,
                       FlagValues& global_values, Invocation* out) {
  const std::string& arg = args[*i];
  const bool is_short = !absl::StartsWith(arg, "--");
  absl::string_view body = absl::string_view(arg).substr(is_short ? 1 : 2);
  std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(body, absl::MaxSplits('=', 1));
  const bool has_value = absl::StrContains(body, '=');
  const std::string name = NormalizeFlagName(parts.first);
  const FlagSpec* spec = FindFlagEitherWay(globals, name, is_short);
  const bool is_global = spec != nullptr;
  if (spec == nullptr && out->command != nullptr) {
    spec = FindFlagEitherWay(out->command->flags, name, is_short);
  }
  if (spec == nullptr) {
    std::string where =
        out->command != nullptr
            ? absl::StrCat(" for `", absl::StrJoin(out->path, " "), "`")
            : (out->path.empty()
                   ? ""
                   : " (a command's own flags go after its name)");
    return UsageError(
        absl::StrCat("unknown flag ", arg.substr(0, arg.find('=')), where));
  }
  std::string value;
  if (spec->value_name.empty()) {
    value = has_value ? absl::AsciiStrToLower(parts.second) : "true";
    if (value != "true" && value != "false") {
      return UsageError(absl::StrCat("--", spec->name,
                                     " is a switch: give it alone, or as =true "
                                     "or =false"));
    }
  } else if (has_value) {
    value = std::string(parts.second);
  } else if (*i + 1 < args.size()) {
    value = args[++*i];
  } else {
    return UsageError(absl::StrCat("--", spec->name, " needs a value (",
                                   spec->value_name, ")"));
  }
  (is_global ? global_values : out->flags).Set(spec->name, std::move(value));
  return absl::OkStatus();
}

// A command was named, with the number of arguments it takes and its
// required flags.
absl::Status CheckCommand(const CommandSet& commands, const Invocation& in) {
  if (in.command == nullptr) {
    if (in.path.empty()) {
      return UsageError("no command given");
    }
    std::vector<std::string> verbs;
    for (const CommandSpec* command : commands.Under(in.path)) {
      verbs.push_back(command->path[in.path.size()]);
    }
    verbs.erase(std::unique(verbs.begin(), verbs.end()), verbs.end());
    return UsageError(
        absl::StrCat("`", absl::StrJoin(in.path, " "),
                     "` needs one of: ", absl::StrJoin(verbs, ", ")));
  }
  const CommandSpec& command = *in.command;
  const int given = static_cast<int>(in.args.size());
  if (given < command.min_args ||
      (command.max_args >= 0 && given > command.max_args)) {
    return UsageError(absl::StrCat(
        "`", absl::StrJoin(command.path, " "), "` takes ",
        command.args_usage.empty() ? "no arguments" : command.args_usage,
        ", got ", given == 0 ? "none" : absl::StrJoin(in.args, " ")));
  }
  for (const FlagSpec& flag : command.flags) {
    if (flag.required && !in.flags.Has(flag.name)) {
      return UsageError(absl::StrCat("`", absl::StrJoin(command.path, " "),
                                     "` needs --", flag.name));
    }
  }
  return absl::OkStatus();
}

// The global options from their flags, or else from TANDEM_* variables.
absl::Status ApplyGlobals(const std::vector<FlagSpec>& globals,
                          FlagValues& global_values,
                          const std::map<std::string, std::string>& env,
                          GlobalOptions& options) {
  for (const FlagSpec& flag : globals) {
    if (flag.name == "help" || global_values.Has(flag.name)) {
      continue;
    }
    auto it = env.find(EnvName(flag.name));
    if (it != env.end()) {
      global_values.Set(flag.name, it->second);
    }
  }
  for (auto [name, address] : {std::pair{"router", &options.router},
                               std::pair{"catalog", &options.catalog},
                               std::pair{"migrator", &options.migrator}}) {
    *address = global_values.Get(name, *address);
    if (address->empty()) {
      return UsageError(absl::StrCat("--", name, " is empty"));
    }
  }
  options.token_file = global_values.Get("token_file");
  options.tls_ca_file = global_values.Get("tls_ca_file");
  if (global_values.Has("output")) {
    absl::StatusOr<OutputFormat> format =
        ParseOutputFormat(global_values.Get("output"));
    if (!format.ok()) {
      return UsageError(format.status().message());
    }
    options.output = *format;
  }
  if (global_values.Has("timeout")) {
    absl::StatusOr<absl::Duration> timeout =
        ParseTimeout(global_values.Get("timeout"));
    if (!timeout.ok()) {
      return timeout.status();
    }
    options.timeout = *timeout;
  }
  if (auto it = env.find("TANDEM_TOKEN"); it != env.end()) {
    options.env_token = it->second;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseInvocation(const CommandSet& commands,
                             const std::vector<std::string>& args,
                             const std::map<std::string, std::string>& env,
                             Invocation* out) {
  const std::vector<FlagSpec> globals = GlobalFlags();
  FlagValues global_values;
  bool flags_ended = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_ended || arg.size() < 2 || arg.front() != '-') {
      TANDEM_RETURN_IF_ERROR(ParseWord(commands, arg, out));
    } else if (arg == "--") {
      flags_ended = true;
    } else {
      TANDEM_RETURN_IF_ERROR(ParseFlag(globals, args, &i, global_values, out));
    }
  }
  if (global_values.GetBool("help")) {
    out->help = true;
  }
  if (out->help) {
    return absl::OkStatus();
  }
  TANDEM_RETURN_IF_ERROR(CheckCommand(commands, *out));
  return ApplyGlobals(globals, global_values, env, out->globals);
}

std::string HelpText(const CommandSet& commands,
                     const std::vector<std::string>& path) {
  if (const CommandSpec* command = commands.Find(path)) {
    std::string out = absl::StrCat(
        "Usage:\n",
        Wrap(absl::StrCat("tandemctl ", CommandUsage(*command, false),
                          command->flags.empty() ? "" : " [flags]"),
             2, kHelpWidth, 4),
        "\n", Wrap(command->summary, 0, kHelpWidth));
    if (!command->description.empty()) {
      absl::StrAppend(&out, "\n", Wrap(command->description, 0, kHelpWidth));
    }
    if (!command->flags.empty()) {
      std::vector<std::pair<std::string, std::string>> rows;
      for (const FlagSpec& flag : command->flags) {
        rows.emplace_back(FlagUsage(flag), flag.help);
      }
      absl::StrAppend(&out, "\nFlags:\n", Columns(rows));
    }
    absl::StrAppend(&out, GlobalFlagsHelp());
    return out;
  }
  std::string out;
  if (path.empty()) {
    out = absl::StrCat(
        "tandemctl: the admin CLI of Tandem, which moves billing customers "
        "from the source system to the target one.\n\nUsage:\n  tandemctl "
        "<noun> <verb> [arguments] [flags]\n\nCommands:\n");
    std::vector<std::pair<std::string, std::string>> rows;
    for (const CommandSpec* command : commands.Under({})) {
      rows.emplace_back(CommandUsage(*command, false), command->summary);
    }
    absl::StrAppend(&out, Columns(rows));
  } else {
    std::string summary = commands.GroupSummary(path);
    out = absl::StrCat(summary.empty() ? "" : Wrap(summary, 0, kHelpWidth),
                       summary.empty() ? "" : "\n", "Usage:\n  tandemctl ",
                       absl::StrJoin(path, " "),
                       " <verb> [arguments] [flags]\n\nCommands:\n");
    for (const CommandSpec* command : commands.Under(path)) {
      absl::StrAppend(&out,
                      Wrap(CommandUsage(*command, true), 2, kHelpWidth, 4),
                      Wrap(command->summary, 6, kHelpWidth));
    }
  }
  absl::StrAppend(&out, GlobalFlagsHelp(), "\n",
                  Wrap("Exit codes: 0 success, 1 failure (the gRPC code name "
                       "is in the message), 2 usage error.",
                       0, kHelpWidth),
                  path.empty() ? "Run 'tandemctl <noun> --help' for a noun's "
                                 "commands and their flags.\n"
                               : "");
  return out;
}

int RunTandemctl(const CommandSet& commands,
                 const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env,
                 std::ostream& out, std::ostream& err, bool interactive) {
  Invocation invocation;
  absl::Status parsed = ParseInvocation(commands, args, env, &invocation);
  if (!parsed.ok()) {
    if (args.empty()) {
      err << HelpText(commands, {});
      return 2;
    }
    return ReportUsageError(err, invocation.path, parsed.message());
  }
  if (invocation.help) {
    out << HelpText(commands, invocation.path);
    return 0;
  }
  invocation.globals.interactive = interactive;
  CommandContext context(*invocation.command, std::move(invocation.args),
                         std::move(invocation.flags),
                         std::move(invocation.globals), out, err);
  absl::Status status = invocation.command->run(context);
  out.flush();
  if (status.ok()) {
    return 0;
  }
  if (IsUsageError(status)) {
    return ReportUsageError(err, invocation.path, status.message());
  }
  err << "tandemctl: "
      << GrpcCodeName(static_cast<grpc::StatusCode>(status.code())) << ": "
      << status.message() << "\n";
  return 1;
}

}  // namespace tandem::cli
