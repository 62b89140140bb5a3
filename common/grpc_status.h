// The one place where absl::Status and grpc::Status meet.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace tandem {

// Returns the grpc::Status with the same code and message as `status`.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Returns the absl::Status with the same code and message as `status`.
absl::Status FromGrpcStatus(const grpc::Status& status);

// Returns the canonical upper-case name of a gRPC code, e.g. "NOT_FOUND".
const char* GrpcCodeName(grpc::StatusCode code);

}  // namespace tandem
