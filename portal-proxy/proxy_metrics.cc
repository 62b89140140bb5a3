#include "portal-proxy/proxy_metrics.h"

#include "common/log.h"
#include "common/metrics.h"

namespace tandem::proxy {

ProxyMetrics::ProxyMetrics(prometheus::Registry& registry) {
  auto& requests = prometheus::BuildCounter()
                       .Name("tandem_proxy_requests_total")
                       .Help("Requests by serving system and status class")
                       .Register(registry);
  static const char* kClasses[] = {"0xx", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (size_t s = 0; s <= kBackendCount; ++s) {
    const char* system = s == 0 ? "none" : Label(kBackends[s - 1]);
    for (int c = 0; c < 6; ++c) {
      requests_[s][c] =
          &requests.Add({{"system", system}, {"code", kClasses[c]}});
    }
  }
  duration_ = &prometheus::BuildHistogram()
                   .Name("tandem_proxy_request_duration_seconds")
                   .Help("Time from request head to the end of the response")
                   .Register(registry)
                   .Add({}, LatencyBuckets());
  InitUpstream(registry);
  InitHolds(registry);
  freeze_refusals_ = &prometheus::BuildCounter()
                          .Name("tandem_proxy_freeze_refusals_total")
                          .Help("Product-admin requests refused by the freeze")
                          .Register(registry);
  client_errors_ = &prometheus::BuildCounter()
                        .Name("tandem_proxy_client_errors_total")
                        .Help("Requests refused for a limit or malformed input")
                        .Register(registry);
  exported_replays_ =
      &prometheus::BuildCounter()
           .Name("tandem_proxy_exported_replays_total")
           .Help(
               "Requests a billing system refused because the customer had "
               "moved away, by what the proxy did")
           .Register(registry);
}

void ProxyMetrics::InitUpstream(prometheus::Registry& registry) {
  auto& upstream = prometheus::BuildHistogram()
                       .Name("tandem_proxy_upstream_duration_seconds")
                       .Help(
                           "Time from sending a request upstream to its "
                           "response head")
                       .Register(registry);
  auto& opened = prometheus::BuildCounter()
                     .Name("tandem_proxy_upstream_connections_opened_total")
                     .Help("Upstream connections opened")
                     .Register(registry);
  auto& reused = prometheus::BuildCounter()
                     .Name("tandem_proxy_upstream_connections_reused_total")
                     .Help("Requests sent on a kept-alive upstream connection")
                     .Register(registry);
  auto& connect_errors = prometheus::BuildCounter()
                             .Name("tandem_proxy_upstream_connect_errors_total")
                             .Help("Failed upstream connection attempts")
                             .Register(registry);
  for (Backend backend : kBackends) {
    const size_t i = Index(backend);
    upstream_duration_[i] =
        &upstream.Add({{"system", Label(backend)}}, LatencyBuckets());
    upstream_counters_[i].opened = &opened.Add({{"system", Label(backend)}});
    upstream_counters_[i].reused = &reused.Add({{"system", Label(backend)}});
    upstream_counters_[i].connect_errors =
        &connect_errors.Add({{"system", Label(backend)}});
  }
}

void ProxyMetrics::InitHolds(prometheus::Registry& registry) {
  held_ = &prometheus::BuildGauge()
               .Name("tandem_proxy_held_requests")
               .Help("Requests held right now (their customer is cutting over)")
               .Register(registry)
               .Add({});
  hold_duration_ = &prometheus::BuildHistogram()
                        .Name("tandem_proxy_hold_duration_seconds")
                        .Help("How long held requests were held")
                        .Register(registry)
                        .Add({}, prometheus::Histogram::BucketBoundaries{
                                     0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                     0.5, 1, 2.5, 5, 10, 30, 60});
  hold_timeouts_ = &prometheus::BuildCounter()
                        .Name("tandem_proxy_hold_timeouts_total")
                        .Help(
                            "Held requests answered 503 after the hold "
                            "timeout")
                        .Register(registry)
                        .Add({});
  auto& hold_outcomes = prometheus::BuildCounter()
                            .Name("tandem_proxy_hold_outcomes_total")
                            .Help("Held requests that did not get released")
                            .Register(registry);
  hold_rejected_ = &hold_outcomes.Add({{"outcome", "capacity"}});
  hold_abandoned_ = &hold_outcomes.Add({{"outcome", "client_gone"}});
}

void ProxyMetrics::CountRequest(std::optional<Backend> backend, int status,
                                double seconds) {
  int status_class = status / 100;
  if (status_class < 0 || status_class > 5) status_class = 0;
  const size_t system = backend ? Index(*backend) + 1 : 0;
  requests_[system][status_class]->Increment();
  duration_->Observe(seconds);
}

void FinishRecord(ProxyMetrics& metrics, const RequestRecord& record,
                  const std::string& peer) {
  const double seconds = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - record.start)
                             .count();
  metrics.CountRequest(record.backend, record.status, seconds);
  if (!record.log) return;
  auto line = TANDEM_LOG(Info, "access");
  line.With("method", record.method)
      .With("target", record.target)
      .With("status", record.status)
      .With("system", record.backend ? Label(*record.backend) : "none")
      .With("by", ResolvedByName(record.by))
      .With("customer_id", record.customer_id)
      .With("route_version", record.route_version)
      .With("duration_ms", seconds * 1000)
      .With("peer", peer)
      .With("outcome", record.outcome);
  if (record.held_seconds >= 0) {
    line.With("held_ms", record.held_seconds * 1000);
  }
  if (record.upstream_seconds >= 0) {
    line.With("upstream_ms", record.upstream_seconds * 1000);
  }
}

}  // namespace tandem::proxy
