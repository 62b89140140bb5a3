#include "portal-proxy/admin_service.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/log.h"

namespace tandem::proxy {

namespace pv1 = ::tandem::proxy::v1;

namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
constexpr int kDefaultDrainGraceMs = 5000;

// "FREEZE_STATE_FROZEN" -> "FROZEN", as the proto promises.
std::string FreezeStateName(FreezeState state) {
  std::string name = ::tandem::catalog::v1::FreezeState_Name(state);
  constexpr absl::string_view kPrefix = "FREEZE_STATE_";
  if (absl::StartsWith(name, kPrefix)) name.erase(0, kPrefix.size());
  return name;
}

// A page token is the position of the last customer returned: its hold
// start (Unix microseconds) and id, web-safe base64 so it reads as opaque.
std::string EncodePageToken(const HoldQueue::HeldCustomer& last) {
  return absl::WebSafeBase64Escape(absl::StrCat(
      "h1:", absl::ToUnixMicros(last.oldest_since), ":", last.customer_id));
}

absl::StatusOr<std::pair<int64_t, int64_t>> DecodePageToken(
    const std::string& token) {
  std::string plain;
  std::vector<absl::string_view> parts;
  if (absl::WebSafeBase64Unescape(token, &plain)) {
    parts = absl::StrSplit(plain, ':');
  }
  int64_t micros = 0;
  int64_t customer = 0;
  if (parts.size() != 3 || parts[0] != "h1" ||
      !absl::SimpleAtoi(parts[1], &micros) ||
      !absl::SimpleAtoi(parts[2], &customer)) {
    return absl::InvalidArgumentError("page_token is not one of ours");
  }
  return std::make_pair(micros, customer);
}

}  // namespace

grpc::ServerUnaryReactor* AdminService::GetStatus(
    grpc::CallbackServerContext* context, const pv1::GetStatusRequest*,
    pv1::GetStatusResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto principal = deps_.auth->Authorize(*context, Role::kViewer);
  if (!principal.ok()) {
    reactor->Finish(ToGrpcStatus(principal.status()));
    return reactor;
  }
  pv1::RouteCacheStatus* routes = response->mutable_route_cache();
  routes->set_connected(deps_.routes->connected());
  routes->set_synced(deps_.routes->synced());
  routes->set_revision(deps_.routes->revision());
  router::RouteCounts counts = deps_.routes->Counts();
  routes->set_routes(counts.source_stable + counts.source_migrating +
                     counts.target_stable + counts.target_migrating);
  routes->set_staleness_ms(
      absl::ToInt64Milliseconds(deps_.routes->Staleness()));
  routes->set_default_system(deps_.routes->default_system());

  pv1::FreezeCacheStatus* freeze = response->mutable_freeze();
  if (deps_.catalog != nullptr) {
    FreezeFeedStatus feed = deps_.catalog->Status();
    freeze->set_connected(feed.connected);
    freeze->set_state(FreezeStateName(feed.state));
    freeze->set_version(feed.version);
    freeze->set_staleness_ms(absl::ToInt64Milliseconds(feed.staleness));
  } else {
    freeze->set_connected(deps_.freeze->connected());
    freeze->set_state(FreezeStateName(deps_.freeze->state()));
  }

  const HoldQueue& holds = deps_.proxy->hold_queue();
  response->set_held_requests(holds.held());
  response->set_held_customers(holds.held_customers());
  for (const ProxyControl::UpstreamInfo& info : deps_.proxy->Upstreams()) {
    pv1::UpstreamStatus* upstream = response->add_upstreams();
    upstream->set_system(info.system);
    upstream->set_address(info.address);
    upstream->set_idle_connections(info.idle_connections);
    upstream->set_busy_connections(info.busy_connections);
    upstream->set_connections_opened_total(info.connections_opened);
    upstream->set_requests_total(info.requests);
  }
  response->set_draining(deps_.proxy->draining());
  response->set_version(deps_.version);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::ListHeldCustomers(
    grpc::CallbackServerContext* context,
    const pv1::ListHeldCustomersRequest* request,
    pv1::ListHeldCustomersResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto list = [&]() -> absl::Status {
    auto principal = deps_.auth->Authorize(*context, Role::kViewer);
    if (!principal.ok()) return principal.status();
    if (request->page_size() < 0) {
      return absl::InvalidArgumentError("page_size must not be negative");
    }
    const int page_size = request->page_size() == 0
                              ? kDefaultPageSize
                              : std::min(request->page_size(), kMaxPageSize);
    std::vector<HoldQueue::HeldCustomer> held =
        deps_.proxy->hold_queue().Snapshot();
    auto begin = held.begin();
    if (!request->page_token().empty()) {
      auto after = DecodePageToken(request->page_token());
      if (!after.ok()) return after.status();
      begin = std::upper_bound(
          held.begin(), held.end(), *after,
          [](const std::pair<int64_t, int64_t>& position,
             const HoldQueue::HeldCustomer& c) {
            return position < std::make_pair(absl::ToUnixMicros(c.oldest_since),
                                             c.customer_id);
          });
    }
    auto end = held.end() - begin > page_size ? begin + page_size : held.end();
    for (auto it = begin; it != end; ++it) {
      pv1::HeldCustomer* out = response->add_customers();
      out->set_customer_id(it->customer_id);
      out->set_held_requests(it->held_requests);
      out->set_oldest_since_unix_ms(absl::ToUnixMillis(it->oldest_since));
      out->set_route_version(it->route_version);
    }
    if (end != held.end()) {
      response->set_next_page_token(EncodePageToken(*(end - 1)));
    }
    return absl::OkStatus();
  };
  reactor->Finish(ToGrpcStatus(list()));
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::Drain(
    grpc::CallbackServerContext* context, const pv1::DrainRequest* request,
    pv1::DrainResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto drain = [&]() -> absl::Status {
    auto principal = deps_.auth->Authorize(*context, Role::kOperator);
    if (!principal.ok()) return principal.status();
    if (request->grace_ms() < 0) {
      return absl::InvalidArgumentError("grace_ms must not be negative");
    }
    const int grace_ms =
        request->grace_ms() == 0 ? kDefaultDrainGraceMs : request->grace_ms();
    // Health first, so load balancers start moving traffic away while the
    // listening sockets still accept.
    if (GrpcServer* health = health_.load(); health != nullptr) {
      health->SetServing(kProxyHealthService, false);
    }
    const bool started = deps_.proxy->Drain(absl::Milliseconds(grace_ms));
    TANDEM_LOG(Info, "drain_requested")
        .With("actor", principal->name)
        .With("reason", request->reason())
        .With("request_id", request->request_id())
        .With("grace_ms", grace_ms)
        .With("already_draining", !started);
    response->set_draining(deps_.proxy->draining());
    response->set_requests_in_flight(deps_.proxy->in_flight());
    response->set_held_requests(deps_.proxy->hold_queue().held());
    return absl::OkStatus();
  };
  reactor->Finish(ToGrpcStatus(drain()));
  return reactor;
}

}  // namespace tandem::proxy
