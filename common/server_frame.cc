#include "common/server_frame.h"

#include "common/log.h"
#include "common/status_macros.h"

namespace tandem {

absl::StatusOr<std::unique_ptr<ServerFrame>> ServerFrame::Create(
    ServerFrameOptions options) {
  std::unique_ptr<ServerFrame> frame(new ServerFrame(std::move(options)));
  const ServerFrameOptions& o = frame->options_;
  frame->registry_ = std::make_shared<prometheus::Registry>();
  if (!o.metrics_address.empty()) {
    TANDEM_ASSIGN_OR_RETURN(
        frame->metrics_,
        MetricsExposer::Start(o.metrics_address, frame->registry_));
  }
  TANDEM_ASSIGN_OR_RETURN(frame->auth_,
                          TokenAuthenticator::FromString(o.tokens));
  frame->auth_->RegisterMetrics(*frame->registry_, o.service);
  frame->workers_ = std::make_unique<WorkerPool>(o.worker_threads);
  return frame;
}

ServerFrame::~ServerFrame() { Shutdown(absl::Seconds(5)); }

absl::Status ServerFrame::Serve(grpc::Service* service, MysqlPool* pool,
                                bool ready) {
  GrpcServerOptions grpc_options;
  grpc_options.address = options_.grpc_address;
  grpc_options.tls_cert_file = options_.tls_cert_file;
  grpc_options.tls_key_file = options_.tls_key_file;
  grpc_options.registry = registry_;
  grpc_options.health_services = {options_.health_service};
  TANDEM_ASSIGN_OR_RETURN(grpc_, GrpcServer::Start(grpc_options, {service}));
  {
    absl::MutexLock lock(&health_mu_);
    pool_ = pool;
    ready_ = ready;
  }
  // The listener and this first reading both read the pool's current
  // health under one lock, so the last one written is the latest.
  if (pool != nullptr) {
    pool->SetHealthListener([this](bool) { UpdateReadiness(); });
  }
  UpdateReadiness();
  return absl::OkStatus();
}

void ServerFrame::UpdateReadiness() {
  absl::MutexLock lock(&health_mu_);
  if (grpc_ == nullptr || shut_down_) return;
  grpc_->SetServing(options_.health_service,
                    ready_ && (pool_ == nullptr || pool_->healthy()));
}

void ServerFrame::Shutdown(absl::Duration grace) {
  MysqlPool* pool;
  {
    absl::MutexLock lock(&health_mu_);
    if (shut_down_) return;
    shut_down_ = true;
    pool = pool_;
  }
  if (pool != nullptr) pool->SetHealthListener(nullptr);
  if (grpc_ != nullptr) {
    absl::Time start = absl::Now();
    grpc_->Shutdown(grace);
    TANDEM_LOG(Info, "grpc_drained")
        .With("seconds", absl::ToDoubleSeconds(absl::Now() - start));
  }
  // Offloaded calls finish before what they use goes away.
  workers_.reset();
}

}  // namespace tandem
