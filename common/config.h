// Command-line flags with TANDEM_* environment overrides, and secrets read
// from files.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tandem {

// Parses the command line with Abseil flags after filling in every defined
// flag that has an environment variable TANDEM_<FLAG_NAME_IN_UPPER_CASE> and
// is not given on the command line (the command line wins). Returns the
// positional arguments. Exits with a usage message on a malformed flag.
std::vector<char*> ParseFlagsWithEnv(int argc, char** argv, const char* usage);

// Returns the contents of the file at `path` with trailing whitespace
// removed. Secrets never come from flags or source code; the file path does.
// An empty path or an empty file is INVALID_ARGUMENT, an unreadable file is
// NOT_FOUND or PERMISSION_DENIED. The secret is never logged.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path);

// Returns the whole contents of the file at `path`.
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace tandem
