#include "common/service_main.h"

#include <cstdlib>

#include "absl/flags/reflection.h"
#include "absl/strings/str_cat.h"
#include "common/config.h"
#include "common/grpc_server.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace tandem {

namespace {

absl::StatusOr<std::string> FlagValue(absl::string_view name) {
  const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  if (flag == nullptr) {
    return absl::InternalError(absl::StrCat("no flag --", name));
  }
  return flag->CurrentValue();
}

}  // namespace

absl::StatusOr<std::string> ReadFileFlag(absl::string_view flag,
                                         FileKind kind) {
  TANDEM_ASSIGN_OR_RETURN(std::string path, FlagValue(flag));
  absl::StatusOr<std::string> contents =
      kind == FileKind::kSecret ? ReadSecretFile(path) : ReadFile(path);
  if (!contents.ok()) {
    return absl::Status(
        contents.status().code(),
        absl::StrCat("--", flag, ": ", contents.status().message()));
  }
  return contents;
}

absl::Status ApplyDbFlags(absl::string_view prefix, MysqlOptions& options) {
  TANDEM_ASSIGN_OR_RETURN(options.url,
                          FlagValue(absl::StrCat(prefix, "db_url")));
  TANDEM_ASSIGN_OR_RETURN(options.user,
                          FlagValue(absl::StrCat(prefix, "db_user")));
  TANDEM_ASSIGN_OR_RETURN(options.database,
                          FlagValue(absl::StrCat(prefix, "db_name")));
  TANDEM_ASSIGN_OR_RETURN(options.password,
                          ReadFileFlag(absl::StrCat(prefix, "db_password_file"),
                                       FileKind::kSecret));
  return absl::OkStatus();
}

int StartupFailed(absl::string_view step, const absl::Status& status) {
  TANDEM_LOG(Error, "startup_failed")
      .With("step", step)
      .With("error", status.ToString());
  return EXIT_FAILURE;
}

int ServeUntilTerminated(absl::Duration grace,
                         const std::function<void(absl::Duration)>& shutdown) {
  const std::string signal = WaitForTerminationSignal();
  TANDEM_LOG(Info, "shutting_down").With("signal", signal);
  shutdown(grace);
  TANDEM_LOG(Info, "stopped");
  return EXIT_SUCCESS;
}

}  // namespace tandem
