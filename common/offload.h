// The shape of every callback-API unary method that waits on something
// (a database, another service): authorise on gRPC's thread, do the work on
// a worker pool, finish the call with the work's status.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>

#include "absl/status/status.h"
#include "common/auth.h"
#include "common/worker_pool.h"

namespace tandem {

// Authorises the call for `role`; when that fails, finishes it at once with
// UNAUTHENTICATED or PERMISSION_DENIED. Otherwise runs `work` with the
// caller's principal on `workers` and finishes the call with its status
// (converted at this edge). `auth` and `workers` must outlive the call.
grpc::ServerUnaryReactor* AuthorizeAndOffload(
    grpc::CallbackServerContext* context, const TokenAuthenticator& auth,
    Role role, WorkerPool& workers,
    std::function<absl::Status(const Principal&)> work);

}  // namespace tandem
