// Helpers of bench/proxy/run, the portal-proxy benchmark:
//
//   proxy_bench_tool import --router=H:P --token_file=F --first=1 --count=N
//       imports customers first..first+N-1 (login user<i>, api_token tok<i>);
//       every 10th customer is imported onto the target.
//   proxy_bench_tool holds --router=H:P --token_file=F --proxy=H:P
//       --metrics=H:P --first=C --samples=S
//       measures how soon a held request is released after its route flips:
//       moves customer C.. to MIGRATING, sends a request that the proxy holds
//       (confirmed on the proxy's held-requests gauge), flips the route to
//       TARGET and times the answer. Prints one line of JSON.
#include <grpcpp/create_channel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/auth.h"
#include "common/config.h"
#include "tandem/router/v1/router.grpc.pb.h"
#include "tests/portal-proxy/http_test_client.h"

ABSL_FLAG(std::string, router, "127.0.0.1:7001", "router gRPC address");
ABSL_FLAG(std::string, token_file, "", "operator token file");
ABSL_FLAG(int64_t, first, 1, "first customer id");
ABSL_FLAG(int64_t, count, 100000, "customers to import");
ABSL_FLAG(std::string, proxy, "127.0.0.1:8080", "proxy address");
ABSL_FLAG(std::string, metrics, "127.0.0.1:9104", "proxy metrics address");
ABSL_FLAG(int, samples, 200, "hold samples");

namespace rv1 = ::tandem::router::v1;
using tandem::proxy::testing::HttpClient;

namespace {

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token) {
  auto context = std::make_unique<grpc::ClientContext>();
  tandem::AttachBearerToken(*context, token);
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::minutes(10));
  return context;
}

int PortOf(const std::string& address) {
  int port = 0;
  (void)absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &port);
  return port;
}

double HeldGauge(int metrics_port) {
  HttpClient client(metrics_port);
  auto response = client.Send("GET", "/metrics");
  const std::string name = "\ntandem_proxy_held_requests ";
  size_t at = response.body.find(name);
  if (at == std::string::npos) return -1;
  double value = 0;
  (void)absl::SimpleAtod(
      response.body.substr(at + name.size(),
                           response.body.find('\n', at + 1) - at - name.size()),
      &value);
  return value;
}

rv1::Route SetRoute(rv1::RouterService::Stub& stub, const std::string& token,
                    const rv1::Route& current,
                    tandem::common::v1::System system, rv1::RouteState state) {
  rv1::SetRouteRequest request;
  request.set_customer_id(current.customer_id());
  request.set_expected_version(current.version());
  request.set_system(system);
  request.set_state(state);
  request.set_request_id(absl::StrCat("bench-", current.customer_id(), "-",
                                      absl::ToUnixNanos(absl::Now())));
  rv1::SetRouteResponse response;
  grpc::Status status = stub.SetRoute(Ctx(token).get(), request, &response);
  if (!status.ok()) {
    std::fprintf(stderr, "SetRoute: %s\n", status.error_message().c_str());
    std::exit(1);
  }
  return response.route();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * v.size()));
  return v[i];
}

// The ImportRoutes call of customers start..start+49999 (up to
// first+count-1) that go onto the source, or with `on_target`, onto the
// target (every 10th). Empty when no customer of the range goes there.
rv1::ImportRoutesRequest ImportRequest(int64_t first, int64_t count,
                                       int64_t start, int on_target) {
  rv1::ImportRoutesRequest request;
  request.set_system(on_target ? tandem::common::v1::SYSTEM_TARGET
                               : tandem::common::v1::SYSTEM_SOURCE);
  request.set_request_id(absl::StrCat("bench-import-", on_target, "-", start));
  for (int64_t i = start; i < std::min(first + count, start + 50000); ++i) {
    if ((i % 10 == 0) != (on_target == 1)) continue;
    auto* customer = request.mutable_customers()->add_customers();
    customer->set_customer_id(i);
    auto* login = customer->add_keys();
    login->set_kind(rv1::KEY_KIND_LOGIN);
    login->set_value(absl::StrCat("user", i));
    auto* api = customer->add_keys();
    api->set_kind(rv1::KEY_KIND_API_TOKEN);
    api->set_value(absl::StrCat("tok", i));
  }
  return request;
}

// `import`: the exit code.
int Import(rv1::RouterService::Stub& stub, const std::string& token) {
  const int64_t first = absl::GetFlag(FLAGS_first);
  const int64_t count = absl::GetFlag(FLAGS_count);
  for (int on_target = 0; on_target < 2; ++on_target) {
    for (int64_t start = first; start < first + count; start += 50000) {
      rv1::ImportRoutesRequest request =
          ImportRequest(first, count, start, on_target);
      if (request.customers().customers().empty()) continue;
      rv1::ImportRoutesResponse response;
      grpc::Status status =
          stub.ImportRoutes(Ctx(token).get(), request, &response);
      if (!status.ok()) {
        std::fprintf(stderr, "import: %s\n", status.error_message().c_str());
        return 1;
      }
    }
  }
  return 0;
}

// Sends a request of `customer` to the proxy until the proxy holds it (its
// cache may lag the router by a moment; an unheld request simply comes back
// at once), and returns the held request's answer to come.
std::future<tandem::proxy::testing::HttpResponse> SendUntilHeld(
    int proxy_port, int metrics_port, int64_t customer) {
  std::future<tandem::proxy::testing::HttpResponse> pending;
  for (;;) {
    pending = std::async(std::launch::async, [proxy_port, customer] {
      HttpClient client(proxy_port);
      return client.Send(
          "GET", "/healthz",
          {{"Authorization", absl::StrCat("Bearer tok", customer)}});
    });
    bool held = false;
    absl::Time deadline = absl::Now() + absl::Seconds(2);
    while (absl::Now() < deadline) {
      if (HeldGauge(metrics_port) >= 1) {
        held = true;
        break;
      }
      if (pending.wait_for(std::chrono::milliseconds(1)) ==
          std::future_status::ready) {
        break;
      }
    }
    if (held) return pending;
    pending.get();
  }
}

// `holds`: the exit code.
int Holds(rv1::RouterService::Stub& stub, const std::string& token) {
  const int proxy_port = PortOf(absl::GetFlag(FLAGS_proxy));
  const int metrics_port = PortOf(absl::GetFlag(FLAGS_metrics));
  std::vector<double> after_commit_ms, after_call_ms;
  int64_t customer = absl::GetFlag(FLAGS_first);
  for (int i = 0; i < absl::GetFlag(FLAGS_samples); ++i, ++customer) {
    if (customer % 10 == 0) ++customer;  // those start on the target
    rv1::GetRouteRequest get;
    get.set_customer_id(customer);
    rv1::GetRouteResponse current;
    if (!stub.GetRoute(Ctx(token).get(), get, &current).ok()) return 1;
    rv1::Route migrating =
        SetRoute(stub, token, current.route(),
                 tandem::common::v1::SYSTEM_SOURCE, rv1::ROUTE_STATE_MIGRATING);
    std::future<tandem::proxy::testing::HttpResponse> pending =
        SendUntilHeld(proxy_port, metrics_port, customer);
    auto before_call = std::chrono::steady_clock::now();
    SetRoute(stub, token, migrating, tandem::common::v1::SYSTEM_TARGET,
             rv1::ROUTE_STATE_STABLE);
    auto committed = std::chrono::steady_clock::now();
    auto response = pending.get();
    auto answered = std::chrono::steady_clock::now();
    if (response.status != 200) {
      std::fprintf(stderr, "held request answered %d\n", response.status);
    }
    after_commit_ms.push_back(
        std::chrono::duration<double, std::milli>(answered - committed)
            .count());
    after_call_ms.push_back(
        std::chrono::duration<double, std::milli>(answered - before_call)
            .count());
  }
  std::printf(
      "{\"samples\":%zu,\"release_after_commit_ms\":{\"p50\":%.2f,\"p99\":%."
      "2f,"
      "\"max\":%.2f},\"release_after_flip_call_ms\":{\"p50\":%.2f,\"p99\":%."
      "2f,"
      "\"max\":%.2f}}\n",
      after_commit_ms.size(), Percentile(after_commit_ms, 0.5),
      Percentile(after_commit_ms, 0.99), Percentile(after_commit_ms, 1.0),
      Percentile(after_call_ms, 0.5), Percentile(after_call_ms, 0.99),
      Percentile(after_call_ms, 1.0));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args =
      tandem::ParseFlagsWithEnv(argc, argv, "proxy_bench_tool import|holds");
  if (args.size() < 2) {
    std::fprintf(stderr, "usage: proxy_bench_tool import|holds [flags]\n");
    return 2;
  }
  const std::string command = args[1];
  auto token = tandem::ReadSecretFile(absl::GetFlag(FLAGS_token_file));
  if (!token.ok()) {
    std::fprintf(stderr, "%s\n", token.status().ToString().c_str());
    return 1;
  }
  auto stub = rv1::RouterService::NewStub(grpc::CreateChannel(
      absl::GetFlag(FLAGS_router), grpc::InsecureChannelCredentials()));
  if (command == "import") {
    return Import(*stub, *token);
  }
  if (command == "holds") {
    return Holds(*stub, *token);
  }
  std::fprintf(stderr, "unknown command %s\n", command.c_str());
  return 2;
}
