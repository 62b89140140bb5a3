// The Prometheus side of every service: an HTTP exposer on its own port
// serving `/metrics`, with the standard process metrics.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "prometheus/collectable.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"

namespace tandem {

// Collects process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds and
// process_start_time_seconds from /proc/self, as the Prometheus client
// libraries of other languages do.
class ProcessCollector final : public prometheus::Collectable {
 public:
  ProcessCollector();
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  double start_time_seconds_;
};

// Returns this process's resident set size in bytes, or 0 if unknown.
int64_t ResidentMemoryBytes();

// Serves `/metrics` for one registry plus the process metrics.
class MetricsExposer {
 public:
  // Binds `address` ("0.0.0.0:9090"; port 0 picks a free one). Returns
  // UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsExposer>> Start(
      const std::string& address,
      std::shared_ptr<prometheus::Registry> registry);

  // The port actually bound.
  int port() const { return port_; }

 private:
  MetricsExposer() = default;

  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<ProcessCollector> process_;
  int port_ = 0;
};

// Latency buckets in seconds for request handling, from 50 us to 10 s.
const std::vector<double>& LatencyBuckets();

}  // namespace tandem
