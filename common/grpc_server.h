// Builds and runs every Tandem gRPC server the same way: health
// (grpc.health.v1), server reflection, optional TLS, per-method request
// counters and latency histograms, and a graceful shutdown.
#pragma once

#include <grpcpp/server.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "prometheus/registry.h"

namespace tandem {

struct GrpcServerOptions {
  // host:port to listen on; port 0 picks a free one.
  std::string address = "0.0.0.0:0";
  // Both set: serve TLS with this PEM certificate chain and key. Both empty:
  // plaintext (for loopback and meshes that terminate TLS).
  std::string tls_cert_file;
  std::string tls_key_file;
  // Where grpc_server_handled_total and grpc_server_handling_seconds go;
  // may be null.
  std::shared_ptr<prometheus::Registry> registry;
  // Fully qualified service names reported by the health service, e.g.
  // "tandem.router.v1.RouterService". They start NOT_SERVING; the service
  // sets them SERVING when ready. "" (liveness) is always SERVING.
  std::vector<std::string> health_services;
  int max_receive_message_bytes = 64 << 20;
};

class GrpcServer {
 public:
  // Builds and starts a server for `services` (not owned; they must outlive
  // the server). Returns UNAVAILABLE when the address cannot be bound and
  // INVALID_ARGUMENT for an incomplete TLS configuration.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(
      const GrpcServerOptions& options,
      const std::vector<grpc::Service*>& services);

  ~GrpcServer();

  // The port actually bound.
  int port() const { return port_; }

  // Sets the health of one of the options' `health_services`.
  void SetServing(const std::string& service, bool serving);

  // Reports NOT_SERVING everywhere, stops accepting calls, lets calls in
  // flight finish for up to `grace`, then cancels the rest. Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  GrpcServer() = default;

  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts
// later. Call first thing in main().
void BlockTerminationSignals();

// Waits until SIGTERM or SIGINT arrives; returns the signal's name.
std::string WaitForTerminationSignal();

}  // namespace tandem
