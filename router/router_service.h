// The RouterService gRPC methods. Lookups are answered from the in-memory
// table on gRPC's own threads; methods that touch the database run on a
// worker pool; Watch streams follow the change feed.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "common/auth.h"
#include "common/server_stream.h"
#include "common/worker_pool.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "router/change_feed.h"
#include "router/import_source.h"
#include "router/route_store.h"
#include "router/route_table.h"
#include "tandem/router/v1/router.grpc.pb.h"

namespace tandem::router {

class WatchReactor;

class RouterServiceImpl final
    : public ::tandem::router::v1::RouterService::CallbackService {
 public:
  // Collaborators are not owned and must outlive the service.
  RouterServiceImpl(RouteTable* table, ChangeFeed* feed, RouteStore* store,
                    const TokenAuthenticator* auth, WorkerPool* workers,
                    std::map<std::string, ImportQuery> imports,
                    prometheus::Registry* registry);
  ~RouterServiceImpl() override;

  // Ends every Watch stream with UNAVAILABLE so clients move to another
  // replica, and refuses new ones. Call before shutting the server down.
  void CloseWatchers();

  grpc::ServerUnaryReactor* Lookup(
      grpc::CallbackServerContext* context,
      const ::tandem::router::v1::LookupRequest* request,
      ::tandem::router::v1::LookupResponse* response) override;
  grpc::ServerUnaryReactor* BatchLookup(
      grpc::CallbackServerContext* context,
      const ::tandem::router::v1::BatchLookupRequest* request,
      ::tandem::router::v1::BatchLookupResponse* response) override;
  grpc::ServerUnaryReactor* GetRoute(
      grpc::CallbackServerContext* context,
      const ::tandem::router::v1::GetRouteRequest* request,
      ::tandem::router::v1::GetRouteResponse* response) override;
  grpc::ServerUnaryReactor* ListRoutes(
      grpc::CallbackServerContext* context,
      const ::tandem::router::v1::ListRoutesRequest* request,
      ::tandem::router::v1::ListRoutesResponse* response) override;
  grpc::ServerUnaryReactor* SetRoute(
      grpc::CallbackServerContext* context,
      const ::tandem::router::v1::SetRouteRequest* request,
      ::tandem::router::v1::SetRouteResponse* response) override;
  grpc::ServerUnaryReactor* PutKeys(
      grpc::CallbackServerContext* context,
      const ::tandem::router::v1::PutKeysRequest* request,
      ::tandem::router::v1::PutKeysResponse* response) override;
  grpc::ServerUnaryReactor* DeleteKeys(
      grpc::CallbackServerContext* context,
      const ::tandem::router::v1::DeleteKeysRequest* request,
      ::tandem::router::v1::DeleteKeysResponse* response) override;
  grpc::ServerUnaryReactor* ImportRoutes(
      grpc::CallbackServerContext* context,
      const ::tandem::router::v1::ImportRoutesRequest* request,
      ::tandem::router::v1::ImportRoutesResponse* response) override;
  grpc::ServerWriteReactor<::tandem::router::v1::WatchResponse>* Watch(
      grpc::CallbackServerContext* context,
      const ::tandem::router::v1::WatchRequest* request) override;
  grpc::ServerUnaryReactor* GetStats(
      grpc::CallbackServerContext* context,
      const ::tandem::router::v1::GetStatsRequest* request,
      ::tandem::router::v1::GetStatsResponse* response) override;
  grpc::ServerUnaryReactor* GetDefaultSystem(
      grpc::CallbackServerContext* context,
      const ::tandem::router::v1::GetDefaultSystemRequest* request,
      ::tandem::router::v1::GetDefaultSystemResponse* response) override;
  grpc::ServerUnaryReactor* SetDefaultSystem(
      grpc::CallbackServerContext* context,
      const ::tandem::router::v1::SetDefaultSystemRequest* request,
      ::tandem::router::v1::SetDefaultSystemResponse* response) override;

 private:
  friend class WatchReactor;

  // Authorizes the call for `role`, then runs `work` on the worker pool and
  // finishes the call with its status.
  grpc::ServerUnaryReactor* Offload(
      grpc::CallbackServerContext* context, Role role,
      std::function<absl::Status(const Principal&)> work);
  // Waits (bounded) until this replica's table shows `revision`, so a caller
  // that changed something reads its own write from this replica.
  void AwaitApplied(int64_t revision);
  void ResolveInto(const Key& key, ::tandem::router::v1::LookupResponse* out);
  // Records the time since `start` in tandem_router_lookup_seconds.
  void ObserveLookup(std::chrono::steady_clock::time_point start);

  RouteTable* table_;
  ChangeFeed* feed_;
  RouteStore* store_;
  const TokenAuthenticator* auth_;
  WorkerPool* workers_;
  const std::map<std::string, ImportQuery> imports_;

  StreamSet<::tandem::router::v1::WatchResponse> watchers_{
      "router replica shutting down"};

  prometheus::Counter* lookup_hit_ = nullptr;
  prometheus::Counter* lookup_miss_ = nullptr;
  prometheus::Counter* lookup_invalid_ = nullptr;
  prometheus::Histogram* lookup_latency_ = nullptr;
  prometheus::Family<prometheus::Counter>* route_changes_ = nullptr;
};

// Checks a key for the rules in router.proto: INVALID_ARGUMENT otherwise.
absl::Status ValidateKey(const Key& key);

}  // namespace tandem::router
