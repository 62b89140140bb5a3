// A fake tandem.catalog.v1.CatalogService for the proxy's tests, served by a
// real gRPC server (common/grpc_server.h) on a loopback port, so the proxy's
// CatalogClient talks to it over a real channel.
//
// WatchFreeze sends the current freeze, then every state set with
// SetState(); EndStreams() ends open streams with UNAVAILABLE (a catalog
// replica going away) while the server keeps running. CheckChange answers
// with the decision set by Decide() and records every request. Both
// methods require `authorization: Bearer <kCatalogToken>`.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/grpc_server.h"
#include "tandem/catalog/v1/catalog.grpc.pb.h"

namespace tandem::proxy::testing {

inline constexpr char kCatalogToken[] = "catalog-token-0123456789";

class FakeCatalog final
    : public ::tandem::catalog::v1::CatalogService::Service {
 public:
  using FreezeState = ::tandem::catalog::v1::FreezeState;

  // Serves on 127.0.0.1 at a free port, starting in `state` (version 1).
  static std::unique_ptr<FakeCatalog> Start(FreezeState state);
  ~FakeCatalog() override;

  int port() const { return port_; }
  std::string address() const;

  // Moves the freeze to `state` (version + 1) and tells every stream.
  void SetState(FreezeState state);
  int64_t version() const;
  // The answer of later CheckChange calls.
  void Decide(bool allowed, ::tandem::catalog::v1::ChangeRefusal refusal,
              std::string reason);
  // Ends every open WatchFreeze stream with UNAVAILABLE.
  void EndStreams();
  // Stops the server (its port refuses connections afterwards).
  void Stop();

  std::vector<::tandem::catalog::v1::CheckChangeRequest> checks() const;
  int watchers() const;

  grpc::Status WatchFreeze(
      grpc::ServerContext* context,
      const ::tandem::catalog::v1::WatchFreezeRequest* request,
      grpc::ServerWriter<::tandem::catalog::v1::WatchFreezeResponse>* writer)
      override;
  grpc::Status CheckChange(
      grpc::ServerContext* context,
      const ::tandem::catalog::v1::CheckChangeRequest* request,
      ::tandem::catalog::v1::CheckChangeResponse* response) override;

 private:
  FakeCatalog() = default;
  static bool Authorized(const grpc::ServerContext& context);

  std::unique_ptr<GrpcServer> server_;
  int port_ = 0;
  mutable absl::Mutex mu_;
  FreezeState state_ ABSL_GUARDED_BY(mu_);
  int64_t version_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int watchers_ ABSL_GUARDED_BY(mu_) = 0;
  bool allowed_ ABSL_GUARDED_BY(mu_) = false;
  ::tandem::catalog::v1::ChangeRefusal refusal_ ABSL_GUARDED_BY(mu_) =
      ::tandem::catalog::v1::CHANGE_REFUSAL_CATALOG_FROZEN;
  std::string reason_ ABSL_GUARDED_BY(mu_) = "catalog frozen (fake)";
  std::vector<::tandem::catalog::v1::CheckChangeRequest> checks_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace tandem::proxy::testing
