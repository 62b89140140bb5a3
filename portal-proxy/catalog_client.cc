#include "portal-proxy/catalog_client.h"

#include <grpcpp/create_channel.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/auth.h"
#include "common/grpc_status.h"
#include "common/log.h"

namespace tandem::proxy {

namespace catalog = ::tandem::catalog::v1;

namespace {
// The catalog bounds `detail` (see CheckChangeRequest).
constexpr size_t kMaxDetailBytes = 1024;
}  // namespace

CatalogClient::CatalogClient(CatalogClientOptions options,
                             CachedFreezePolicy* policy)
    : options_(std::move(options)),
      policy_(policy),
      clock_(options_.clock != nullptr ? *options_.clock : Clock::Real()) {
  absl::MutexLock lock(&mu_);
  disconnected_since_ = clock_.Now();
}

std::unique_ptr<CatalogClient> CatalogClient::Start(
    CatalogClientOptions options, CachedFreezePolicy* policy,
    prometheus::Registry* registry) {
  std::unique_ptr<CatalogClient> client(
      new CatalogClient(std::move(options), policy));
  policy->SetState(policy->state(), false);
  client->channel_ =
      CreateFollowerChannel({.target = client->options_.target,
                             .credentials = client->options_.credentials,
                             .min_backoff = client->options_.min_backoff,
                             .max_backoff = client->options_.max_backoff});
  client->stub_ = catalog::CatalogService::NewStub(client->channel_);
  if (registry != nullptr) {
    client->connected_gauge_ =
        &prometheus::BuildGauge()
             .Name("tandem_proxy_freeze_feed_connected")
             .Help("1 while the catalog's WatchFreeze stream is open")
             .Register(*registry)
             .Add({});
    client->version_gauge_ =
        &prometheus::BuildGauge()
             .Name("tandem_proxy_freeze_feed_version")
             .Help("The catalog freeze version last received")
             .Register(*registry)
             .Add({});
    client->reconnects_counter_ =
        &prometheus::BuildCounter()
             .Name("tandem_proxy_freeze_feed_reconnects_total")
             .Help("WatchFreeze streams opened after the first")
             .Register(*registry)
             .Add({});
    auto& checks = prometheus::BuildCounter()
                       .Name("tandem_proxy_catalog_checks_total")
                       .Help("CheckChange calls to the catalog by result")
                       .Register(*registry);
    client->checks_allowed_ = &checks.Add({{"result", "allowed"}});
    client->checks_refused_ = &checks.Add({{"result", "refused"}});
    client->checks_failed_ = &checks.Add({{"result", "unavailable"}});
  }
  CatalogClient* c = client.get();
  client->follower_ = std::make_unique<StreamFollower>(
      StreamFollowerOptions{
          .name = "freeze_watch",
          .target = c->options_.target,
          .token = c->options_.token,
          .min_backoff = c->options_.min_backoff,
          .max_backoff = c->options_.max_backoff,
          .clock = &c->clock_,
          .reconnects_counter = c->reconnects_counter_,
      },
      [c](grpc::ClientContext& context) { return c->FollowOnce(context); });
  client->follower_->Start();
  return client;
}

CatalogClient::~CatalogClient() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;  // Wakes WaitForVersion callers.
  }
  follower_->Stop();
  // Callbacks of CheckChange calls refer to this object's counters.
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return checks_in_flight_ == 0;
  };
  mu_.Await(absl::Condition(&idle));
}

FreezeFeedStatus CatalogClient::Status() const {
  absl::MutexLock lock(&mu_);
  FreezeFeedStatus status;
  status.connected = connected_;
  status.state = state_;
  status.version = version_;
  status.staleness =
      connected_ ? absl::ZeroDuration() : clock_.Now() - disconnected_since_;
  return status;
}

bool CatalogClient::WaitForVersion(int64_t version,
                                   absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [this, version]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return (connected_ && version_ >= version) || stopping_;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout) && connected_ &&
         version_ >= version;
}

void CatalogClient::SetDisconnected() {
  absl::MutexLock lock(&mu_);
  if (connected_) {
    connected_ = false;
    disconnected_since_ = clock_.Now();
  }
  policy_->SetState(state_, false);
  if (connected_gauge_ != nullptr) connected_gauge_->Set(0);
}

StreamOutcome CatalogClient::FollowOnce(grpc::ClientContext& context) {
  std::unique_ptr<grpc::ClientReader<catalog::WatchFreezeResponse>> reader =
      stub_->WatchFreeze(&context, catalog::WatchFreezeRequest());
  catalog::WatchFreezeResponse response;
  StreamOutcome outcome;
  while (reader->Read(&response)) {
    const catalog::Freeze& freeze = response.freeze();
    {
      absl::MutexLock lock(&mu_);
      if (!connected_ || freeze.state() != state_) {
        TANDEM_LOG(Info, "freeze_state")
            .With("state", catalog::FreezeState_Name(freeze.state()))
            .With("version", freeze.version());
      }
      state_ = freeze.state();
      version_ = freeze.version();
      connected_ = true;
      // Set under the lock, before a WaitForVersion caller wakes, so that it
      // finds the policy and the gauges up to date.
      policy_->SetState(state_, true);
      if (connected_gauge_ != nullptr) {
        connected_gauge_->Set(1);
        version_gauge_->Set(static_cast<double>(freeze.version()));
      }
    }
    outcome.delivered = true;
  }
  outcome.status = reader->Finish();
  SetDisconnected();
  return outcome;
}

void CatalogClient::CheckChange(const ProductChange& change,
                                std::string on_behalf_of,
                                absl::Duration timeout, Done done) {
  struct Call {
    grpc::ClientContext context;
    catalog::CheckChangeRequest request;
    catalog::CheckChangeResponse response;
    Done done;
  };
  auto* call = new Call;
  call->done = std::move(done);
  AttachBearerToken(call->context, options_.token);
  call->context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  call->request.set_system(change.system);
  call->request.set_product_id(change.product_id);
  call->request.set_kind(change.kind);
  call->request.set_on_behalf_of(std::move(on_behalf_of));
  call->request.set_detail(
      std::string(change.detail.substr(0, kMaxDetailBytes)));
  {
    absl::MutexLock lock(&mu_);
    ++checks_in_flight_;
  }
  stub_->async()->CheckChange(&call->context, &call->request, &call->response,
                              [this, call](grpc::Status status) {
                                std::unique_ptr<Call> owned(call);
                                absl::StatusOr<FreezeDecision> result;
                                if (status.ok()) {
                                  FreezeDecision decision;
                                  decision.allowed = call->response.allowed();
                                  decision.refusal = call->response.refusal();
                                  decision.reason = call->response.reason();
                                  prometheus::Counter* counter =
                                      decision.allowed ? checks_allowed_
                                                       : checks_refused_;
                                  if (counter != nullptr) counter->Increment();
                                  result = std::move(decision);
                                } else {
                                  result = FromGrpcStatus(status);
                                  if (checks_failed_ != nullptr)
                                    checks_failed_->Increment();
                                }
                                owned->done(std::move(result));
                                absl::MutexLock lock(&mu_);
                                --checks_in_flight_;
                              });
}

}  // namespace tandem::proxy
