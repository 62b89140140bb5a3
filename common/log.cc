#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tandem {
namespace {

std::string& ServiceName() {
  static std::string* name = new std::string("tandem");
  return *name;
}

std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

bool NeedsQuotes(absl::string_view value) {
  if (value.empty()) {
    return true;
  }
  for (char c : value) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' ||
        static_cast<unsigned char>(c) < 0x20) {
      return true;
    }
  }
  return false;
}

}  // namespace

void InitLogging(absl::string_view service, LogLevel level) {
  ServiceName() = std::string(service);
  min_level.store(static_cast<int>(level));
}

LogLevel ParseLogLevel(absl::string_view name) {
  std::string lower = absl::AsciiStrToLower(name);
  if (lower == "debug") return LogLevel::kDebug;
  if (lower == "warning" || lower == "warn") return LogLevel::kWarning;
  if (lower == "error") return LogLevel::kError;
  return LogLevel::kInfo;
}

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= min_level.load(std::memory_order_relaxed);
}

LogLine::LogLine(LogLevel level, absl::string_view event)
    : enabled_(LogEnabled(level)) {
  if (!enabled_) {
    return;
  }
  line_.reserve(256);
  absl::StrAppend(&line_, "ts=",
                  absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                                   absl::UTCTimeZone()),
                  " level=", LevelName(level), " service=", ServiceName());
  AppendField("event", event);
}

void LogLine::AppendField(absl::string_view key, absl::string_view value) {
  absl::StrAppend(&line_, " ", key, "=");
  if (!NeedsQuotes(value)) {
    line_.append(value.data(), value.size());
    return;
  }
  line_.push_back('"');
  for (char c : value) {
    if (c == '"' || c == '\\') {
      line_.push_back('\\');
      line_.push_back(c);
    } else if (c == '\n') {
      line_.append("\\n");
    } else if (static_cast<unsigned char>(c) < 0x20) {
      line_.push_back(' ');
    } else {
      line_.push_back(c);
    }
  }
  line_.push_back('"');
}

LogLine::~LogLine() {
  if (!enabled_) {
    return;
  }
  line_.push_back('\n');
  // One write() per line keeps lines whole when threads log at once.
  [[maybe_unused]] ssize_t n =
      ::write(STDERR_FILENO, line_.data(), line_.size());
}

}  // namespace tandem
