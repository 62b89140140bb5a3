// Who holds each customer, for the ledger checker: the router's answer
// (ListRoutes), or everybody on the source without a router.
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/strings/str_cat.h"
#include "common/auth.h"
#include "tandem/router/v1/router.grpc.pb.h"
#include "testbed/traffic/ledger_check.h"

namespace tandem::testbed {
namespace {

namespace rv1 = ::tandem::router::v1;
using ::tandem::common::v1::SYSTEM_TARGET;

absl::Status FromGrpc(const grpc::Status& s, absl::string_view what) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat(what, ": ", s.error_message()));
}

class RouterHolderSource final : public HolderSource {
 public:
  RouterHolderSource(const std::string& address, std::string token)
      : stub_(rv1::RouterService::NewStub(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))),
        address_(address),
        token_(std::move(token)) {}

  absl::StatusOr<std::map<int64_t, Holder>> Holders(
      const std::vector<int64_t>& customers) override {
    std::map<int64_t, Holder> out;
    if (customers.empty()) return out;
    std::set<int64_t> wanted(customers.begin(), customers.end());
    rv1::ListRoutesRequest request;
    request.set_page_size(10000);
    while (true) {
      grpc::ClientContext context;
      Prepare(context);
      rv1::ListRoutesResponse page;
      grpc::Status s = stub_->ListRoutes(&context, request, &page);
      if (!s.ok()) {
        return FromGrpc(s, absl::StrCat("router ", address_, " ListRoutes"));
      }
      for (const rv1::Route& r : page.routes()) {
        if (!wanted.count(r.customer_id())) continue;
        out[r.customer_id()] = {r.system() == SYSTEM_TARGET,
                                r.state() == rv1::ROUTE_STATE_MIGRATING};
      }
      if (page.next_page_token().empty()) break;
      request.set_page_token(page.next_page_token());
    }
    if (out.size() < wanted.size()) {  // Unknown ones go to the default.
      grpc::ClientContext context;
      Prepare(context);
      rv1::GetDefaultSystemResponse fallback;
      grpc::Status s = stub_->GetDefaultSystem(&context, {}, &fallback);
      if (!s.ok()) {
        return FromGrpc(s,
                        absl::StrCat("router ", address_, " GetDefaultSystem"));
      }
      for (int64_t c : wanted) {
        out.try_emplace(c, Holder{fallback.system() == SYSTEM_TARGET, false});
      }
    }
    return out;
  }

 private:
  void Prepare(grpc::ClientContext& context) {
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    AttachBearerToken(context, token_);
  }

  std::unique_ptr<rv1::RouterService::Stub> stub_;
  const std::string address_;
  const std::string token_;
};

}  // namespace

absl::StatusOr<std::map<int64_t, Holder>> SourceOnlyHolders::Holders(
    const std::vector<int64_t>& customers) {
  std::map<int64_t, Holder> out;
  for (int64_t c : customers) out[c] = Holder{};
  return out;
}

std::unique_ptr<HolderSource> RouterHolders(const std::string& address,
                                            const std::string& token) {
  return std::make_unique<RouterHolderSource>(address, token);
}

}  // namespace tandem::testbed
