#include "common/config.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace tandem {
namespace {

// Returns true when `args` already sets the flag `name` (any spelling Abseil
// accepts: --name, --name=..., --noname, -name).
bool GivenOnCommandLine(const std::vector<std::string>& args,
                        const std::string& name) {
  for (const std::string& arg : args) {
    absl::string_view a = arg;
    if (!absl::ConsumePrefix(&a, "--")) {
      if (!absl::ConsumePrefix(&a, "-")) {
        continue;
      }
    }
    if (a == name || absl::StartsWith(a, absl::StrCat(name, "=")) ||
        a == absl::StrCat("no", name)) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::vector<char*> ParseFlagsWithEnv(int argc, char** argv, const char* usage) {
  absl::SetProgramUsageMessage(usage);
  std::vector<std::string> given(argv + 1, argv + argc);
  // Environment values are inserted before the command-line arguments, so a
  // flag given on the command line is parsed later and wins anyway; skipping
  // them keeps `--help` output honest.
  static std::vector<std::string> storage;
  storage.clear();
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    std::string env_name = absl::StrCat("TANDEM_", absl::AsciiStrToUpper(name));
    const char* value = std::getenv(env_name.c_str());
    if (value == nullptr || GivenOnCommandLine(given, std::string(name))) {
      continue;
    }
    storage.push_back(absl::StrCat("--", name, "=", value));
  }
  static std::vector<char*> merged;
  merged.clear();
  merged.push_back(argv[0]);
  for (std::string& s : storage) {
    merged.push_back(s.data());
  }
  for (int i = 1; i < argc; ++i) {
    merged.push_back(argv[i]);
  }
  return absl::ParseCommandLine(static_cast<int>(merged.size()), merged.data());
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    std::string message =
        absl::StrCat("cannot read ", path, ": ", std::strerror(err));
    if (err == EACCES) {
      return absl::PermissionDeniedError(message);
    }
    return absl::NotFoundError(message);
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  if (path.empty()) {
    return absl::InvalidArgumentError("no secret file configured");
  }
  absl::StatusOr<std::string> contents = ReadFile(path);
  if (!contents.ok()) {
    return contents.status();
  }
  std::string secret(absl::StripTrailingAsciiWhitespace(*contents));
  if (secret.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("secret file ", path, " is empty"));
  }
  return secret;
}

}  // namespace tandem
