#include "cli/command_helpers.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace tandem::cli {

FlagSpec ReasonFlag() {
  return {"reason", "TEXT",
          "Why the change is made; recorded in the audit log."};
}

FlagSpec RequestIdFlag() {
  return {"request_id", "ID",
          "Idempotency key: retrying with the same id does not apply the "
          "change twice. Default: a fresh UUID."};
}

FlagSpec DryRunFlag() {
  return {"dry-run", "",
          "Print the request that would be sent, and send nothing."};
}

std::string NewRequestId() {
  std::random_device device;
  std::uniform_int_distribution<uint64_t> bits;
  uint64_t high = bits(device);
  uint64_t low = bits(device);
  high = (high & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  low = (low & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;    // variant
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", high >> 32,
                         (high >> 16) & 0xffff, high & 0xffff, low >> 48,
                         low & 0xffffffffffffULL);
}

std::string RequestId(const CommandContext& ctx) {
  std::string id = ctx.flags().Get("request_id");
  return id.empty() ? NewRequestId() : id;
}

void SayDryRun(CommandContext& ctx, absl::string_view service,
               absl::string_view method) {
  ctx.err() << "dry run: would call " << service << "." << method
            << " with the request above; nothing was sent\n";
}

std::string FormatUnixMillis(int64_t ms) {
  if (ms <= 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(ms),
                          absl::UTCTimeZone());
}

absl::Status WatchEnded(CommandContext& ctx, const grpc::Status& status,
                        const std::string& target, absl::string_view service,
                        absl::string_view resume) {
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
      ctx.globals().timeout.has_value()) {
    return absl::OkStatus();  // --timeout bounds a watch on purpose.
  }
  if (status.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "the ", service, " ended the stream (shutting down?); ", resume));
  }
  return ctx.CallError(status, target);
}

}  // namespace tandem::cli
