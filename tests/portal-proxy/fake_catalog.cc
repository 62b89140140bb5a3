#include "tests/portal-proxy/fake_catalog.h"

#include "absl/strings/str_cat.h"

namespace tandem::proxy::testing {

namespace catalog = ::tandem::catalog::v1;

std::unique_ptr<FakeCatalog> FakeCatalog::Start(FreezeState state) {
  std::unique_ptr<FakeCatalog> fake(new FakeCatalog());
  {
    absl::MutexLock lock(&fake->mu_);
    fake->state_ = state;
  }
  GrpcServerOptions options;
  options.address = "127.0.0.1:0";
  auto server = GrpcServer::Start(options, {fake.get()});
  if (!server.ok()) {
    return nullptr;
  }
  fake->server_ = *std::move(server);
  fake->port_ = fake->server_->port();
  return fake;
}

FakeCatalog::~FakeCatalog() { Stop(); }

std::string FakeCatalog::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

void FakeCatalog::SetState(FreezeState state) {
  absl::MutexLock lock(&mu_);
  state_ = state;
  ++version_;
}

int64_t FakeCatalog::version() const {
  absl::MutexLock lock(&mu_);
  return version_;
}

void FakeCatalog::Decide(bool allowed, catalog::ChangeRefusal refusal,
                         std::string reason) {
  absl::MutexLock lock(&mu_);
  allowed_ = allowed;
  refusal_ = refusal;
  reason_ = std::move(reason);
}

void FakeCatalog::EndStreams() {
  absl::MutexLock lock(&mu_);
  ++generation_;
}

void FakeCatalog::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (server_ != nullptr) {
    server_->Shutdown(absl::Seconds(1));
    server_.reset();
  }
}

std::vector<catalog::CheckChangeRequest> FakeCatalog::checks() const {
  absl::MutexLock lock(&mu_);
  return checks_;
}

int FakeCatalog::watchers() const {
  absl::MutexLock lock(&mu_);
  return watchers_;
}

bool FakeCatalog::Authorized(const grpc::ServerContext& context) {
  auto it = context.client_metadata().find("authorization");
  return it != context.client_metadata().end() &&
         std::string(it->second.data(), it->second.size()) ==
             absl::StrCat("Bearer ", kCatalogToken);
}

grpc::Status FakeCatalog::WatchFreeze(
    grpc::ServerContext* context, const catalog::WatchFreezeRequest*,
    grpc::ServerWriter<catalog::WatchFreezeResponse>* writer) {
  if (!Authorized(*context)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no token");
  }
  absl::MutexLock lock(&mu_);
  const int64_t generation = generation_;
  int64_t sent = 0;
  ++watchers_;
  grpc::Status result(grpc::StatusCode::CANCELLED, "client went away");
  while (!context->IsCancelled()) {
    if (generation_ != generation || stopping_) {
      result = grpc::Status(grpc::StatusCode::UNAVAILABLE, "catalog leaving");
      break;
    }
    if (version_ != sent) {
      catalog::WatchFreezeResponse response;
      response.mutable_freeze()->set_state(state_);
      response.mutable_freeze()->set_version(version_);
      sent = version_;
      mu_.Unlock();
      const bool written = writer->Write(response);
      mu_.Lock();
      if (!written) break;
      continue;
    }
    // Wakes on a change; the timeout only bounds how late a cancelled
    // client is noticed.
    auto changed = [this, sent, generation]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return version_ != sent || generation_ != generation || stopping_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&changed), absl::Milliseconds(50));
  }
  --watchers_;
  return result;
}

grpc::Status FakeCatalog::CheckChange(
    grpc::ServerContext* context, const catalog::CheckChangeRequest* request,
    catalog::CheckChangeResponse* response) {
  if (!Authorized(*context)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no token");
  }
  absl::MutexLock lock(&mu_);
  checks_.push_back(*request);
  response->set_allowed(allowed_);
  if (!allowed_) {
    response->set_refusal(refusal_);
    response->set_reason(reason_);
  }
  response->mutable_freeze()->set_state(state_);
  response->mutable_freeze()->set_version(version_);
  return grpc::Status::OK;
}

}  // namespace tandem::proxy::testing
