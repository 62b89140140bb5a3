// The HTTP front's metrics, and the record of one request that feeds them
// and the access log when the request ends.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "portal-proxy/backend.h"
#include "portal-proxy/customer_resolver.h"
#include "portal-proxy/freeze_policy.h"
#include "portal-proxy/upstream_pool.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace tandem::proxy {

class ProxyMetrics {
 public:
  // Registers every family in `registry` (which must outlive this).
  explicit ProxyMetrics(prometheus::Registry& registry);

  // tandem_proxy_requests_total{system,code}: `backend` empty for answers
  // the proxy made before choosing a system ("none").
  void CountRequest(std::optional<Backend> backend, int status, double seconds);
  void ObserveUpstream(Backend backend, double seconds) {
    upstream_duration_[Index(backend)]->Observe(seconds);
  }
  // tandem_proxy_client_errors_total{reason}; `reason` is one of a fixed
  // set of literals (HttpError::reason and a few more).
  void CountClientError(const char* reason) {
    client_errors_->Add({{"reason", reason}}).Increment();
  }
  void CountFreezeRefusal(Backend backend, const char* refusal) {
    freeze_refusals_->Add({{"system", Label(backend)}, {"refusal", refusal}})
        .Increment();
  }
  // tandem_proxy_exported_replays_total{outcome}: a billing system answered
  // that the customer was moved away (replayed, timeout, not_replayable).
  void CountExportedReplay(const char* outcome) {
    exported_replays_->Add({{"outcome", outcome}}).Increment();
  }

  prometheus::Gauge* held() { return held_; }
  prometheus::Histogram* hold_duration() { return hold_duration_; }
  prometheus::Counter* hold_timeouts() { return hold_timeouts_; }
  prometheus::Counter* hold_rejected() { return hold_rejected_; }
  prometheus::Counter* hold_abandoned() { return hold_abandoned_; }
  UpstreamCounters upstream_counters(Backend backend) const {
    return upstream_counters_[Index(backend)];
  }

 private:
  void InitUpstream(prometheus::Registry& registry);
  void InitHolds(prometheus::Registry& registry);

  // [no system, source, target][status class 0xx..5xx]
  prometheus::Counter* requests_[kBackendCount + 1][6] = {};
  prometheus::Histogram* duration_ = nullptr;
  PerBackend<prometheus::Histogram*> upstream_duration_ = {};
  PerBackend<UpstreamCounters> upstream_counters_ = {};
  prometheus::Gauge* held_ = nullptr;
  prometheus::Histogram* hold_duration_ = nullptr;
  prometheus::Counter* hold_timeouts_ = nullptr;
  prometheus::Counter* hold_rejected_ = nullptr;
  prometheus::Counter* hold_abandoned_ = nullptr;
  prometheus::Family<prometheus::Counter>* freeze_refusals_ = nullptr;
  prometheus::Family<prometheus::Counter>* client_errors_ = nullptr;
  prometheus::Family<prometheus::Counter>* exported_replays_ = nullptr;
};

// What one request did, for the metrics and the access log.
struct RequestRecord {
  std::chrono::steady_clock::time_point start;
  bool log = false;
  int status = 0;
  std::optional<Backend> backend;
  ResolvedBy by = ResolvedBy::kDefault;
  int64_t customer_id = 0;
  int64_t route_version = 0;
  double held_seconds = -1;
  double upstream_seconds = -1;
  // Set when `log`.
  std::string method;
  std::string target;
  const char* outcome = "ok";

  // Starts a record; `log` says whether this request is access-logged.
  void Begin(bool log_it) {
    start = std::chrono::steady_clock::now();
    log = log_it;
    status = 0;
    backend.reset();
    by = ResolvedBy::kDefault;
    customer_id = 0;
    route_version = 0;
    held_seconds = -1;
    upstream_seconds = -1;
    outcome = "ok";
  }
};

// Counts `record` and writes its access-log line (when `record.log`).
void FinishRecord(ProxyMetrics& metrics, const RequestRecord& record,
                  const std::string& peer);

}  // namespace tandem::proxy
