#include "common/grpc_server.h"

#include <google/protobuf/descriptor.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/server_interceptor.h>
#include <signal.h>

#include <algorithm>
#include <array>
#include <chrono>

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/config.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/metrics.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"

namespace tandem {
namespace {

// Metrics of one method, created on its first call.
struct MethodMetrics {
  prometheus::Histogram* latency = nullptr;
  std::array<prometheus::Counter*, 17> handled{};
  std::string service;
  std::string method;
};

class ServerMetrics {
 public:
  explicit ServerMetrics(prometheus::Registry& registry)
      : handled_(prometheus::BuildCounter()
                     .Name("grpc_server_handled_total")
                     .Help("RPCs completed on the server, by status code.")
                     .Register(registry)),
        latency_(prometheus::BuildHistogram()
                     .Name("grpc_server_handling_seconds")
                     .Help("Time from receiving an RPC to sending its status.")
                     .Register(registry)) {}

  MethodMetrics* ForMethod(const char* full_method) {
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = methods_.try_emplace(full_method);
    if (inserted) {
      // "/pkg.Service/Method" -> service, method.
      std::vector<std::string> parts = absl::StrSplit(full_method, '/');
      it->second.service = parts.size() > 1 ? parts[1] : "unknown";
      it->second.method = parts.size() > 2 ? parts[2] : "unknown";
      it->second.latency = &latency_.Add({{"grpc_service", it->second.service},
                                          {"grpc_method", it->second.method}},
                                         LatencyBuckets());
    }
    return &it->second;
  }

  void Handled(MethodMetrics* m, grpc::StatusCode code) {
    int index = static_cast<int>(code);
    if (index < 0 || index >= 17) {
      index = static_cast<int>(grpc::StatusCode::UNKNOWN);
    }
    prometheus::Counter* counter;
    {
      absl::MutexLock lock(&mu_);
      if (m->handled[index] == nullptr) {
        m->handled[index] = &handled_.Add({{"grpc_service", m->service},
                                           {"grpc_method", m->method},
                                           {"grpc_code", GrpcCodeName(code)}});
      }
      counter = m->handled[index];
    }
    counter->Increment();
  }

 private:
  absl::Mutex mu_;
  // Interceptors of calls in flight (a Watch stream lasts hours) hold
  // pointers into this map, so it must keep them stable across inserts.
  absl::node_hash_map<std::string, MethodMetrics> methods_ ABSL_GUARDED_BY(mu_);
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Histogram>& latency_;
};

// Every call passes here. A request that does not parse as its method's
// message is answered INVALID_ARGUMENT with a message (gRPC's callback
// handlers answer such a call UNIMPLEMENTED with an empty message, which
// tells a client nothing and reads as a missing method in the metrics);
// then the call is counted when `metrics` is set.
class CallInterceptor final : public grpc::experimental::Interceptor {
 public:
  CallInterceptor(ServerMetrics* metrics, MethodMetrics* method,
                  std::string full_method)
      : metrics_(metrics),
        method_(method),
        full_method_(std::move(full_method)),
        start_(std::chrono::steady_clock::now()) {}

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      unparsable_ = true;
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      if (unparsable_ &&
          status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
        status = grpc::Status(
            grpc::StatusCode::INVALID_ARGUMENT,
            absl::StrCat("the request of ", full_method_, " is not a valid ",
                         RequestTypeOf(full_method_), " message"));
        methods->ModifySendStatus(status);
      }
      if (metrics_ != nullptr) {
        std::chrono::duration<double> elapsed =
            std::chrono::steady_clock::now() - start_;
        method_->latency->Observe(elapsed.count());
        metrics_->Handled(method_, status.error_code());
      }
    }
    methods->Proceed();
  }

 private:
  // "/pkg.Service/Method" -> the request message's full name, or "request"
  // when the method is not in the generated descriptor pool.
  static std::string RequestTypeOf(const std::string& full_method) {
    std::string name = full_method.substr(full_method.empty() ? 0 : 1);
    std::replace(name.begin(), name.end(), '/', '.');
    const google::protobuf::MethodDescriptor* method =
        google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
            name);
    return method != nullptr ? method->input_type()->full_name() : "request";
  }

  ServerMetrics* metrics_;
  MethodMetrics* method_;
  const std::string full_method_;
  const std::chrono::steady_clock::time_point start_;
  bool unparsable_ = false;
};

class CallInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // `metrics` may be null: calls are then not counted.
  explicit CallInterceptorFactory(std::shared_ptr<ServerMetrics> metrics)
      : metrics_(std::move(metrics)) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new CallInterceptor(
        metrics_.get(),
        metrics_ != nullptr ? metrics_->ForMethod(info->method()) : nullptr,
        info->method());
  }

 private:
  std::shared_ptr<ServerMetrics> metrics_;
};

// Metrics objects are keyed by registry so that two servers in one process
// (tests) do not register the same family twice.
std::shared_ptr<ServerMetrics> MetricsFor(prometheus::Registry* registry) {
  static absl::Mutex mu;
  static auto* by_registry =
      new absl::flat_hash_map<prometheus::Registry*,
                              std::weak_ptr<ServerMetrics>>();
  absl::MutexLock lock(&mu);
  std::shared_ptr<ServerMetrics> metrics = (*by_registry)[registry].lock();
  if (metrics == nullptr) {
    metrics = std::make_shared<ServerMetrics>(*registry);
    (*by_registry)[registry] = metrics;
  }
  return metrics;
}

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(
    const GrpcServerOptions& options,
    const std::vector<grpc::Service*>& services) {
  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both a certificate file and a key file");
  }
  if (!options.tls_cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadFile(options.tls_cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadFile(options.tls_key_file);
    if (!key.ok()) return key.status();
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    credentials = grpc::SslServerCredentials(ssl);
  } else {
    credentials = grpc::InsecureServerCredentials();
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  std::unique_ptr<GrpcServer> server(new GrpcServer());
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.address, credentials, &server->port_);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  for (grpc::Service* service : services) {
    builder.RegisterService(service);
  }
  {
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        creators;
    creators.push_back(std::make_unique<CallInterceptorFactory>(
        options.registry != nullptr ? MetricsFor(options.registry.get())
                                    : nullptr));
    builder.experimental().SetInterceptorCreators(std::move(creators));
  }
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.address));
  }
  grpc::HealthCheckServiceInterface* health =
      server->server_->GetHealthCheckService();
  health->SetServingStatus("", true);
  for (const std::string& name : options.health_services) {
    health->SetServingStatus(name, false);
  }
  return server;
}

GrpcServer::~GrpcServer() { Shutdown(absl::ZeroDuration()); }

void GrpcServer::SetServing(const std::string& service, bool serving) {
  if (!shut_down_) {
    server_->GetHealthCheckService()->SetServingStatus(service, serving);
  }
}

void GrpcServer::Shutdown(absl::Duration grace) {
  if (shut_down_ || server_ == nullptr) {
    return;
  }
  shut_down_ = true;
  // Load balancers and probes stop sending new calls first.
  server_->GetHealthCheckService()->Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() +
                    absl::ToChronoMilliseconds(grace));
  server_->Wait();
}

void BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

std::string WaitForTerminationSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int signal = 0;
  sigwait(&set, &signal);
  return signal == SIGTERM ? "SIGTERM" : "SIGINT";
}

}  // namespace tandem
