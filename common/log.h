// Structured logging: one line per event on stderr, in logfmt
// (`ts=... level=info service=router event=route_changed customer_id=42`).
// Values with spaces, quotes or '=' are quoted. Secrets must never be passed.
#pragma once

#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace tandem {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Sets the `service=` field of every line and the lowest level written.
// Call once at start-up, before any thread logs.
void InitLogging(absl::string_view service, LogLevel min_level);

// Parses "debug", "info", "warning" or "error"; returns kInfo otherwise.
LogLevel ParseLogLevel(absl::string_view name);

// Returns true when lines of `level` are written.
bool LogEnabled(LogLevel level);

// Builds one log line and writes it, whole, when destroyed.
class LogLine {
 public:
  LogLine(LogLevel level, absl::string_view event);
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;

  // Appends `key=value`. `value` is anything absl::StrCat accepts.
  template <typename T>
  LogLine& With(absl::string_view key, const T& value) {
    if (enabled_) {
      AppendField(key, absl::StrCat(value));
    }
    return *this;
  }
  LogLine& With(absl::string_view key, bool value) {
    if (enabled_) {
      AppendField(key, value ? "true" : "false");
    }
    return *this;
  }

 private:
  void AppendField(absl::string_view key, absl::string_view value);

  bool enabled_;
  std::string line_;
};

}  // namespace tandem

// Usage: TANDEM_LOG(Info, "route_changed").With("customer_id", id);
#define TANDEM_LOG(level, event) \
  ::tandem::LogLine(::tandem::LogLevel::k##level, event)
