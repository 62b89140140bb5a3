#include "migrator/move/grpc_clients.h"

#include <grpcpp/create_channel.h>

#include "absl/strings/str_cat.h"
#include "common/auth.h"

namespace tandem::migrator {
namespace {

absl::Status FromGrpc(const grpc::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat(what, ": ", s.error_message()));
}

class GrpcRouteClient final : public RouteClient {
 public:
  GrpcRouteClient(const std::string& target, std::string token,
                  absl::Duration deadline)
      : stub_(::tandem::router::v1::RouterService::NewStub(
            grpc::CreateChannel(target, grpc::InsecureChannelCredentials()))),
        token_(std::move(token)),
        deadline_(deadline) {}

  absl::StatusOr<::tandem::router::v1::Route> GetRoute(
      int64_t customer_id) override {
    grpc::ClientContext ctx;
    Prepare(ctx);
    ::tandem::router::v1::GetRouteRequest request;
    request.set_customer_id(customer_id);
    ::tandem::router::v1::GetRouteResponse response;
    absl::Status s =
        FromGrpc(stub_->GetRoute(&ctx, request, &response), "router GetRoute");
    if (!s.ok()) return s;
    return response.route();
  }

  absl::StatusOr<::tandem::router::v1::Route> SetRoute(
      const ::tandem::router::v1::SetRouteRequest& request) override {
    grpc::ClientContext ctx;
    Prepare(ctx);
    ::tandem::router::v1::SetRouteResponse response;
    absl::Status s =
        FromGrpc(stub_->SetRoute(&ctx, request, &response), "router SetRoute");
    if (!s.ok()) return s;
    return response.route();
  }

  // BatchLookup by customer id, 10,000 keys a call (served from the
  // router's memory).
  absl::StatusOr<std::map<int64_t, ::tandem::router::v1::Route>> LookupRoutes(
      const std::vector<int64_t>& ids) override {
    std::map<int64_t, ::tandem::router::v1::Route> out;
    constexpr size_t kPerCall = 10000;
    for (size_t start = 0; start < ids.size(); start += kPerCall) {
      const size_t n = std::min(kPerCall, ids.size() - start);
      ::tandem::router::v1::BatchLookupRequest request;
      for (size_t i = start; i < start + n; ++i) {
        auto* key = request.add_keys();
        key->set_kind(::tandem::router::v1::KEY_KIND_CUSTOMER_ID);
        key->set_value(absl::StrCat(ids[i]));
      }
      grpc::ClientContext ctx;
      Prepare(ctx);
      ::tandem::router::v1::BatchLookupResponse response;
      absl::Status s = FromGrpc(stub_->BatchLookup(&ctx, request, &response),
                                "router BatchLookup");
      if (!s.ok()) return s;
      for (const auto& r : response.results()) {
        if (r.found()) out[r.route().customer_id()] = r.route();
      }
    }
    return out;
  }

 private:
  void Prepare(grpc::ClientContext& ctx) {
    AttachBearerToken(ctx, token_);
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline_));
  }
  std::unique_ptr<::tandem::router::v1::RouterService::Stub> stub_;
  std::string token_;
  absl::Duration deadline_;
};

class GrpcPlanClient final : public PlanClient {
 public:
  GrpcPlanClient(const std::string& target, std::string token,
                 absl::Duration deadline)
      : stub_(::tandem::catalog::v1::CatalogService::NewStub(
            grpc::CreateChannel(target, grpc::InsecureChannelCredentials()))),
        token_(std::move(token)),
        deadline_(deadline) {}

  absl::StatusOr<::tandem::catalog::v1::FreezeState> GetFreeze() override {
    grpc::ClientContext ctx;
    Prepare(ctx);
    ::tandem::catalog::v1::GetFreezeResponse response;
    absl::Status s = FromGrpc(
        stub_->GetFreeze(&ctx, ::tandem::catalog::v1::GetFreezeRequest(),
                         &response),
        "catalog GetFreeze");
    if (!s.ok()) return s;
    return response.freeze().state();
  }

  absl::StatusOr<::tandem::catalog::v1::CustomerPlan> PlanCustomer(
      int64_t customer_id, ::tandem::common::v1::Direction direction) override {
    grpc::ClientContext ctx;
    Prepare(ctx);
    ::tandem::catalog::v1::PlanCustomerRequest request;
    request.set_customer_id(customer_id);
    request.set_direction(direction);
    ::tandem::catalog::v1::PlanCustomerResponse response;
    absl::Status s = FromGrpc(stub_->PlanCustomer(&ctx, request, &response),
                              "catalog PlanCustomer");
    if (!s.ok()) return s;
    return response.plan();
  }

 private:
  void Prepare(grpc::ClientContext& ctx) {
    AttachBearerToken(ctx, token_);
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline_));
  }
  std::unique_ptr<::tandem::catalog::v1::CatalogService::Stub> stub_;
  std::string token_;
  absl::Duration deadline_;
};

}  // namespace

std::unique_ptr<RouteClient> NewGrpcRouteClient(const std::string& target,
                                                const std::string& token,
                                                absl::Duration deadline) {
  return std::make_unique<GrpcRouteClient>(target, token, deadline);
}

std::unique_ptr<PlanClient> NewGrpcPlanClient(const std::string& target,
                                              const std::string& token,
                                              absl::Duration deadline) {
  return std::make_unique<GrpcPlanClient>(target, token, deadline);
}

}  // namespace tandem::migrator
