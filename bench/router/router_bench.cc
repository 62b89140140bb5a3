// Router benchmark: loads N routes into a throwaway MariaDB, starts two
// tandem-router processes on it, and measures unary Lookup throughput,
// BatchLookup keys/s, client-cache lookups/s, Watch propagation between the
// replicas and the router's resident memory. Writes a Markdown report.
//
// Usage: router_bench --router_binary=build/router/tandem-router
//          --routes=1000000 --report=bench/reports/router.md
#include <arpa/inet.h>
#include <grpcpp/create_channel.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/auth.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/mysql_pool.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "router/client/route_cache.h"
#include "router/mysql_route_store.h"
#include "tandem/router/v1/router.grpc.pb.h"
#include "tests/testing/mariadb_server.h"
#include "tests/testing/net.h"

ABSL_FLAG(std::string, router_binary, "build/router/tandem-router",
          "Path of the tandem-router binary.");
ABSL_FLAG(int, routes, 1000000, "Routes to load.");
ABSL_FLAG(int, seconds, 8, "Duration of each throughput phase.");
ABSL_FLAG(int, concurrency, 64, "Unary lookups in flight.");
ABSL_FLAG(int, channels, 4, "gRPC channels the unary client spreads over.");
ABSL_FLAG(int, propagation_samples, 300,
          "Route changes timed across replicas.");
ABSL_FLAG(std::string, report, "bench/reports/router.md", "Report path.");

namespace {

namespace v1 = ::tandem::router::v1;
using Clock = std::chrono::steady_clock;

constexpr char kToken[] = "bench-operator-token-0123456789";

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * v.size()));
  return v[i];
}

void Die(const std::string& what) {
  std::cerr << "router_bench: " << what << "\n";
  std::exit(1);
}

// A tandem-router child process.
struct RouterProcess {
  pid_t pid = -1;
  int port = 0;

  ~RouterProcess() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      int status;
      waitpid(pid, &status, 0);
    }
  }
};

std::unique_ptr<RouterProcess> StartRouter(
    const tandem::testing::MariaDbServer& db, const std::string& tokens_file,
    double* ready_seconds) {
  auto router = std::make_unique<RouterProcess>();
  router->port = tandem::testing::FreePort();
  std::vector<std::string> args = {
      absl::GetFlag(FLAGS_router_binary),
      absl::StrCat("--listen=127.0.0.1:", router->port),
      "--metrics_listen=127.0.0.1:0",
      absl::StrCat("--db_url=", db.url()),
      absl::StrCat("--db_user=", db.user()),
      absl::StrCat("--db_password_file=", db.password_file()),
      "--db_name=control",
      absl::StrCat("--auth_tokens_file=", tokens_file),
      "--log_level=warning"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  auto start = Clock::now();
  if (posix_spawn(&router->pid, argv[0], nullptr, nullptr, argv.data(),
                  environ) != 0) {
    Die("cannot start " + args[0]);
  }
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", router->port),
                                     grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  while (true) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(500));
    context.set_wait_for_ready(true);
    grpc::health::v1::HealthCheckRequest request;
    request.set_service("tandem.router.v1.RouterService");
    grpc::health::v1::HealthCheckResponse response;
    if (health->Check(&context, request, &response).ok() &&
        response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      break;
    }
    int status;
    if (waitpid(router->pid, &status, WNOHANG) == router->pid) {
      router->pid = -1;
      Die("router exited during start-up");
    }
    if (Clock::now() - start > std::chrono::minutes(5)) Die("router not ready");
  }
  *ready_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return router;
}

int64_t RssBytes(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stoll(line.substr(6)) * 1024;
    }
  }
  return 0;
}

void LoadRoutes(tandem::testing::MariaDbServer& db, int routes) {
  // The schema comes from the router's own migrations.
  tandem::MysqlOptions options;
  options.url = db.url();
  options.user = db.user();
  options.password = db.password();
  options.database = "control";
  auto pool = tandem::MysqlPool::Create(options);
  if (!pool.ok()) Die(pool.status().ToString());
  auto store = tandem::router::MysqlRouteStore::Create(pool->get());
  if (!store.ok()) Die(store.status().ToString());
  // MariaDB's SEQUENCE engine makes the rows in the server: the same
  // tables and revision bookkeeping as an import, minus the client's
  // transfer time, which is not what this benchmark measures.
  std::string n = absl::StrCat(routes);
  absl::Status status = db.Execute(
      absl::StrCat(
          "SET SESSION max_statement_time = 0;"
          "INSERT INTO routes (customer_id, system, state, version, "
          "updated_at_ms, updated_by) SELECT seq, 1, 1, seq, 0, 'bench' FROM "
          "seq_1_to_",
          n,
          ";"
          "INSERT INTO route_keys (kind, value, customer_id) SELECT 2, "
          "CONCAT('user', seq), seq FROM seq_1_to_",
          n,
          ";"
          "INSERT INTO route_keys (kind, value, customer_id) SELECT 3, "
          "CONCAT('1555', LPAD(seq, 7, '0')), seq FROM seq_1_to_",
          n,
          ";"
          "UPDATE router_revision SET revision = ",
          n, " WHERE id = 1;"),
      "control");
  if (!status.ok()) Die(status.ToString());
}

struct Throughput {
  double per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
};

// Unary Lookups with `concurrency` calls in flight over several channels,
// using the callback API so one client thread keeps many calls going.
Throughput UnaryLookups(int port, int routes) {
  int channels = absl::GetFlag(FLAGS_channels);
  int concurrency = absl::GetFlag(FLAGS_concurrency);
  std::vector<std::unique_ptr<v1::RouterService::Stub>> stubs;
  for (int i = 0; i < channels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("bench.channel", i);  // Distinct channels, distinct sockets.
    stubs.push_back(v1::RouterService::NewStub(
        grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                  grpc::InsecureChannelCredentials(), args)));
  }
  std::atomic<bool> stop{false};
  std::atomic<int64_t> done{0};
  std::atomic<int> in_flight{0};
  // Taken by the last call to end, so that the wait below re-checks.
  absl::Mutex mu;
  std::vector<std::vector<double>> latencies(concurrency);

  struct Call {
    grpc::ClientContext context;
    v1::LookupRequest request;
    v1::LookupResponse response;
    Clock::time_point start;
  };
  std::function<void(int, std::mt19937_64*)> issue;
  std::vector<std::mt19937_64> rngs;
  for (int i = 0; i < concurrency; ++i) rngs.emplace_back(i + 1);
  issue = [&](int slot, std::mt19937_64* rng) {
    auto call = std::make_shared<Call>();
    tandem::AttachBearerToken(call->context, kToken);
    call->request.mutable_key()->set_kind(v1::KEY_KIND_LOGIN);
    call->request.mutable_key()->set_value(
        absl::StrCat("user", 1 + (*rng)() % routes));
    call->start = Clock::now();
    stubs[slot % channels]->async()->Lookup(
        &call->context, &call->request, &call->response,
        [&, call, slot, rng](grpc::Status status) {
          if (status.ok() && call->response.found()) {
            done.fetch_add(1, std::memory_order_relaxed);
            if (latencies[slot].size() < 200000) {
              latencies[slot].push_back(
                  std::chrono::duration<double, std::milli>(Clock::now() -
                                                            call->start)
                      .count());
            }
          }
          if (!stop.load()) {
            issue(slot, rng);
          } else if (in_flight.fetch_sub(1) == 1) {
            absl::MutexLock lock(&mu);
          }
        });
  };
  // Warm up, then measure.
  in_flight.store(concurrency);
  for (int i = 0; i < concurrency; ++i) issue(i, &rngs[i]);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  for (auto& l : latencies) l.clear();
  int64_t before = done.load();
  auto start = Clock::now();
  std::this_thread::sleep_for(
      std::chrono::seconds(absl::GetFlag(FLAGS_seconds)));
  int64_t after = done.load();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  stop.store(true);
  {
    absl::MutexLock lock(&mu);
    auto drained = [&] { return in_flight.load() == 0; };
    mu.Await(absl::Condition(&drained));
  }
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  return {(after - before) / elapsed, Percentile(all, 0.5),
          Percentile(all, 0.99)};
}

// Unary Lookups driven by h2load, a C HTTP/2 load generator far lighter
// than a gRPC C++ client, so that more of the machine's two cores go to the
// server. A gRPC unary call is an HTTP/2 POST of a length-prefixed message.
Throughput H2loadLookups(int port, const std::string& dir) {
  v1::LookupRequest request;
  request.mutable_key()->set_kind(v1::KEY_KIND_LOGIN);
  request.mutable_key()->set_value("user777");
  std::string message = request.SerializeAsString();
  std::string frame(5, '\0');
  frame[4] = static_cast<char>(message.size());
  frame += message;
  std::string body_file = absl::StrCat(dir, "/lookup.bin");
  std::ofstream(body_file, std::ios::binary) << frame;
  std::string out_file = absl::StrCat(dir, "/h2load.out");
  std::string command = absl::StrCat(
      "h2load -n ", 30000 * absl::GetFlag(FLAGS_seconds),
      " -c 4 -m 32 -t 1 -H 'content-type: application/grpc' -H 'te: "
      "trailers' -H 'authorization: Bearer ",
      kToken, "' -d ", body_file, " http://127.0.0.1:", port,
      "/tandem.router.v1.RouterService/Lookup > ", out_file, " 2>&1");
  if (std::system(command.c_str()) != 0) {
    std::cerr
        << "router_bench: h2load failed (apt-get install nghttp2-client)\n";
    return {};
  }
  std::ifstream in(out_file);
  std::string line;
  Throughput result;
  while (std::getline(in, line)) {
    double rps = 0;
    if (sscanf(line.c_str(), "finished in %*fs, %lf req/s", &rps) == 1) {
      result.per_second = rps;
    }
    char unit[8] = {0};
    double mean = 0;
    if (line.find("time for request:") != std::string::npos &&
        sscanf(line.c_str(), "time for request: %*s %*s %lf%7s", &mean, unit) ==
            2) {
      result.p50_ms = std::string(unit) == "us" ? mean / 1000 : mean;
    }
  }
  return result;
}

double BatchLookupKeys(int port, int routes) {
  auto stub = v1::RouterService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  std::atomic<int64_t> keys{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(100 + t);
      v1::BatchLookupRequest request;
      for (int i = 0; i < 1000; ++i) {
        auto* key = request.add_keys();
        key->set_kind(v1::KEY_KIND_ACCOUNT_ID);
      }
      while (!stop.load()) {
        for (auto& key : *request.mutable_keys()) {
          key.set_value(absl::StrFormat("1555%07d", 1 + rng() % routes));
        }
        grpc::ClientContext context;
        tandem::AttachBearerToken(context, kToken);
        v1::BatchLookupResponse response;
        if (stub->BatchLookup(&context, request, &response).ok()) {
          keys.fetch_add(response.results_size());
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  int64_t before = keys.load();
  auto start = Clock::now();
  std::this_thread::sleep_for(
      std::chrono::seconds(absl::GetFlag(FLAGS_seconds)));
  int64_t after = keys.load();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  stop.store(true);
  for (auto& t : threads) t.join();
  return (after - before) / elapsed;
}

// Lookups/s from the client cache on `threads` threads; by customer id
// (the proxy's cookie path) or by login.
double CacheLookups(const tandem::router::RouteCache& cache, int routes,
                    int threads, bool by_login) {
  std::atomic<int64_t> total{0};
  std::atomic<bool> stop{false};
  std::atomic<int64_t> found{0};
  std::vector<std::thread> workers;
  std::vector<std::string> logins;
  if (by_login) {
    logins.reserve(1 << 16);
    std::mt19937_64 rng(7);
    for (int i = 0; i < (1 << 16); ++i) {
      logins.push_back(absl::StrCat("user", 1 + rng() % routes));
    }
  }
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      uint64_t x = 88172645463325252ull + t;
      int64_t n = 0;
      int64_t hits = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        for (int i = 0; i < 1024; ++i) {
          x ^= x << 13;
          x ^= x >> 7;
          x ^= x << 17;
          if (by_login) {
            hits += cache.LookupInfo(v1::KEY_KIND_LOGIN, logins[x & 0xFFFF])
                        .has_value();
          } else {
            hits += cache.FindInfo(1 + x % routes).has_value();
          }
        }
        n += 1024;
      }
      total.fetch_add(n);
      found.fetch_add(hits);
    });
  }
  auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  stop.store(true);
  for (auto& w : workers) w.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  if (found.load() != total.load()) Die("cache lookups missed known routes");
  return total.load() / elapsed;
}

// Waits for replica B's cache to report each change made through replica
// A. The state is shared with the cache's listener, which may outlive the
// measurement.
struct PropagationProbe {
  absl::Mutex mu;
  int64_t awaited ABSL_GUARDED_BY(mu) = -1;
  Clock::time_point seen_at ABSL_GUARDED_BY(mu);
};

// How long a route change made on replica A (at `port_a`) takes to reach the
// watchers of `cache` (which follows replica B), per sample: from the call
// and from A's answer.
struct Propagation {
  std::vector<double> from_call;
  std::vector<double> from_commit;
};

Propagation MeasurePropagation(tandem::router::RouteCache& cache, int port_a) {
  auto probe = std::make_shared<PropagationProbe>();
  cache.AddListener([probe](const tandem::router::RouteChange* change) {
    if (change == nullptr) return;
    absl::MutexLock lock(&probe->mu);
    if (change->revision() == probe->awaited ||
        (probe->awaited < 0 && change->has_route_update())) {
      probe->seen_at = Clock::now();
    }
  });
  auto stub_a = v1::RouterService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port_a), grpc::InsecureChannelCredentials()));
  Propagation result;
  int64_t version = 42;
  bool migrating = false;
  for (int i = 0; i < absl::GetFlag(FLAGS_propagation_samples); ++i) {
    v1::SetRouteRequest request;
    request.set_customer_id(42);
    request.set_expected_version(version);
    request.set_system(tandem::common::v1::SYSTEM_SOURCE);
    request.set_state(migrating ? v1::ROUTE_STATE_STABLE
                                : v1::ROUTE_STATE_MIGRATING);
    v1::SetRouteResponse response;
    grpc::ClientContext context;
    tandem::AttachBearerToken(context, kToken);
    {
      absl::MutexLock lock(&probe->mu);
      probe->seen_at = Clock::time_point();
      probe->awaited = -2;
    }
    auto call_start = Clock::now();
    grpc::Status status = stub_a->SetRoute(&context, request, &response);
    if (!status.ok()) Die("SetRoute: " + status.error_message());
    auto answered = Clock::now();
    version = response.route().version();
    migrating = !migrating;
    absl::MutexLock lock(&probe->mu);
    probe->awaited = version;
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(probe->mu) {
      return cache.revision() >= version &&
             probe->seen_at != Clock::time_point();
    };
    if (!probe->mu.AwaitWithTimeout(absl::Condition(&seen), absl::Seconds(5))) {
      Die("change did not reach replica B's watchers");
    }
    result.from_call.push_back(
        std::chrono::duration<double, std::milli>(probe->seen_at - call_start)
            .count());
    // The commit happens before A answers; time after the answer is the
    // lower bound of what replica B adds.
    result.from_commit.push_back(std::max(
        0.0,
        std::chrono::duration<double, std::milli>(probe->seen_at - answered)
            .count()));
  }
  return result;
}

// Everything the report shows.
struct Results {
  int routes = 0;
  double load_seconds = 0;
  double ready_a = 0;
  double ready_b = 0;
  int64_t rss_a = 0;
  int64_t rss_a_after = 0;
  Throughput unary;
  Throughput h2;
  double batch_keys = 0;
  double snapshot_seconds = 0;
  int64_t rss_self = 0;
  double cache_by_id_1 = 0;
  double cache_by_id_2 = 0;
  double cache_by_login_2 = 0;
  std::vector<double> from_call;
  std::vector<double> from_commit;
};

std::string Report(const Results& r) {
  auto mb = [](int64_t b) { return absl::StrFormat("%.1f MB", b / 1e6); };
  return absl::StrCat(
      "# Router benchmark\n\n", "Command: `bench/run router` (", r.routes,
      " routes, 2 keys each; "
      "2 replicas on one MariaDB; client and servers share this machine's ",
      std::thread::hardware_concurrency(), " cores).\n\n",
      "| measure | result | target |\n| --- | --- | --- |\n",
      absl::StrFormat("| unary `Lookup` throughput (%d in flight, %d channels) "
                      "| %.0f lookups/s | >= 30,000 |\n",
                      absl::GetFlag(FLAGS_concurrency),
                      absl::GetFlag(FLAGS_channels), r.unary.per_second),
      absl::StrFormat("| unary `Lookup` latency p50 / p99 | %.2f ms / %.2f ms "
                      "| |\n",
                      r.unary.p50_ms, r.unary.p99_ms),
      absl::StrFormat(
          "| unary `Lookup` throughput, h2load client (4 connections "
          "x 32 streams, one key) | %.0f lookups/s (mean latency "
          "%.2f ms) | >= 30,000 |\n",
          r.h2.per_second, r.h2.p50_ms),
      absl::StrFormat("| `BatchLookup` (1,000 keys per call, 4 callers) | "
                      "%.0f keys/s | |\n",
                      r.batch_keys),
      absl::StrFormat("| client cache, by customer id, 1 thread | %.0f "
                      "lookups/s | |\n",
                      r.cache_by_id_1),
      absl::StrFormat("| client cache, by customer id, 2 threads | %.0f "
                      "lookups/s | >= 10,000,000 |\n",
                      r.cache_by_id_2),
      absl::StrFormat("| client cache, by login, 2 threads | %.0f lookups/s "
                      "| |\n",
                      r.cache_by_login_2),
      absl::StrFormat("| `Watch` propagation A -> B, from `SetRoute` call to "
                      "B's watcher, p50 / p99 | %.2f ms / %.2f ms | p99 <= "
                      "100 ms |\n",
                      Percentile(r.from_call, 0.5),
                      Percentile(r.from_call, 0.99)),
      absl::StrFormat("| ... of which after A answered, p50 / p99 | %.2f ms / "
                      "%.2f ms | |\n",
                      Percentile(r.from_commit, 0.5),
                      Percentile(r.from_commit, 0.99)),
      "| router resident memory after load | ", mb(r.rss_a), " | <= 200 MB |\n",
      "| router resident memory after the lookup phases | ", mb(r.rss_a_after),
      " | |\n",
      absl::StrFormat("| router start-up with %d routes (load + serve) | "
                      "%.1f s / %.1f s (replica A / B) | |\n",
                      r.routes, r.ready_a, r.ready_b),
      absl::StrFormat("| client cache full snapshot over `Watch` | %.1f s | "
                      "|\n",
                      r.snapshot_seconds),
      "| client (bench) process memory with the cache | ", mb(r.rss_self),
      " | |\n",
      absl::StrFormat("| bulk load of routes into MariaDB (SQL, setup) | "
                      "%.1f s | |\n",
                      r.load_seconds));
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  tandem::InitLogging("router_bench", tandem::LogLevel::kWarning);
  Results r;
  r.routes = absl::GetFlag(FLAGS_routes);
  std::cerr << "router_bench: starting MariaDB\n";
  auto db = tandem::testing::MariaDbServer::Start();
  if (!db.ok()) Die(db.status().ToString());
  if (!(*db)->CreateDatabase("control").ok()) Die("create database");
  std::string tokens_file = absl::StrCat((*db)->dir(), "/tokens");
  std::ofstream(tokens_file) << "bench operator " << kToken << "\n";

  std::cerr << "router_bench: loading " << r.routes << " routes\n";
  auto load_start = Clock::now();
  LoadRoutes(**db, r.routes);
  r.load_seconds =
      std::chrono::duration<double>(Clock::now() - load_start).count();

  std::cerr << "router_bench: starting two replicas\n";
  auto a = StartRouter(**db, tokens_file, &r.ready_a);
  auto b = StartRouter(**db, tokens_file, &r.ready_b);
  r.rss_a = RssBytes(a->pid);

  std::cerr << "router_bench: unary Lookup\n";
  r.unary = UnaryLookups(a->port, r.routes);
  std::cerr << "router_bench: unary Lookup with h2load\n";
  r.h2 = H2loadLookups(a->port, (*db)->dir());
  std::cerr << "router_bench: BatchLookup\n";
  r.batch_keys = BatchLookupKeys(a->port, r.routes);
  r.rss_a_after = RssBytes(a->pid);

  std::cerr << "router_bench: client cache snapshot\n";
  tandem::router::RouteCacheOptions cache_options;
  cache_options.target = absl::StrCat("127.0.0.1:", b->port);
  cache_options.token = kToken;
  auto snapshot_start = Clock::now();
  auto cache = tandem::router::RouteCache::Start(cache_options);
  if (!cache->WaitForSync(absl::Minutes(5))) Die("cache never synced");
  r.snapshot_seconds =
      std::chrono::duration<double>(Clock::now() - snapshot_start).count();
  r.rss_self = tandem::ResidentMemoryBytes();
  r.cache_by_id_1 = CacheLookups(*cache, r.routes, 1, false);
  r.cache_by_id_2 = CacheLookups(*cache, r.routes, 2, false);
  r.cache_by_login_2 = CacheLookups(*cache, r.routes, 2, true);

  std::cerr << "router_bench: propagation A -> B\n";
  Propagation propagation = MeasurePropagation(*cache, a->port);
  r.from_call = std::move(propagation.from_call);
  r.from_commit = std::move(propagation.from_commit);

  std::string report = Report(r);
  std::ofstream(absl::GetFlag(FLAGS_report)) << report;
  std::cout << report;
  return 0;
}
