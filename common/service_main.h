// What every service's thin main does once its flags are parsed: a
// database's options from its flags (the password from a file), the one way
// a start-up fails, and serving until SIGTERM or SIGINT.
#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/mysql_pool.h"

namespace tandem {

// Sets the url, user, database and password of `options` from this
// binary's flags `<prefix>db_url`, `<prefix>db_user`, `<prefix>db_name` and
// `<prefix>db_password_file` (the password read from that file by
// ReadSecretFile's rules). The error names the flag at fault; INTERNAL when
// the binary does not define one of them.
absl::Status ApplyDbFlags(absl::string_view prefix, MysqlOptions& options);

// How ReadFileFlag reads its file.
enum class FileKind {
  kSecret,  // ReadSecretFile: trailing whitespace removed, empty refused
  kPlain,   // ReadFile: the whole contents
};

// Reads the file that this binary's flag `flag` names. The error names the
// flag; INTERNAL when the binary does not define it.
absl::StatusOr<std::string> ReadFileFlag(absl::string_view flag, FileKind kind);

// Logs `startup_failed` with `step` and the error; returns EXIT_FAILURE for
// main to return.
int StartupFailed(absl::string_view step, const absl::Status& status);

// Waits for SIGTERM or SIGINT (BlockTerminationSignals must have run first),
// then calls `shutdown(grace)`; returns EXIT_SUCCESS for main to return.
int ServeUntilTerminated(absl::Duration grace,
                         const std::function<void(absl::Duration)>& shutdown);

}  // namespace tandem
