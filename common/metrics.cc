#include "common/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <exception>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace tandem {
namespace {

prometheus::MetricFamily Single(const std::string& name,
                                const std::string& help,
                                prometheus::MetricType type, double value) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(metric);
  return family;
}

// Fields of /proc/self/stat after the command name, 0-based from `state`.
std::vector<std::string> StatFields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  std::getline(in, line);
  size_t close = line.rfind(')');
  if (close == std::string::npos) {
    return {};
  }
  return absl::StrSplit(line.substr(close + 2), ' ');
}

int CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) {
    return 0;
  }
  int count = 0;
  while (readdir(dir) != nullptr) {
    ++count;
  }
  closedir(dir);
  return count - 3;  // ".", ".." and the directory's own descriptor.
}

double BootTimeSeconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      double value = 0;
      in >> value;
      return value;
    }
  }
  return 0;
}

}  // namespace

int64_t ResidentMemoryBytes() {
  std::ifstream in("/proc/self/statm");
  int64_t pages_total = 0;
  int64_t pages_resident = 0;
  if (!(in >> pages_total >> pages_resident)) {
    return 0;
  }
  return pages_resident * sysconf(_SC_PAGESIZE);
}

ProcessCollector::ProcessCollector() {
  std::vector<std::string> fields = StatFields();
  double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  // Field 22 of stat (starttime) is index 19 after the command name.
  if (fields.size() > 19) {
    start_time_seconds_ = BootTimeSeconds() + std::stod(fields[19]) / ticks;
  } else {
    start_time_seconds_ = absl::ToUnixSeconds(absl::Now());
  }
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  std::vector<std::string> fields = StatFields();
  double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  if (fields.size() > 21) {
    // utime and stime are fields 14 and 15 (indices 11 and 12 here); vsize
    // is field 23 (index 20).
    double cpu = (std::stod(fields[11]) + std::stod(fields[12])) / ticks;
    out.push_back(Single("process_cpu_seconds_total",
                         "Total user and system CPU time spent in seconds.",
                         prometheus::MetricType::Counter, cpu));
    out.push_back(Single("process_virtual_memory_bytes",
                         "Virtual memory size in bytes.",
                         prometheus::MetricType::Gauge, std::stod(fields[20])));
  }
  out.push_back(Single("process_resident_memory_bytes",
                       "Resident memory size in bytes.",
                       prometheus::MetricType::Gauge,
                       static_cast<double>(ResidentMemoryBytes())));
  out.push_back(Single("process_open_fds", "Number of open file descriptors.",
                       prometheus::MetricType::Gauge, CountOpenFds()));
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    out.push_back(Single(
        "process_max_fds", "Maximum number of open file descriptors.",
        prometheus::MetricType::Gauge, static_cast<double>(limit.rlim_cur)));
  }
  out.push_back(Single("process_start_time_seconds",
                       "Start time of the process since unix epoch in seconds.",
                       prometheus::MetricType::Gauge, start_time_seconds_));
  return out;
}

absl::StatusOr<std::unique_ptr<MetricsExposer>> MetricsExposer::Start(
    const std::string& address,
    std::shared_ptr<prometheus::Registry> registry) {
  std::unique_ptr<MetricsExposer> exposer(new MetricsExposer());
  try {
    exposer->exposer_ = std::make_unique<prometheus::Exposer>(address, 2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", e.what()));
  }
  exposer->registry_ = std::move(registry);
  exposer->process_ = std::make_shared<ProcessCollector>();
  exposer->exposer_->RegisterCollectable(exposer->registry_);
  exposer->exposer_->RegisterCollectable(exposer->process_);
  std::vector<int> ports = exposer->exposer_->GetListeningPorts();
  exposer->port_ = ports.empty() ? 0 : ports.front();
  return exposer;
}

const std::vector<double>& LatencyBuckets() {
  static const auto* buckets = new std::vector<double>{
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
  return *buckets;
}

}  // namespace tandem
