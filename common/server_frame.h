// The part of a service's composition root that every Tandem service starts
// the same way (the router's, the catalog's and the migrator's
// `<service>_server.cc`): the metrics registry and its endpoint, the token
// authenticator with its metrics, the worker pool that offloaded calls run
// on, the gRPC server (common/grpc_server.h) whose readiness follows a
// database pool, and the shutdown order: readiness stops following the
// pool, calls in flight drain for up to a grace period, then the worker pool
// stops (offloaded calls finish before what they use goes away).
//
// A root creates the frame first (its registry must outlive every pool and
// component that registered metrics in it), builds its components with
// registry(), auth() and workers(), then calls Serve(). Its own Shutdown
// closes its streams, calls the frame's Shutdown, then stops its
// components.
#pragma once

#include <grpcpp/impl/codegen/service_type.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/auth.h"
#include "common/grpc_server.h"
#include "common/metrics.h"
#include "common/mysql_pool.h"
#include "common/worker_pool.h"
#include "prometheus/registry.h"

namespace tandem {

struct ServerFrameOptions {
  // The service's short name ("router"): the label of the authenticator's
  // metrics.
  std::string service;
  // The readiness name in grpc.health.v1 ("tandem.router.v1.RouterService").
  std::string health_service;
  std::string grpc_address = "127.0.0.1:0";
  // Empty: no metrics endpoint (tests); otherwise host:port.
  std::string metrics_address;
  std::string tls_cert_file;
  std::string tls_key_file;
  // Contents of the tokens file (see common/auth.h).
  std::string tokens;
  int worker_threads = 8;
};

class ServerFrame {
 public:
  // Makes the registry, starts the metrics endpoint (if an address is
  // given), parses the tokens and starts the worker pool. INVALID_ARGUMENT
  // for a bad tokens file, UNAVAILABLE when the metrics address cannot be
  // bound.
  static absl::StatusOr<std::unique_ptr<ServerFrame>> Create(
      ServerFrameOptions options);
  // Shutdown(5 s).
  ~ServerFrame();

  // Starts serving `service` (not owned; it must outlive the frame's
  // Shutdown). Readiness is SERVING while `ready` and `pool` (may be null)
  // is healthy, and follows the pool from now on. Call once.
  absl::Status Serve(grpc::Service* service, MysqlPool* pool, bool ready);

  // Readiness stops following the pool; the server stops accepting calls,
  // lets those in flight finish for up to `grace` (then cancels them) and
  // the worker pool finishes its queue and stops. Idempotent.
  void Shutdown(absl::Duration grace);

  prometheus::Registry& registry() { return *registry_; }
  const std::shared_ptr<prometheus::Registry>& shared_registry() {
    return registry_;
  }
  const TokenAuthenticator& auth() const { return *auth_; }
  WorkerPool& workers() { return *workers_; }
  // The gRPC port bound (0 before Serve).
  int port() const { return grpc_ != nullptr ? grpc_->port() : 0; }
  int metrics_port() const { return metrics_ ? metrics_->port() : 0; }

 private:
  explicit ServerFrame(ServerFrameOptions options)
      : options_(std::move(options)) {}
  void UpdateReadiness();

  const ServerFrameOptions options_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<MetricsExposer> metrics_;
  std::unique_ptr<TokenAuthenticator> auth_;
  std::unique_ptr<WorkerPool> workers_;
  std::unique_ptr<GrpcServer> grpc_;
  MysqlPool* pool_ = nullptr;
  bool ready_ = false;
  absl::Mutex health_mu_;
  bool shut_down_ = false;
};

}  // namespace tandem
