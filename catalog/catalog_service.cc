#include "catalog/catalog_service.h"

#include <deque>
#include <utility>

#include "common/grpc_status.h"
#include "common/log.h"
#include "common/offload.h"
#include "common/server_stream.h"

namespace tandem::catalog {

namespace v1 = ::tandem::catalog::v1;

// One WatchFreeze stream: the current freeze, then every event the catalog
// publishes, one write at a time (common/server_stream.h).
class FreezeWatchReactor final : public ServerStream<v1::WatchFreezeResponse> {
 public:
  FreezeWatchReactor(StreamSet<v1::WatchFreezeResponse>* set, Catalog* catalog)
      : ServerStream(set), catalog_(catalog) {
    handle_ = catalog_->AddFreezeListener(
        [this](const v1::WatchFreezeResponse& event) {
          {
            absl::MutexLock lock(&mu_);
            pending_.push_back(event);
          }
          Pump();
        });
  }

 private:
  bool NextMessage(v1::WatchFreezeResponse* next) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (pending_.empty()) return false;
    *next = std::move(pending_.front());
    pending_.pop_front();
    return true;
  }

  void OnStreamDone() override { catalog_->RemoveFreezeListener(handle_); }

  Catalog* const catalog_;
  int64_t handle_ = 0;
  std::deque<v1::WatchFreezeResponse> pending_ ABSL_GUARDED_BY(mu_);
};

CatalogServiceImpl::CatalogServiceImpl(Catalog* catalog,
                                       const TokenAuthenticator* auth,
                                       WorkerPool* workers)
    : catalog_(catalog), auth_(auth), workers_(workers) {}

CatalogServiceImpl::~CatalogServiceImpl() { CloseWatchers(); }

void CatalogServiceImpl::CloseWatchers() { watchers_.CloseAll(); }

grpc::ServerUnaryReactor* CatalogServiceImpl::Offload(
    grpc::CallbackServerContext* context, Role role,
    std::function<absl::Status(const Principal&)> work) {
  return AuthorizeAndOffload(context, *auth_, role, *workers_, std::move(work));
}

grpc::ServerWriteReactor<v1::WatchFreezeResponse>*
CatalogServiceImpl::WatchFreeze(grpc::CallbackServerContext* context,
                                const v1::WatchFreezeRequest*) {
  return watchers_.Open(auth_->Authorize(*context, Role::kViewer).status(),
                        [this](StreamSet<v1::WatchFreezeResponse>* set) {
                          return new FreezeWatchReactor(set, catalog_);
                        });
}

// Read methods that need only memory answer on gRPC's thread.
grpc::ServerUnaryReactor* CatalogServiceImpl::GetFreeze(
    grpc::CallbackServerContext* context, const v1::GetFreezeRequest*,
    v1::GetFreezeResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = auth_->Authorize(*context, Role::kViewer).status();
  if (status.ok()) *response = catalog_->GetFreeze();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* CatalogServiceImpl::GetSettings(
    grpc::CallbackServerContext* context, const v1::GetSettingsRequest*,
    v1::GetSettingsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = auth_->Authorize(*context, Role::kViewer).status();
  if (status.ok()) {
    absl::StatusOr<v1::GetSettingsResponse> settings = catalog_->GetSettings();
    status = settings.status();
    if (status.ok()) *response = *std::move(settings);
  }
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// The rest run on the worker pool. Methods whose Catalog call takes the
// principal pass it; the others ignore it.
#define TANDEM_OFFLOAD_WITH_PRINCIPAL(Method, role)                         \
  grpc::ServerUnaryReactor* CatalogServiceImpl::Method(                     \
      grpc::CallbackServerContext* context,                                 \
      const v1::Method##Request* request, v1::Method##Response* response) { \
    return Offload(context, role,                                           \
                   [this, request, response](const Principal& who) {        \
                     absl::StatusOr<v1::Method##Response> result =          \
                         catalog_->Method(who, *request);                   \
                     if (!result.ok()) return result.status();              \
                     *response = *std::move(result);                        \
                     return absl::OkStatus();                               \
                   });                                                      \
  }
#define TANDEM_OFFLOAD(Method, role)                                        \
  grpc::ServerUnaryReactor* CatalogServiceImpl::Method(                     \
      grpc::CallbackServerContext* context,                                 \
      const v1::Method##Request* request, v1::Method##Response* response) { \
    return Offload(context, role,                                           \
                   [this, request, response](const Principal&) {            \
                     absl::StatusOr<v1::Method##Response> result =          \
                         catalog_->Method(*request);                        \
                     if (!result.ok()) return result.status();              \
                     *response = *std::move(result);                        \
                     return absl::OkStatus();                               \
                   });                                                      \
  }

TANDEM_OFFLOAD_WITH_PRINCIPAL(SetFreeze, Role::kOperator)
TANDEM_OFFLOAD_WITH_PRINCIPAL(CheckChange, Role::kViewer)
TANDEM_OFFLOAD(ListFreezeAudit, Role::kViewer)
TANDEM_OFFLOAD(ListProducts, Role::kViewer)
TANDEM_OFFLOAD(GetProduct, Role::kViewer)
TANDEM_OFFLOAD_WITH_PRINCIPAL(RefreshProducts, Role::kOperator)
TANDEM_OFFLOAD_WITH_PRINCIPAL(CreateProduct, Role::kOperator)
TANDEM_OFFLOAD_WITH_PRINCIPAL(UpdateProduct, Role::kOperator)
TANDEM_OFFLOAD_WITH_PRINCIPAL(DeleteProduct, Role::kOperator)
TANDEM_OFFLOAD_WITH_PRINCIPAL(SetMapping, Role::kOperator)
TANDEM_OFFLOAD(ListMappings, Role::kViewer)
TANDEM_OFFLOAD_WITH_PRINCIPAL(DeleteMapping, Role::kOperator)
TANDEM_OFFLOAD(ProposeMappings, Role::kViewer)
TANDEM_OFFLOAD_WITH_PRINCIPAL(GenerateMissingProducts, Role::kOperator)
TANDEM_OFFLOAD_WITH_PRINCIPAL(UpdateSettings, Role::kOperator)
TANDEM_OFFLOAD(PlanCustomer, Role::kViewer)
TANDEM_OFFLOAD(PlanCustomers, Role::kViewer)

#undef TANDEM_OFFLOAD
#undef TANDEM_OFFLOAD_WITH_PRINCIPAL

}  // namespace tandem::catalog
