#include "cli/command.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <cstdlib>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/auth.h"
#include "common/config.h"
#include "common/grpc_status.h"

namespace tandem::cli {
namespace {

constexpr char kUsagePayload[] = "type.tandem.dev/tandemctl.UsageError";

bool StartsWith(const std::vector<std::string>& path,
                const std::vector<std::string>& prefix) {
  return path.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), path.begin());
}

}  // namespace

std::string NormalizeFlagName(absl::string_view name) {
  std::string out(name);
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

void FlagValues::Set(absl::string_view name, std::string value) {
  values_[NormalizeFlagName(name)] = std::move(value);
}

bool FlagValues::Has(absl::string_view name) const {
  return values_.contains(NormalizeFlagName(name));
}

std::string FlagValues::Get(absl::string_view name,
                            absl::string_view fallback) const {
  auto it = values_.find(NormalizeFlagName(name));
  return it == values_.end() ? std::string(fallback) : it->second;
}

bool FlagValues::GetBool(absl::string_view name) const {
  return Get(name, "false") == "true";
}

absl::StatusOr<int64_t> FlagValues::GetInt64(absl::string_view name,
                                             int64_t fallback) const {
  auto it = values_.find(NormalizeFlagName(name));
  if (it == values_.end()) {
    return fallback;
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(it->second, &value)) {
    return UsageError(
        absl::StrCat("--", name, " wants an integer, got `", it->second, "`"));
  }
  return value;
}

absl::Status UsageError(absl::string_view message) {
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kUsagePayload, absl::Cord("1"));
  return status;
}

bool IsUsageError(const absl::Status& status) {
  return status.GetPayload(kUsagePayload).has_value();
}

CommandContext::CommandContext(const CommandSpec& spec,
                               std::vector<std::string> args, FlagValues flags,
                               GlobalOptions globals, std::ostream& out,
                               std::ostream& err)
    : spec_(spec),
      args_(std::move(args)),
      flags_(std::move(flags)),
      globals_(std::move(globals)),
      out_(out),
      err_(err),
      printer_(globals_.output, out) {}

absl::StatusOr<std::shared_ptr<grpc::Channel>> CommandContext::Channel(
    const std::string& target) {
  auto it = channels_.find(target);
  if (it != channels_.end()) {
    return it->second;
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (globals_.tls_ca_file.empty()) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    absl::StatusOr<std::string> roots = ReadFile(globals_.tls_ca_file);
    if (!roots.ok()) {
      return roots.status();
    }
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = *roots;
    credentials = grpc::SslCredentials(options);
  }
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(target, credentials);
  channels_[target] = channel;
  return channel;
}

absl::StatusOr<std::unique_ptr<grpc::ClientContext>> CommandContext::NewCall() {
  if (!token_.has_value()) {
    if (!globals_.token_file.empty()) {
      absl::StatusOr<std::string> token = ReadSecretFile(globals_.token_file);
      if (!token.ok()) {
        return token.status();
      }
      token_ = *std::move(token);
    } else {
      token_ = globals_.env_token.value_or("");
    }
  }
  auto context = std::make_unique<grpc::ClientContext>();
  if (!token_->empty()) {
    AttachBearerToken(*context, *token_);
  }
  absl::Duration timeout = globals_.timeout.value_or(spec_.default_timeout);
  if (timeout != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
  return context;
}

absl::Status CommandContext::CallError(const grpc::Status& status,
                                       const std::string& target) const {
  absl::Status result = FromGrpcStatus(status);
  if (result.ok()) {
    return result;
  }
  std::string hint;
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      hint = absl::StrCat(" (server ", target, ")");
      break;
    case grpc::StatusCode::UNAUTHENTICATED:
      if (!has_token()) {
        hint =
            " (no token given: use --token_file or set TANDEM_TOKEN_FILE or "
            "TANDEM_TOKEN)";
      }
      break;
    default:
      break;
  }
  return absl::Status(result.code(), absl::StrCat(result.message(), hint));
}

void CommandSet::AddGroup(std::vector<std::string> path, std::string summary) {
  groups_.emplace_back(std::move(path), std::move(summary));
}

void CommandSet::Add(CommandSpec spec) {
  for (const CommandSpec& other : commands_) {
    if (StartsWith(other.path, spec.path) ||
        StartsWith(spec.path, other.path)) {
      std::abort();  // Two commands the parser could not tell apart.
    }
  }
  commands_.push_back(std::move(spec));
}

const CommandSpec* CommandSet::Find(
    const std::vector<std::string>& path) const {
  for (const CommandSpec& command : commands_) {
    if (command.path == path) {
      return &command;
    }
  }
  return nullptr;
}

bool CommandSet::IsGroup(const std::vector<std::string>& prefix) const {
  for (const CommandSpec& command : commands_) {
    if (command.path.size() > prefix.size() &&
        StartsWith(command.path, prefix)) {
      return true;
    }
  }
  return false;
}

std::vector<const CommandSpec*> CommandSet::Under(
    const std::vector<std::string>& prefix) const {
  std::vector<const CommandSpec*> out;
  for (const CommandSpec& command : commands_) {
    if (StartsWith(command.path, prefix)) {
      out.push_back(&command);
    }
  }
  return out;
}

std::string CommandSet::GroupSummary(
    const std::vector<std::string>& path) const {
  for (const auto& [group, summary] : groups_) {
    if (group == path) {
      return summary;
    }
  }
  return "";
}

std::vector<std::string> CommandSet::Nouns() const {
  std::vector<std::string> out;
  for (const CommandSpec& command : commands_) {
    if (std::find(out.begin(), out.end(), command.path.front()) == out.end()) {
      out.push_back(command.path.front());
    }
  }
  return out;
}

}  // namespace tandem::cli
