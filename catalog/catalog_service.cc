#include "catalog/catalog_service.h"

#include <deque>
#include <utility>

#include "common/grpc_status.h"
#include "common/log.h"
#include "common/offload.h"

namespace tandem::catalog {

namespace v1 = ::tandem::catalog::v1;

// One WatchFreeze stream: the current freeze, then every event the catalog
// publishes, one write at a time.
class FreezeWatchReactor final
    : public grpc::ServerWriteReactor<v1::WatchFreezeResponse> {
 public:
  FreezeWatchReactor(CatalogServiceImpl* service) : service_(service) {
    handle_ = service_->catalog_->AddFreezeListener(
        [this](const v1::WatchFreezeResponse& event) {
          {
            absl::MutexLock lock(&mu_);
            pending_.push_back(event);
          }
          Pump();
        });
  }

  void Close(grpc::Status status) {
    {
      absl::MutexLock lock(&mu_);
      if (closing_) return;
      closing_ = true;
      close_status_ = std::move(status);
    }
    Pump();
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok && !closing_) {
        closing_ = true;
        close_status_ =
            grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
      }
    }
    Pump();
  }

  void OnCancel() override {
    Close(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
  }

  void OnDone() override {
    service_->catalog_->RemoveFreezeListener(handle_);
    service_->WatcherDone(this);
    delete this;
  }

 private:
  void Pump() {
    absl::MutexLock lock(&mu_);
    if (writing_ || finished_) return;
    if (closing_) {
      finished_ = true;
      Finish(close_status_);
      return;
    }
    if (pending_.empty()) return;
    current_ = std::move(pending_.front());
    pending_.pop_front();
    writing_ = true;
    StartWrite(&current_);
  }

  CatalogServiceImpl* const service_;
  int64_t handle_ = 0;
  absl::Mutex mu_;
  std::deque<v1::WatchFreezeResponse> pending_ ABSL_GUARDED_BY(mu_);
  v1::WatchFreezeResponse current_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status close_status_ ABSL_GUARDED_BY(mu_);
};

CatalogServiceImpl::CatalogServiceImpl(Catalog* catalog,
                                       const TokenAuthenticator* auth,
                                       WorkerPool* workers)
    : catalog_(catalog), auth_(auth), workers_(workers) {}

CatalogServiceImpl::~CatalogServiceImpl() { CloseWatchers(); }

void CatalogServiceImpl::CloseWatchers() {
  absl::MutexLock lock(&watchers_mu_);
  closing_ = true;
  // Close() only schedules Finish; a watcher leaves the set in OnDone, which
  // waits for this lock, so every one here is still alive.
  for (FreezeWatchReactor* watcher : watchers_) {
    watcher->Close(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                "catalog replica shutting down"));
  }
}

void CatalogServiceImpl::WatcherDone(FreezeWatchReactor* watcher) {
  absl::MutexLock lock(&watchers_mu_);
  watchers_.erase(watcher);
}

grpc::ServerUnaryReactor* CatalogServiceImpl::Offload(
    grpc::CallbackServerContext* context, Role role,
    std::function<absl::Status(const Principal&)> work) {
  return AuthorizeAndOffload(context, *auth_, role, *workers_, std::move(work));
}

grpc::ServerWriteReactor<v1::WatchFreezeResponse>*
CatalogServiceImpl::WatchFreeze(grpc::CallbackServerContext* context,
                                const v1::WatchFreezeRequest*) {
  absl::StatusOr<Principal> principal =
      auth_->Authorize(*context, Role::kViewer);
  absl::MutexLock lock(&watchers_mu_);
  if (!principal.ok() || closing_) {
    class Refused final
        : public grpc::ServerWriteReactor<v1::WatchFreezeResponse> {
     public:
      explicit Refused(grpc::Status status) { Finish(std::move(status)); }
      void OnDone() override { delete this; }
    };
    return new Refused(principal.ok()
                           ? grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                          "catalog replica shutting down")
                           : ToGrpcStatus(principal.status()));
  }
  auto* watcher = new FreezeWatchReactor(this);
  watchers_.insert(watcher);
  return watcher;
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
