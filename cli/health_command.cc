#include "cli/health_command.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace tandem::cli {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

absl::Status Health(CommandContext& ctx) {
  const std::string& target = ctx.globals().router;
  TANDEM_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                          ctx.Channel(target));
  std::unique_ptr<Health::Stub> stub = Health::NewStub(channel);
  TANDEM_ASSIGN_OR_RETURN(std::unique_ptr<grpc::ClientContext> call,
                          ctx.NewCall());
  HealthCheckRequest request;
  request.set_service(ctx.flags().Get("service"));
  HealthCheckResponse response;
  TANDEM_RETURN_IF_ERROR(
      ctx.CallError(stub->Check(call.get(), request, &response), target));
  std::string status(
      HealthCheckResponse::ServingStatus_Name(response.status()));
  Table table({"SERVER", "SERVICE", "STATUS"});
  table.AddRow(
      {target, request.service().empty() ? "\"\"" : request.service(), status});
  ctx.printer().Print(response, table);
  if (response.status() != HealthCheckResponse::SERVING) {
    return absl::UnavailableError(absl::StrCat(
        "service `", request.service(), "` on ", target, " is ", status));
  }
  return absl::OkStatus();
}

}  // namespace

void AddHealthCommand(CommandSet& commands) {
  commands.AddGroup({"health"}, "Whether a server is serving.");
  commands.Add(
      CommandSpec({"health"}, "Check a server's health (grpc.health.v1).")
          .Description("Exits 1 unless the status is SERVING. The router's "
                       "readiness is the service "
                       "tandem.router.v1.RouterService.")
          .Flags({{"service", "NAME",
                   "The service to ask about; \"\" (the default) is the "
                   "whole server."}})
          .DefaultTimeout(absl::Seconds(5))
          .Run(Health));
}

}  // namespace tandem::cli
