#include "router/router_service.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/offload.h"
#include "common/request_log.h"
#include "common/server_stream.h"
#include "common/status_macros.h"
#include "router/transitions.h"

namespace tandem::router {

namespace v1 = ::tandem::router::v1;
using ::tandem::common::v1::System;

namespace {

constexpr int kDefaultPageSize = 1000;
constexpr int kMaxPageSize = 10000;
constexpr int kMaxBatchKeys = 10000;
constexpr int kMaxImportCustomers = 100000;
constexpr size_t kMaxReason = 1024;
constexpr size_t kSnapshotItemsPerMessage = 2000;
constexpr size_t kChangesPerMessage = 1000;

std::string EncodePageToken(int64_t after) {
  return absl::WebSafeBase64Escape(absl::StrCat("r1:", after));
}

absl::StatusOr<int64_t> DecodePageToken(const std::string& token) {
  if (token.empty()) {
    return 0;
  }
  std::string raw;
  int64_t after = 0;
  if (!absl::WebSafeBase64Unescape(token, &raw) ||
      !absl::StartsWith(raw, "r1:") ||
      !absl::SimpleAtoi(absl::string_view(raw).substr(3), &after) ||
      after < 0) {
    return absl::InvalidArgumentError("page_token is not one this server made");
  }
  return after;
}

absl::Status ValidateRequestText(const std::string& request_id,
                                 const std::string& reason) {
  TANDEM_RETURN_IF_ERROR(ValidateRequestId(request_id));
  if (reason.size() > kMaxReason) {
    return absl::InvalidArgumentError("reason is longer than 1024 bytes");
  }
  return absl::OkStatus();
}

absl::Status ValidateCustomerId(int64_t customer_id) {
  if (customer_id <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("customer_id must be positive, got ", customer_id));
  }
  return absl::OkStatus();
}

absl::Status ValidateKeys(const google::protobuf::RepeatedPtrField<Key>& keys) {
  if (keys.empty()) {
    return absl::InvalidArgumentError("no keys given");
  }
  for (const Key& key : keys) {
    TANDEM_RETURN_IF_ERROR(ValidateKey(key));
    if (key.kind() == v1::KEY_KIND_CUSTOMER_ID) {
      return absl::InvalidArgumentError(
          "customer_id keys are implicit and cannot be stored");
    }
  }
  return absl::OkStatus();
}

// The checks PutKeys and DeleteKeys share.
absl::Status ValidateKeyChange(
    int64_t customer_id, const std::string& request_id,
    const google::protobuf::RepeatedPtrField<Key>& keys) {
  TANDEM_RETURN_IF_ERROR(ValidateCustomerId(customer_id));
  TANDEM_RETURN_IF_ERROR(ValidateRequestText(request_id, ""));
  return ValidateKeys(keys);
}

bool ValidSystem(System system) {
  return system == ::tandem::common::v1::SYSTEM_SOURCE ||
         system == ::tandem::common::v1::SYSTEM_TARGET;
}

}  // namespace

absl::Status ValidateKey(const Key& key) {
  if (key.kind() == v1::KEY_KIND_UNSPECIFIED ||
      !v1::KeyKind_IsValid(key.kind())) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown key kind ", static_cast<int>(key.kind())));
  }
  if (key.value().empty()) {
    return absl::InvalidArgumentError("key value is empty");
  }
  if (key.value().size() > 255) {
    return absl::InvalidArgumentError("key value is longer than 255 bytes");
  }
  if (key.kind() == v1::KEY_KIND_CUSTOMER_ID) {
    int64_t id = 0;
    if (!absl::SimpleAtoi(key.value(), &id) || id <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "customer_id key `", key.value(), "` is not a positive integer"));
    }
  }
  return absl::OkStatus();
}

// One Watch stream: a snapshot when needed, then every change in order,
// one message at a time (common/server_stream.h); the feed's notifications
// and write completions both call Pump(), which asks NextMessage.
class WatchReactor final : public ServerStream<v1::WatchResponse> {
 public:
  WatchReactor(StreamSet<v1::WatchResponse>* set, RouterServiceImpl* service,
               int64_t from_revision)
      : ServerStream(set), service_(service) {
    std::vector<RouteChange> probe;
    {
      absl::MutexLock lock(&mu_);
      if (from_revision <= 0 ||
          !service_->feed_->ChangesAfter(from_revision, 0, &probe) ||
          from_revision > service_->table_->revision()) {
        StartSnapshot();
      } else {
        cursor_ = from_revision;
      }
    }
    subscription_ = service_->feed_->Subscribe([this] { Pump(); });
    Pump();
  }

 private:
  void OnStreamDone() override {
    TANDEM_LOG(Debug, "watch_done");
    service_->feed_->Unsubscribe(subscription_);
  }

  void StartSnapshot() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    snapshot_shard_ = 0;
    snapshot_first_ = true;
    snapshot_revision_ = service_->table_->revision();
  }

  bool NextMessage(v1::WatchResponse* response) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    RouteTable* table = service_->table_;
    if (snapshot_shard_ < 0) {
      std::vector<RouteChange> changes;
      if (!service_->feed_->ChangesAfter(cursor_, kChangesPerMessage,
                                         &changes)) {
        // Fell behind what the feed remembers: start over from a snapshot.
        StartSnapshot();
      } else if (changes.empty()) {
        return false;  // Idle until the feed has more.
      } else {
        for (RouteChange& change : changes) {
          *response->add_changes() = std::move(change);
        }
        cursor_ = response->changes().rbegin()->revision();
        response->set_revision(cursor_);
        response->set_default_system(table->default_system());
        return true;
      }
    }
    std::vector<RouteUpdate> items;
    while (snapshot_shard_ < RouteTable::kShards &&
           items.size() < kSnapshotItemsPerMessage) {
      table->SnapshotShard(snapshot_shard_++, &items);
    }
    response->set_reset(snapshot_first_);
    snapshot_first_ = false;
    for (RouteUpdate& item : items) {
      *response->add_snapshot() = std::move(item);
    }
    if (snapshot_shard_ >= RouteTable::kShards) {
      response->set_snapshot_done(true);
      cursor_ = snapshot_revision_;
      snapshot_shard_ = -1;
    }
    response->set_revision(snapshot_revision_);
    response->set_default_system(table->default_system());
    return true;
  }

  RouterServiceImpl* const service_;
  int subscription_ = -1;
  int64_t cursor_ ABSL_GUARDED_BY(mu_) = 0;
  int snapshot_shard_ ABSL_GUARDED_BY(mu_) = -1;
  bool snapshot_first_ ABSL_GUARDED_BY(mu_) = false;
  int64_t snapshot_revision_ ABSL_GUARDED_BY(mu_) = 0;
};

RouterServiceImpl::RouterServiceImpl(RouteTable* table, ChangeFeed* feed,
                                     RouteStore* store,
                                     const TokenAuthenticator* auth,
                                     WorkerPool* workers,
                                     std::map<std::string, ImportQuery> imports,
                                     prometheus::Registry* registry)
    : table_(table),
      feed_(feed),
      store_(store),
      auth_(auth),
      workers_(workers),
      imports_(std::move(imports)) {
  if (registry == nullptr) {
    return;
  }
  auto& lookups = prometheus::BuildCounter()
                      .Name("tandem_router_lookups_total")
                      .Help("Keys looked up, by result.")
                      .Register(*registry);
  lookup_hit_ = &lookups.Add({{"result", "found"}});
  lookup_miss_ = &lookups.Add({{"result", "not_found"}});
  lookup_invalid_ = &lookups.Add({{"result", "invalid"}});
  lookup_latency_ = &prometheus::BuildHistogram()
                         .Name("tandem_router_lookup_seconds")
                         .Help(
                             "Time to resolve one Lookup or BatchLookup "
                             "call in the table.")
                         .Register(*registry)
                         .Add({}, prometheus::Histogram::BucketBoundaries{
                                      0.000001, 0.000005, 0.00001, 0.00005,
                                      0.0001, 0.0005, 0.001, 0.005, 0.01});
  route_changes_ = &prometheus::BuildCounter()
                        .Name("tandem_router_route_changes_total")
                        .Help(
                            "Route changes committed through this replica, "
                            "by resulting state.")
                        .Register(*registry);
}

RouterServiceImpl::~RouterServiceImpl() { CloseWatchers(); }

void RouterServiceImpl::CloseWatchers() { watchers_.CloseAll(); }

grpc::ServerUnaryReactor* RouterServiceImpl::Offload(
    grpc::CallbackServerContext* context, Role role,
    std::function<absl::Status(const Principal&)> work) {
  return AuthorizeAndOffload(context, *auth_, role, *workers_, std::move(work));
}

void RouterServiceImpl::AwaitApplied(int64_t revision) {
  if (revision > 0 && !feed_->WaitForRevision(revision, absl::Seconds(2))) {
    TANDEM_LOG(Warning, "change_not_applied_in_time")
        .With("revision", revision);
  }
}

void RouterServiceImpl::ObserveLookup(
    std::chrono::steady_clock::time_point start) {
  if (lookup_latency_ != nullptr) {
    lookup_latency_->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count());
  }
}

void RouterServiceImpl::ResolveInto(const Key& key, v1::LookupResponse* out) {
  std::optional<Route> route = table_->Lookup(key.kind(), key.value());
  out->set_default_system(table_->default_system());
  if (route.has_value()) {
    out->set_found(true);
    *out->mutable_route() = *std::move(route);
    if (lookup_hit_ != nullptr) lookup_hit_->Increment();
  } else if (lookup_miss_ != nullptr) {
    lookup_miss_->Increment();
  }
}

grpc::ServerUnaryReactor* RouterServiceImpl::Lookup(
    grpc::CallbackServerContext* context, const v1::LookupRequest* request,
    v1::LookupResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Principal> principal =
      auth_->Authorize(*context, Role::kViewer);
  if (!principal.ok()) {
    reactor->Finish(ToGrpcStatus(principal.status()));
    return reactor;
  }
  if (absl::Status valid = ValidateKey(request->key()); !valid.ok()) {
    if (lookup_invalid_ != nullptr) lookup_invalid_->Increment();
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  auto start = std::chrono::steady_clock::now();
  ResolveInto(request->key(), response);
  ObserveLookup(start);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* RouterServiceImpl::BatchLookup(
    grpc::CallbackServerContext* context, const v1::BatchLookupRequest* request,
    v1::BatchLookupResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Principal> principal =
      auth_->Authorize(*context, Role::kViewer);
  if (!principal.ok()) {
    reactor->Finish(ToGrpcStatus(principal.status()));
    return reactor;
  }
  if (request->keys_size() > kMaxBatchKeys) {
    if (lookup_invalid_ != nullptr) lookup_invalid_->Increment();
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "at most 10000 keys per BatchLookup"));
    return reactor;
  }
  for (int i = 0; i < request->keys_size(); ++i) {
    if (absl::Status valid = ValidateKey(request->keys(i)); !valid.ok()) {
      if (lookup_invalid_ != nullptr) lookup_invalid_->Increment();
      reactor->Finish(ToGrpcStatus(absl::InvalidArgumentError(
          absl::StrCat("keys[", i, "]: ", valid.message()))));
      return reactor;
    }
  }
  auto start = std::chrono::steady_clock::now();
  response->mutable_results()->Reserve(request->keys_size());
  for (const Key& key : request->keys()) {
    ResolveInto(key, response->add_results());
  }
  ObserveLookup(start);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* RouterServiceImpl::GetRoute(
    grpc::CallbackServerContext* context, const v1::GetRouteRequest* request,
    v1::GetRouteResponse* response) {
  // The database has the audit fields (updated_at/by) the table does not.
  return Offload(
      context, Role::kViewer,
      [this, request, response](const Principal&) -> absl::Status {
        TANDEM_RETURN_IF_ERROR(ValidateCustomerId(request->customer_id()));
        TANDEM_ASSIGN_OR_RETURN(*response,
                                store_->GetRoute(request->customer_id()));
        if (!request->include_keys()) {
          response->clear_keys();
        }
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* RouterServiceImpl::ListRoutes(
    grpc::CallbackServerContext* context, const v1::ListRoutesRequest* request,
    v1::ListRoutesResponse* response) {
  return Offload(
      context, Role::kViewer,
      [this, request, response](const Principal&) -> absl::Status {
        if (request->page_size() < 0) {
          return absl::InvalidArgumentError("page_size must not be negative");
        }
        if (!::tandem::common::v1::System_IsValid(request->system()) ||
            !v1::RouteState_IsValid(request->state())) {
          return absl::InvalidArgumentError("unknown system or state filter");
        }
        int page_size = request->page_size() == 0
                            ? kDefaultPageSize
                            : std::min(request->page_size(), kMaxPageSize);
        TANDEM_ASSIGN_OR_RETURN(int64_t after,
                                DecodePageToken(request->page_token()));
        RouteFilter filter{request->system(), request->state()};
        TANDEM_ASSIGN_OR_RETURN(std::vector<Route> routes,
                                store_->ListRoutes(filter, after, page_size));
        for (Route& route : routes) {
          *response->add_routes() = std::move(route);
        }
        if (static_cast<int>(routes.size()) == page_size) {
          response->set_next_page_token(
              EncodePageToken(response->routes().rbegin()->customer_id()));
        }
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* RouterServiceImpl::SetRoute(
    grpc::CallbackServerContext* context, const v1::SetRouteRequest* request,
    v1::SetRouteResponse* response) {
  return Offload(
      context, Role::kOperator,
      [this, request, response](const Principal& who) -> absl::Status {
        TANDEM_RETURN_IF_ERROR(ValidateCustomerId(request->customer_id()));
        TANDEM_RETURN_IF_ERROR(
            ValidateRequestText(request->request_id(), request->reason()));
        if (request->expected_version() < 0) {
          return absl::InvalidArgumentError(
              "expected_version must not be negative");
        }
        if (request->lease_ms() < 0 || request->lease_ms() > 3600000) {
          return absl::InvalidArgumentError(
              "lease_ms must be between 0 and 3,600,000");
        }
        if (!ValidSystem(request->system()) ||
            (request->state() != v1::ROUTE_STATE_STABLE &&
             request->state() != v1::ROUTE_STATE_MIGRATING)) {
          return absl::InvalidArgumentError(
              "system must be SOURCE or TARGET and state STABLE or "
              "MIGRATING");
        }
        TANDEM_ASSIGN_OR_RETURN(
            RouteChange change,
            store_->SetRoute(*request, Actor{who.name, request->reason()}));
        // A replayed answer (revision 0) names the version it is about,
        // which this replica's table may not have applied yet.
        AwaitApplied(change.route_update().route().version());
        *response->mutable_route() = change.route_update().route();
        if (change.revision() > 0) {
          TANDEM_LOG(Info, "route_changed")
              .With("customer_id", request->customer_id())
              .With("to", RouteStateName(request->system(), request->state()))
              .With("version", change.revision())
              .With("actor", who.name)
              .With("request_id", request->request_id());
          if (route_changes_ != nullptr) {
            route_changes_
                ->Add({{"to",
                        RouteStateName(request->system(), request->state())}})
                .Increment();
          }
        }
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* RouterServiceImpl::PutKeys(
    grpc::CallbackServerContext* context, const v1::PutKeysRequest* request,
    v1::PutKeysResponse* response) {
  return Offload(
      context, Role::kOperator,
      [this, request, response](const Principal& who) -> absl::Status {
        TANDEM_RETURN_IF_ERROR(ValidateKeyChange(
            request->customer_id(), request->request_id(), request->keys()));
        TANDEM_ASSIGN_OR_RETURN(
            RouteChange change,
            store_->PutKeys(request->customer_id(),
                            {request->keys().begin(), request->keys().end()},
                            Actor{who.name, "put keys"}));
        AwaitApplied(change.revision());
        response->set_added(change.route_update().keys_added_size());
        response->set_revision(change.revision());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* RouterServiceImpl::DeleteKeys(
    grpc::CallbackServerContext* context, const v1::DeleteKeysRequest* request,
    v1::DeleteKeysResponse* response) {
  return Offload(
      context, Role::kOperator,
      [this, request, response](const Principal& who) -> absl::Status {
        TANDEM_RETURN_IF_ERROR(ValidateKeyChange(
            request->customer_id(), request->request_id(), request->keys()));
        TANDEM_ASSIGN_OR_RETURN(
            RouteChange change,
            store_->DeleteKeys(request->customer_id(),
                               {request->keys().begin(), request->keys().end()},
                               Actor{who.name, "delete keys"}));
        AwaitApplied(change.revision());
        response->set_deleted(change.route_update().keys_removed_size());
        response->set_revision(change.revision());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* RouterServiceImpl::ImportRoutes(
    grpc::CallbackServerContext* context,
    const v1::ImportRoutesRequest* request,
    v1::ImportRoutesResponse* response) {
  return Offload(
      context, Role::kOperator,
      [this, request, response](const Principal& who) -> absl::Status {
        TANDEM_RETURN_IF_ERROR(
            ValidateRequestText(request->request_id(), request->reason()));
        System system = request->system();
        if (system == ::tandem::common::v1::SYSTEM_UNSPECIFIED) {
          system = ::tandem::common::v1::SYSTEM_SOURCE;
        }
        if (!ValidSystem(system)) {
          return absl::InvalidArgumentError("unknown system");
        }
        Actor actor{who.name, request->reason()};
        switch (request->input_case()) {
          case v1::ImportRoutesRequest::kCustomers: {
            const auto& customers = request->customers().customers();
            if (customers.size() > kMaxImportCustomers) {
              return absl::InvalidArgumentError(
                  "at most 100000 customers per ImportRoutes call; use "
                  "several calls or a configured query");
            }
            for (int i = 0; i < customers.size(); ++i) {
              absl::Status valid =
                  ValidateCustomerId(customers[i].customer_id());
              if (valid.ok() && !customers[i].keys().empty()) {
                valid = ValidateKeys(customers[i].keys());
              }
              if (!valid.ok()) {
                return absl::InvalidArgumentError(
                    absl::StrCat("customers[", i, "]: ", valid.message()));
              }
            }
            TANDEM_RETURN_IF_ERROR(store_->Import(
                system, {customers.begin(), customers.end()}, actor, response));
            break;
          }
          case v1::ImportRoutesRequest::kConfiguredQuery: {
            auto it = imports_.find(request->configured_query());
            if (it == imports_.end()) {
              return absl::NotFoundError(absl::StrCat(
                  "no import query named `", request->configured_query(),
                  "` is configured on this router"));
            }
            TANDEM_RETURN_IF_ERROR(ReadImportSource(
                it->second, 5000, [&](std::vector<v1::ImportedCustomer> page) {
                  return store_->Import(system, page, actor, response);
                }));
            break;
          }
          default:
            return absl::InvalidArgumentError(
                "give either customers or configured_query");
        }
        // Answer once this replica shows the import (read-your-writes).
        AwaitApplied(response->revision());
        response->set_revision(
            std::max(response->revision(), table_->revision()));
        TANDEM_LOG(Info, "routes_imported")
            .With("customers", response->customers_seen())
            .With("created", response->routes_created())
            .With("keys_added", response->keys_added())
            .With("conflicts", response->key_conflicts())
            .With("actor", who.name);
        return absl::OkStatus();
      });
}

grpc::ServerWriteReactor<v1::WatchResponse>* RouterServiceImpl::Watch(
    grpc::CallbackServerContext* context, const v1::WatchRequest* request) {
  absl::Status status = auth_->Authorize(*context, Role::kViewer).status();
  if (status.ok() && request->from_revision() < 0) {
    status = absl::InvalidArgumentError("from_revision must not be negative");
  }
  return watchers_.Open(status, [&](StreamSet<v1::WatchResponse>* set) {
    return new WatchReactor(set, this, request->from_revision());
  });
}

grpc::ServerUnaryReactor* RouterServiceImpl::GetStats(
    grpc::CallbackServerContext* context, const v1::GetStatsRequest*,
    v1::GetStatsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = auth_->Authorize(*context, Role::kViewer).status();
  if (status.ok()) {
    RouteCounts counts = table_->Counts();
    response->set_source_stable(counts.source_stable);
    response->set_source_migrating(counts.source_migrating);
    response->set_target_stable(counts.target_stable);
    response->set_target_migrating(counts.target_migrating);
    response->set_keys(counts.keys);
    response->set_revision(table_->revision());
    response->set_default_system(table_->default_system());
  }
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* RouterServiceImpl::GetDefaultSystem(
    grpc::CallbackServerContext* context, const v1::GetDefaultSystemRequest*,
    v1::GetDefaultSystemResponse* response) {
  return Offload(context, Role::kViewer,
                 [this, response](const Principal&) -> absl::Status {
                   TANDEM_ASSIGN_OR_RETURN(*response,
                                           store_->GetDefaultSystem());
                   return absl::OkStatus();
                 });
}

grpc::ServerUnaryReactor* RouterServiceImpl::SetDefaultSystem(
    grpc::CallbackServerContext* context,
    const v1::SetDefaultSystemRequest* request,
    v1::SetDefaultSystemResponse* response) {
  return Offload(
      context, Role::kOperator,
      [this, request, response](const Principal& who) -> absl::Status {
        TANDEM_RETURN_IF_ERROR(
            ValidateRequestText(request->request_id(), request->reason()));
        if (!ValidSystem(request->system())) {
          return absl::InvalidArgumentError(
              "default system must be SOURCE or TARGET");
        }
        TANDEM_ASSIGN_OR_RETURN(
            RouteChange change,
            store_->SetDefaultSystem(request->system(),
                                     Actor{who.name, request->reason()}));
        AwaitApplied(change.revision());
        response->set_system(request->system());
        response->set_revision(change.revision());
        if (change.revision() > 0) {
          TANDEM_LOG(Info, "default_system_changed")
              .With("system",
                    ::tandem::common::v1::System_Name(request->system()))
              .With("actor", who.name)
              .With("reason", request->reason());
        }
        return absl::OkStatus();
      });
}

}  // namespace tandem::router
