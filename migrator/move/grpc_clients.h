// RouteClient and PlanClient over gRPC, with a bearer token and a deadline
// per call. gRPC failures become absl statuses with the same code.
#pragma once

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "migrator/move/clients.h"
#include "tandem/catalog/v1/catalog.grpc.pb.h"
#include "tandem/router/v1/router.grpc.pb.h"

namespace tandem::migrator {

std::unique_ptr<RouteClient> NewGrpcRouteClient(
    const std::string& target, const std::string& token,
    absl::Duration deadline = absl::Seconds(5));

std::unique_ptr<PlanClient> NewGrpcPlanClient(
    const std::string& target, const std::string& token,
    absl::Duration deadline = absl::Seconds(10));

}  // namespace tandem::migrator
