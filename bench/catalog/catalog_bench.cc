// Catalog benchmark: a throwaway MariaDB with both testbed billing systems
// (generated customers on the source), a router and a catalog in-process,
// measured over real gRPC channels:
//   * CheckChange answered from memory (OPEN) and refused with an audit
//     entry each (FROZEN), 8 client threads;
//   * PlanCustomers over every customer, 1,000 per call, and PlanCustomer
//     latency one by one;
//   * how long OPEN -> FROZEN waits for product changes in flight;
//   * the automatic lift: from the last route flip to the LIFTED event on a
//     WatchFreeze stream.
// Writes a Markdown report.
//
// Usage: catalog_bench --customers=5000 --report=bench/reports/catalog.md
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "catalog/catalog_server.h"
#include "common/auth.h"
#include "common/log.h"
#include "router/router_server.h"
#include "tandem/catalog/v1/catalog.grpc.pb.h"
#include "tandem/router/v1/router.grpc.pb.h"
#include "tests/testbed/testbed_fixture.h"

ABSL_FLAG(int, customers, 5000, "Customers generated on the source.");
ABSL_FLAG(int, seconds, 4, "Duration of each throughput phase.");
ABSL_FLAG(int, threads, 8, "Client threads.");
ABSL_FLAG(std::string, report, "bench/reports/catalog.md", "Report path.");

namespace {

namespace v1 = ::tandem::catalog::v1;
namespace rv1 = ::tandem::router::v1;
using Clock = std::chrono::steady_clock;
constexpr auto kSource = ::tandem::common::v1::SYSTEM_SOURCE;
constexpr auto kTarget = ::tandem::common::v1::SYSTEM_TARGET;
constexpr char kToken[] = "bench-operator-token-0123456789";

double Ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto context = std::make_unique<grpc::ClientContext>();
  tandem::AttachBearerToken(*context, kToken);
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(60));
  return context;
}

void Check(const grpc::Status& status, const char* what) {
  if (!status.ok()) {
    std::cerr << what << ": " << status.error_message() << "\n";
    std::exit(1);
  }
}

struct Rate {
  double per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
};

// Runs `call` from `threads` threads for `seconds`; each call's latency is
// kept.
Rate Measure(int threads, int seconds, const std::function<void()>& call) {
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> latencies(threads);
  std::vector<std::thread> workers;
  Clock::time_point start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      while (!stop.load()) {
        Clock::time_point begin = Clock::now();
        call();
        latencies[t].push_back(Ms(Clock::now() - begin));
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (std::thread& w : workers) w.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  return {all.size() / elapsed, Percentile(all, 0.5), Percentile(all, 0.99)};
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  tandem::InitLogging("catalog_bench", tandem::LogLevel::kWarning);
  const int customers = absl::GetFlag(FLAGS_customers);
  const int seconds = absl::GetFlag(FLAGS_seconds);
  const int threads = absl::GetFlag(FLAGS_threads);
  std::string tokens = absl::StrCat("bench operator ", kToken, "\n");

  std::cerr << "generating " << customers << " customers...\n";
  tandem::testbed::DatagenOptions o;
  o.customers = customers;
  o.accounts = customers * 10;
  o.xdrs = customers * 20;
  o.password_iterations = 10;
  auto db = tandem::testbed::StartTestbedDb(o);
  if (!db.ok()) {
    std::cerr << db.status() << "\n";
    return 1;
  }
  for (const char* name : {"router", "catalog"}) {
    if (!db->server->CreateDatabase(name).ok()) return 1;
  }
  tandem::router::RouterServerOptions r;
  r.db = tandem::testbed::PoolOptions(*db->server, "router", 4);
  r.tokens = tokens;
  auto router = tandem::router::RouterServer::Start(r);
  if (!router.ok()) return 1;
  tandem::catalog::CatalogServerOptions c;
  c.control_db = tandem::testbed::PoolOptions(*db->server, "catalog", 8);
  c.source_db = tandem::testbed::PoolOptions(*db->server, "billing_v1", 8);
  c.target_db = tandem::testbed::PoolOptions(*db->server, "billing_v2", 8);
  c.tokens = tokens;
  c.router_address = absl::StrCat("127.0.0.1:", (*router)->port());
  c.router_token = kToken;
  c.refresh_interval = absl::ZeroDuration();
  auto catalog = tandem::catalog::CatalogServer::Start(c);
  if (!catalog.ok()) {
    std::cerr << catalog.status() << "\n";
    return 1;
  }
  auto stub = v1::CatalogService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*catalog)->port()),
                          grpc::InsecureChannelCredentials()));
  auto router_stub = rv1::RouterService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*router)->port()),
                          grpc::InsecureChannelCredentials()));

  // Map every product by code.
  v1::ProposeMappingsResponse proposals;
  Check(stub->ProposeMappings(Ctx().get(), {}, &proposals), "propose");
  for (const v1::MappingProposal& p : proposals.proposals()) {
    v1::SetMappingRequest set;
    set.set_source_product_id(p.source_product_id());
    set.set_target_product_id(p.target_product_id());
    set.set_reason("bench");
    v1::SetMappingResponse out;
    Check(stub->SetMapping(Ctx().get(), set, &out), "set mapping");
  }

  v1::CheckChangeRequest check;
  check.set_system(kSource);
  check.set_product_id(1);
  check.set_kind(v1::CHANGE_KIND_UPDATE_PRICE);
  auto check_call = [&] {
    v1::CheckChangeResponse out;
    Check(stub->CheckChange(Ctx().get(), check, &out), "check");
  };
  std::cerr << "CheckChange, OPEN...\n";
  Rate open_rate = Measure(threads, seconds, check_call);

  // PlanCustomers over everybody, 1,000 per call.
  std::cerr << "PlanCustomers...\n";
  Clock::time_point plan_start = Clock::now();
  int64_t can_move = 0, refused = 0, failed = 0, subscriptions = 0;
  for (int first = 1; first <= customers; first += 1000) {
    v1::PlanCustomersRequest req;
    for (int id = first; id < first + 1000 && id <= customers; ++id) {
      req.add_customer_ids(id);
    }
    req.set_summary_only(true);
    v1::PlanCustomersResponse out;
    Check(stub->PlanCustomers(Ctx().get(), req, &out), "plan customers");
    can_move += out.customers_can_move();
    refused += out.customers_refused();
    failed += out.customers_failed();
    for (const auto& count : out.outcome_counts()) {
      subscriptions += count.subscriptions();
    }
  }
  double plan_seconds =
      std::chrono::duration<double>(Clock::now() - plan_start).count();
  std::vector<double> one_by_one;
  for (int id = 1; id <= std::min(customers, 300); ++id) {
    v1::PlanCustomerRequest req;
    req.set_customer_id(id);
    v1::PlanCustomerResponse out;
    Clock::time_point begin = Clock::now();
    Check(stub->PlanCustomer(Ctx().get(), req, &out), "plan customer");
    one_by_one.push_back(Ms(Clock::now() - begin));
  }

  // OPEN -> FROZEN while product updates are in flight.
  std::cerr << "freeze under load...\n";
  v1::GetProductRequest get;
  get.set_system(kTarget);
  get.set_code("MOB-5G");
  std::atomic<bool> stop{false};
  std::atomic<int64_t> updates{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; !stop.load(); ++i) {
        v1::GetProductResponse current;
        if (!stub->GetProduct(Ctx().get(), get, &current).ok()) continue;
        v1::UpdateProductRequest req;
        req.set_system(kTarget);
        req.set_product_id(current.product().product_id());
        req.set_expected_version(current.product().version());
        *req.mutable_spec() = current.product().spec();
        req.mutable_spec()->mutable_pricing()->set_monthly_fee_micros(
            (t * 100000 + i + 1) * 10);
        v1::UpdateProductResponse out;
        if (stub->UpdateProduct(Ctx().get(), req, &out).ok()) ++updates;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  v1::SetFreezeRequest freeze;
  freeze.set_state(v1::FREEZE_STATE_FROZEN);
  freeze.set_reason("bench");
  v1::SetFreezeResponse frozen;
  Clock::time_point freeze_start = Clock::now();
  Check(stub->SetFreeze(Ctx().get(), freeze, &frozen), "freeze");
  double freeze_ms = Ms(Clock::now() - freeze_start);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  stop = true;
  for (std::thread& w : writers) w.join();
  // Changes applied after the transition, by the audit log's order (the
  // clients' clocks cannot tell: a reply may arrive after the transition
  // for a change committed before it).
  int64_t freeze_seq = 0;
  {
    v1::ListFreezeAuditRequest req;
    req.add_kinds(v1::AUDIT_KIND_FREEZE_TRANSITION);
    req.set_page_size(1);
    v1::ListFreezeAuditResponse out;
    Check(stub->ListFreezeAudit(Ctx().get(), req, &out), "audit");
    freeze_seq = out.entries(0).seq();
  }
  int64_t updates_after = 0;
  {
    v1::ListFreezeAuditRequest req;
    req.add_kinds(v1::AUDIT_KIND_CHANGE_APPLIED);
    req.set_page_size(1000);
    v1::ListFreezeAuditResponse out;
    Check(stub->ListFreezeAudit(Ctx().get(), req, &out), "audit");
    for (const auto& e : out.entries()) {
      if (e.seq() > freeze_seq) ++updates_after;
    }
  }

  std::cerr << "CheckChange, FROZEN (audited refusals)...\n";
  Rate frozen_rate = Measure(threads, seconds, check_call);

  // The automatic lift: two routes, moved to the target; the lift is timed
  // from the second flip to the LIFTED event on a WatchFreeze stream.
  std::cerr << "automatic lift...\n";
  freeze.set_state(v1::FREEZE_STATE_FROZEN_TARGET_OPEN);
  Check(stub->SetFreeze(Ctx().get(), freeze, &frozen), "target open");
  rv1::ImportRoutesRequest import;
  for (int id : {1, 2})
    import.mutable_customers()->add_customers()->set_customer_id(id);
  rv1::ImportRoutesResponse imported;
  Check(router_stub->ImportRoutes(Ctx().get(), import, &imported), "import");
  grpc::ClientContext watch;
  tandem::AttachBearerToken(watch, kToken);
  auto reader = stub->WatchFreeze(&watch, {});
  v1::WatchFreezeResponse event;
  reader->Read(&event);
  Clock::time_point flipped;
  for (int id : {1, 2}) {
    for (auto [system, state] : {std::pair{kSource, rv1::ROUTE_STATE_MIGRATING},
                                 std::pair{kTarget, rv1::ROUTE_STATE_STABLE}}) {
      rv1::GetRouteRequest g;
      g.set_customer_id(id);
      rv1::GetRouteResponse route;
      Check(router_stub->GetRoute(Ctx().get(), g, &route), "get route");
      rv1::SetRouteRequest s;
      s.set_customer_id(id);
      s.set_expected_version(route.route().version());
      s.set_system(system);
      s.set_state(state);
      rv1::SetRouteResponse set;
      flipped = Clock::now();
      Check(router_stub->SetRoute(Ctx().get(), s, &set), "set route");
    }
  }
  double lift_ms = -1;
  while (reader->Read(&event)) {
    if (event.freeze().state() == v1::FREEZE_STATE_LIFTED) {
      lift_ms = Ms(Clock::now() - flipped);
      break;
    }
  }
  watch.TryCancel();
  reader->Finish();

  std::string loadavg;
  std::getline(std::ifstream("/proc/loadavg"), loadavg);
  std::string report = absl::StrFormat(
      "# Catalog benchmark\n\n"
      "Generated by `bench/run catalog` (`build/bench/catalog_bench "
      "--customers=%d`). Everything on this machine's 2 cores: MariaDB, "
      "router, catalog and %d client threads (synchronous gRPC calls). "
      "Load average at the end: %s.\n\n"
      "| measure | result |\n| --- | --- |\n"
      "| CheckChange, OPEN (answered from memory) | %.0f calls/s, p50 %.2f "
      "ms, p99 %.2f ms |\n"
      "| CheckChange, FROZEN (each refusal audited in MariaDB) | %.0f calls/s, "
      "p50 %.2f ms, p99 %.2f ms |\n"
      "| PlanCustomers, %d customers in calls of 1,000 | %.1f s, %.0f "
      "customers/s (%lld can move, %lld refused, %lld failed; %lld "
      "subscriptions) |\n"
      "| PlanCustomer one by one (300 customers) | p50 %.2f ms, p99 %.2f ms |\n"
      "| OPEN -> FROZEN with %d threads updating a product | %.1f ms; %lld "
      "updates applied before, %lld after it (must be 0) |\n"
      "| automatic lift, from the last flip to the LIFTED event | %.0f ms |\n",
      customers, threads, loadavg.substr(0, 14), open_rate.per_second,
      open_rate.p50_ms, open_rate.p99_ms, frozen_rate.per_second,
      frozen_rate.p50_ms, frozen_rate.p99_ms, customers, plan_seconds,
      customers / plan_seconds, static_cast<long long>(can_move),
      static_cast<long long>(refused), static_cast<long long>(failed),
      static_cast<long long>(subscriptions), Percentile(one_by_one, 0.5),
      Percentile(one_by_one, 0.99), threads, freeze_ms,
      static_cast<long long>(updates.load()),
      static_cast<long long>(updates_after), lift_ms);
  std::ofstream(absl::GetFlag(FLAGS_report)) << report;
  std::cout << report;
  (*catalog)->Shutdown(absl::Seconds(2));
  (*router)->Shutdown(absl::Seconds(2));
  return 0;
}
