#include "common/offload.h"

#include <utility>

#include "common/grpc_status.h"

namespace tandem {

grpc::ServerUnaryReactor* AuthorizeAndOffload(
    grpc::CallbackServerContext* context, const TokenAuthenticator& auth,
    Role role, WorkerPool& workers,
    std::function<absl::Status(const Principal&)> work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Principal> principal = auth.Authorize(*context, role);
  if (!principal.ok()) {
    reactor->Finish(ToGrpcStatus(principal.status()));
    return reactor;
  }
  workers.Submit(
      [reactor, principal = *std::move(principal), work = std::move(work)] {
        reactor->Finish(ToGrpcStatus(work(principal)));
      });
  return reactor;
}

}  // namespace tandem
