// Pieces every component's commands share: one unary call against a
// service, the flags of mutating commands (--reason, --request_id,
// --dry-run) with their meaning, request ids, the dry-run notice and
// timestamps. Router and catalog commands (and the migrator's, later) use
// these so the same flag means the same thing everywhere.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "cli/command.h"
#include "common/status_macros.h"

namespace tandem::cli {

// Runs one unary call `fn(stub, context)` against `target` with a stub of
// `Service`; the status is ready for the user (see CommandContext::CallError).
template <typename Service, typename Fn>
absl::Status CallService(CommandContext& ctx, const std::string& target,
                         Fn&& fn) {
  TANDEM_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                          ctx.Channel(target));
  std::unique_ptr<typename Service::StubInterface> stub =
      Service::NewStub(channel);
  TANDEM_ASSIGN_OR_RETURN(std::unique_ptr<grpc::ClientContext> call,
                          ctx.NewCall());
  grpc::Status status = fn(*stub, call.get());
  return ctx.CallError(status, target);
}

// --reason: why the change is made, for the audit log.
FlagSpec ReasonFlag();
// --request_id: the idempotency key of a mutation.
FlagSpec RequestIdFlag();
// --dry-run: print the request, send nothing.
FlagSpec DryRunFlag();

// A fresh request id: a random version-4 UUID (36 characters).
std::string NewRequestId();

// The --request_id given, or a fresh one.
std::string RequestId(const CommandContext& ctx);

// Tells the user (on stderr) that `service.method` was not called.
void SayDryRun(CommandContext& ctx, absl::string_view service,
               absl::string_view method);

// RFC 3339 UTC seconds ("2026-11-23T14:09:58Z"), or "-" for 0 and below.
std::string FormatUnixMillis(int64_t ms);

// What a watch command returns once the server's stream has ended with
// `status`: OK when --timeout bounded the watch on purpose, UNAVAILABLE
// (saying `service` ended it, and how to go on: `resume`) when the server
// ended it cleanly, and the call's error otherwise.
absl::Status WatchEnded(CommandContext& ctx, const grpc::Status& status,
                        const std::string& target, absl::string_view service,
                        absl::string_view resume);

}  // namespace tandem::cli
