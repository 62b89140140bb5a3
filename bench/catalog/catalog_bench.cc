// Catalog benchmark: a throwaway MariaDB with both testbed billing systems
// (generated customers on the source), a router and a catalog in-process,
// measured over real gRPC channels:
//   * CheckChange allowed (OPEN; each answer confirmed against the control
//     database by a read shared with concurrent calls) and refused with an
//     audit entry each (FROZEN), 8 client threads;
//   * PlanCustomers over every customer, 1,000 per call, and PlanCustomer
//     latency one by one;
//   * how long OPEN -> FROZEN waits for product changes in flight;
//   * the freeze window between two replicas on one control database:
//     CheckChange answers of replica B to calls sent after replica A's
//     SetFreeze answered, and how long B's WatchFreeze feed trails A;
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
#include "absl/synchronization/mutex.h"
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
ABSL_FLAG(int, window_cycles, 20,
          "OPEN -> FROZEN -> OPEN cycles of the replica-window phase.");
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

void SetFreeze(v1::CatalogService::Stub& stub, v1::FreezeState state,
               v1::SetFreezeResponse* out = nullptr) {
  v1::SetFreezeRequest req;
  req.set_state(state);
  req.set_reason("bench");
  v1::SetFreezeResponse response;
  Check(stub.SetFreeze(Ctx().get(), req, &response), "set freeze");
  if (out != nullptr) *out = response;
}

// The services under test, on one throwaway MariaDB.
struct Rig {
  tandem::testbed::TestbedDb db;
  std::string tokens;
  std::unique_ptr<tandem::router::RouterServer> router;
  std::unique_ptr<tandem::catalog::CatalogServer> catalog;
  std::unique_ptr<v1::CatalogService::Stub> stub;
  std::unique_ptr<rv1::RouterService::Stub> router_stub;

  // A catalog replica on the shared control database.
  std::unique_ptr<tandem::catalog::CatalogServer> StartCatalog() {
    tandem::catalog::CatalogServerOptions c;
    c.control_db = tandem::testbed::PoolOptions(*db.server, "catalog", 8);
    c.source_db = tandem::testbed::PoolOptions(*db.server, "billing_v1", 8);
    c.target_db = tandem::testbed::PoolOptions(*db.server, "billing_v2", 8);
    c.tokens = tokens;
    c.router_address = absl::StrCat("127.0.0.1:", router->port());
    c.router_token = kToken;
    c.refresh_interval = absl::ZeroDuration();
    auto catalog = tandem::catalog::CatalogServer::Start(c);
    if (!catalog.ok()) {
      std::cerr << catalog.status() << "\n";
      std::exit(1);
    }
    return *std::move(catalog);
  }
};

std::unique_ptr<v1::CatalogService::Stub> StubOf(
    tandem::catalog::CatalogServer& server) {
  return v1::CatalogService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", server.port()),
                          grpc::InsecureChannelCredentials()));
}

void StartRig(int customers, Rig& rig) {
  rig.tokens = absl::StrCat("bench operator ", kToken, "\n");
  std::cerr << "generating " << customers << " customers...\n";
  tandem::testbed::DatagenOptions o;
  o.customers = customers;
  o.accounts = customers * 10;
  o.xdrs = customers * 20;
  o.password_iterations = 10;
  auto db = tandem::testbed::StartTestbedDb(o);
  if (!db.ok()) {
    std::cerr << db.status() << "\n";
    std::exit(1);
  }
  rig.db = *std::move(db);
  for (const char* name : {"router", "catalog"}) {
    if (!rig.db.server->CreateDatabase(name).ok()) std::exit(1);
  }
  tandem::router::RouterServerOptions r;
  r.db = tandem::testbed::PoolOptions(*rig.db.server, "router", 4);
  r.tokens = rig.tokens;
  auto router = tandem::router::RouterServer::Start(r);
  if (!router.ok()) std::exit(1);
  rig.router = *std::move(router);
  rig.catalog = rig.StartCatalog();
  rig.stub = StubOf(*rig.catalog);
  rig.router_stub = rv1::RouterService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", rig.router->port()),
                          grpc::InsecureChannelCredentials()));
  // Map every product by code.
  v1::ProposeMappingsResponse proposals;
  Check(rig.stub->ProposeMappings(Ctx().get(), {}, &proposals), "propose");
  for (const v1::MappingProposal& p : proposals.proposals()) {
    v1::SetMappingRequest set;
    set.set_source_product_id(p.source_product_id());
    set.set_target_product_id(p.target_product_id());
    set.set_reason("bench");
    v1::SetMappingResponse out;
    Check(rig.stub->SetMapping(Ctx().get(), set, &out), "set mapping");
  }
}

struct PlanFigures {
  double seconds = 0;
  int64_t can_move = 0, refused = 0, failed = 0, subscriptions = 0;
  std::vector<double> one_by_one;
};

// PlanCustomers over everybody, 1,000 per call, then PlanCustomer one by one.
PlanFigures MeasurePlans(v1::CatalogService::Stub& stub, int customers) {
  PlanFigures f;
  Clock::time_point start = Clock::now();
  for (int first = 1; first <= customers; first += 1000) {
    v1::PlanCustomersRequest req;
    for (int id = first; id < first + 1000 && id <= customers; ++id) {
      req.add_customer_ids(id);
    }
    req.set_summary_only(true);
    v1::PlanCustomersResponse out;
    Check(stub.PlanCustomers(Ctx().get(), req, &out), "plan customers");
    f.can_move += out.customers_can_move();
    f.refused += out.customers_refused();
    f.failed += out.customers_failed();
    for (const auto& count : out.outcome_counts()) {
      f.subscriptions += count.subscriptions();
    }
  }
  f.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (int id = 1; id <= std::min(customers, 300); ++id) {
    v1::PlanCustomerRequest req;
    req.set_customer_id(id);
    v1::PlanCustomerResponse out;
    Clock::time_point begin = Clock::now();
    Check(stub.PlanCustomer(Ctx().get(), req, &out), "plan customer");
    f.one_by_one.push_back(Ms(Clock::now() - begin));
  }
  return f;
}

struct FreezeFigures {
  double freeze_ms = 0;
  int64_t updates = 0;
  int64_t updates_after = 0;
};

// The newest audit entry's sequence number of `kind` (0 when none).
int64_t NewestSeq(v1::CatalogService::Stub& stub, v1::AuditKind kind) {
  v1::ListFreezeAuditRequest req;
  req.add_kinds(kind);
  req.set_page_size(1);
  v1::ListFreezeAuditResponse out;
  Check(stub.ListFreezeAudit(Ctx().get(), req, &out), "audit");
  return out.entries_size() == 0 ? 0 : out.entries(0).seq();
}

// OPEN -> FROZEN while `threads` threads update a product.
FreezeFigures MeasureFreezeUnderLoad(v1::CatalogService::Stub& stub,
                                     int threads) {
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
        if (!stub.GetProduct(Ctx().get(), get, &current).ok()) continue;
        v1::UpdateProductRequest req;
        req.set_system(kTarget);
        req.set_product_id(current.product().product_id());
        req.set_expected_version(current.product().version());
        *req.mutable_spec() = current.product().spec();
        req.mutable_spec()->mutable_pricing()->set_monthly_fee_micros(
            (t * 100000 + i + 1) * 10);
        v1::UpdateProductResponse out;
        if (stub.UpdateProduct(Ctx().get(), req, &out).ok()) ++updates;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  FreezeFigures f;
  Clock::time_point freeze_start = Clock::now();
  SetFreeze(stub, v1::FREEZE_STATE_FROZEN);
  f.freeze_ms = Ms(Clock::now() - freeze_start);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  stop = true;
  for (std::thread& w : writers) w.join();
  f.updates = updates.load();
  // Changes applied after the transition, by the audit log's order (the
  // clients' clocks cannot tell: a reply may arrive after the transition
  // for a change committed before it).
  const int64_t freeze_seq = NewestSeq(stub, v1::AUDIT_KIND_FREEZE_TRANSITION);
  v1::ListFreezeAuditRequest req;
  req.add_kinds(v1::AUDIT_KIND_CHANGE_APPLIED);
  req.set_page_size(1000);
  v1::ListFreezeAuditResponse out;
  Check(stub.ListFreezeAudit(Ctx().get(), req, &out), "audit");
  for (const auto& e : out.entries()) f.updates_after += e.seq() > freeze_seq;
  return f;
}

// A WatchFreeze stream of one replica, followed on a thread of its own.
class FreezeFeed {
 public:
  explicit FreezeFeed(v1::CatalogService::Stub& stub) {
    tandem::AttachBearerToken(context_, kToken);
    reader_ = stub.WatchFreeze(&context_, {});
    thread_ = std::thread([this] {
      v1::WatchFreezeResponse event;
      while (reader_->Read(&event)) {
        absl::MutexLock lock(&mu_);
        version_ = event.freeze().version();
        state_ = event.freeze().state();
      }
    });
  }
  ~FreezeFeed() {
    context_.TryCancel();
    thread_.join();
    reader_->Finish();
  }
  // Waits until the feed has delivered freeze version `version`.
  void WaitFor(int64_t version) {
    absl::MutexLock lock(&mu_);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return version_ >= version;
    };
    mu_.Await(absl::Condition(&reached));
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::WatchFreezeResponse>> reader_;
  absl::Mutex mu_;
  int64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  v1::FreezeState state_ ABSL_GUARDED_BY(mu_) = v1::FREEZE_STATE_UNSPECIFIED;
  std::thread thread_;
};

struct WindowFigures {
  int cycles = 0;
  int64_t checks_after = 0;
  int64_t allowed_after = 0;
  int64_t allowed_before = 0;
  std::vector<double> quiet_lag_ms;
  std::vector<double> busy_lag_ms;
};

// The freeze window between replicas: replica A freezes while `threads`
// threads ask replica B (its own poll, 100 ms) whether a price change may
// be made; each call is counted as sent after A's SetFreeze answered, or
// not. B's WatchFreeze feed is timed from A's answer, with and without the
// callers (whose confirmations also wake B's poller).
WindowFigures MeasureReplicaWindow(Rig& rig, int threads, int cycles) {
  std::unique_ptr<tandem::catalog::CatalogServer> b = rig.StartCatalog();
  auto b_stub = StubOf(*b);
  FreezeFeed feed(*b_stub);
  enum Phase { kIdle, kOpen, kFreezing, kAcknowledged };
  std::atomic<int> phase{kIdle};
  std::atomic<bool> stop{false}, busy{false};
  std::atomic<int64_t> allowed_before{0}, checks_after{0}, allowed_after{0};
  std::vector<std::thread> checkers;
  for (int t = 0; t < threads; ++t) {
    checkers.emplace_back([&] {
      v1::CheckChangeRequest req;
      req.set_system(kSource);
      req.set_product_id(1);
      req.set_kind(v1::CHANGE_KIND_UPDATE_PRICE);
      req.set_dry_run(true);
      while (!stop.load()) {
        if (!busy.load()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
          continue;
        }
        const int sent_in = phase.load();
        v1::CheckChangeResponse out;
        Check(b_stub->CheckChange(Ctx().get(), req, &out), "check on B");
        if (sent_in == kOpen) allowed_before += out.allowed();
        if (sent_in == kAcknowledged) {
          ++checks_after;
          allowed_after += out.allowed();
        }
      }
    });
  }
  WindowFigures f;
  for (int cycle = 0; cycle < 2 * cycles; ++cycle) {
    const bool with_callers = cycle >= cycles;
    busy = with_callers;
    phase = kOpen;
    if (with_callers)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    phase = kFreezing;
    v1::SetFreezeResponse frozen;
    SetFreeze(*rig.stub, v1::FREEZE_STATE_FROZEN, &frozen);
    Clock::time_point acknowledged = Clock::now();
    phase = kAcknowledged;
    feed.WaitFor(frozen.freeze().version());
    (with_callers ? f.busy_lag_ms : f.quiet_lag_ms)
        .push_back(Ms(Clock::now() - acknowledged));
    if (with_callers)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    phase = kIdle;
    v1::SetFreezeResponse opened;
    SetFreeze(*rig.stub, v1::FREEZE_STATE_OPEN, &opened);
    feed.WaitFor(opened.freeze().version());
  }
  stop = true;
  for (std::thread& t : checkers) t.join();
  f.cycles = cycles;
  f.checks_after = checks_after.load();
  f.allowed_after = allowed_after.load();
  f.allowed_before = allowed_before.load();
  b->Shutdown(absl::Seconds(2));
  return f;
}

// Two routes moved to the target; the lift is timed from the second flip
// to the LIFTED event on a WatchFreeze stream.
double MeasureLift(Rig& rig) {
  SetFreeze(*rig.stub, v1::FREEZE_STATE_FROZEN_TARGET_OPEN);
  rv1::ImportRoutesRequest import;
  for (int id : {1, 2}) {
    import.mutable_customers()->add_customers()->set_customer_id(id);
  }
  rv1::ImportRoutesResponse imported;
  Check(rig.router_stub->ImportRoutes(Ctx().get(), import, &imported),
        "import");
  grpc::ClientContext watch;
  tandem::AttachBearerToken(watch, kToken);
  auto reader = rig.stub->WatchFreeze(&watch, {});
  v1::WatchFreezeResponse event;
  reader->Read(&event);
  Clock::time_point flipped;
  for (int id : {1, 2}) {
    for (auto [system, state] : {std::pair{kSource, rv1::ROUTE_STATE_MIGRATING},
                                 std::pair{kTarget, rv1::ROUTE_STATE_STABLE}}) {
      rv1::GetRouteRequest g;
      g.set_customer_id(id);
      rv1::GetRouteResponse route;
      Check(rig.router_stub->GetRoute(Ctx().get(), g, &route), "get route");
      rv1::SetRouteRequest s;
      s.set_customer_id(id);
      s.set_expected_version(route.route().version());
      s.set_system(system);
      s.set_state(state);
      rv1::SetRouteResponse set;
      flipped = Clock::now();
      Check(rig.router_stub->SetRoute(Ctx().get(), s, &set), "set route");
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
  return lift_ms;
}

// Everything measured, for the report.
struct Figures {
  int customers = 0;
  int threads = 0;
  Rate open;
  Rate frozen;
  PlanFigures plans;
  FreezeFigures freeze;
  WindowFigures window;
  double lift_ms = 0;
};

std::string Report(const Figures& f) {
  std::string loadavg;
  std::getline(std::ifstream("/proc/loadavg"), loadavg);
  std::string report = absl::StrFormat(
      "# Catalog benchmark\n\n"
      "Generated by `bench/run catalog` (`build/bench/catalog_bench "
      "--customers=%d`). Everything on this machine's 2 cores: MariaDB, "
      "router, catalog and %d client threads (synchronous gRPC calls). "
      "Load average at the end: %s.\n\n"
      "| measure | result |\n| --- | --- |\n"
      "| CheckChange, OPEN (allowed: confirmed against the control database, "
      "one read shared by concurrent calls) | %.0f calls/s, p50 %.2f ms, p99 "
      "%.2f ms |\n"
      "| CheckChange, FROZEN (each refusal audited in MariaDB) | %.0f calls/s, "
      "p50 %.2f ms, p99 %.2f ms |\n"
      "| PlanCustomers, %d customers in calls of 1,000 | %.1f s, %.0f "
      "customers/s (%lld can move, %lld refused, %lld failed; %lld "
      "subscriptions) |\n"
      "| PlanCustomer one by one (300 customers) | p50 %.2f ms, p99 %.2f ms |\n"
      "| OPEN -> FROZEN with %d threads updating a product | %.1f ms; %lld "
      "updates applied before, %lld after it (must be 0) |\n"
      "| replica B's CheckChange, %d threads, calls sent after replica A's "
      "SetFreeze answered (%d freezes) | %lld calls, %lld allowed (must be "
      "0); %lld allowed before the freezes |\n"
      "| replica B's WatchFreeze feed behind A's SetFreeze answer, B idle "
      "(%d freezes; B polls every 100 ms) | p50 %.1f ms, max %.1f ms |\n"
      "| the same, B answering CheckChange meanwhile (%d freezes) | p50 %.1f "
      "ms, max %.1f ms |\n"
      "| automatic lift, from the last flip to the LIFTED event | %.0f ms |\n",
      f.customers, f.threads, loadavg.substr(0, 14), f.open.per_second,
      f.open.p50_ms, f.open.p99_ms, f.frozen.per_second, f.frozen.p50_ms,
      f.frozen.p99_ms, f.customers, f.plans.seconds,
      f.customers / f.plans.seconds, static_cast<long long>(f.plans.can_move),
      static_cast<long long>(f.plans.refused),
      static_cast<long long>(f.plans.failed),
      static_cast<long long>(f.plans.subscriptions),
      Percentile(f.plans.one_by_one, 0.5), Percentile(f.plans.one_by_one, 0.99),
      f.threads, f.freeze.freeze_ms, static_cast<long long>(f.freeze.updates),
      static_cast<long long>(f.freeze.updates_after), f.threads,
      f.window.cycles, static_cast<long long>(f.window.checks_after),
      static_cast<long long>(f.window.allowed_after),
      static_cast<long long>(f.window.allowed_before), f.window.cycles,
      Percentile(f.window.quiet_lag_ms, 0.5),
      Percentile(f.window.quiet_lag_ms, 1.0), f.window.cycles,
      Percentile(f.window.busy_lag_ms, 0.5),
      Percentile(f.window.busy_lag_ms, 1.0), f.lift_ms);
  return report;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  tandem::InitLogging("catalog_bench", tandem::LogLevel::kWarning);
  const int customers = absl::GetFlag(FLAGS_customers);
  const int seconds = absl::GetFlag(FLAGS_seconds);
  const int threads = absl::GetFlag(FLAGS_threads);
  Rig rig;
  StartRig(customers, rig);
  v1::CatalogService::Stub& stub = *rig.stub;

  v1::CheckChangeRequest check;
  check.set_system(kSource);
  check.set_product_id(1);
  check.set_kind(v1::CHANGE_KIND_UPDATE_PRICE);
  auto check_call = [&] {
    v1::CheckChangeResponse out;
    Check(stub.CheckChange(Ctx().get(), check, &out), "check");
  };
  std::cerr << "CheckChange, OPEN...\n";
  Rate open_rate = Measure(threads, seconds, check_call);
  std::cerr << "PlanCustomers...\n";
  PlanFigures plans = MeasurePlans(stub, customers);
  std::cerr << "freeze window between replicas...\n";
  WindowFigures window =
      MeasureReplicaWindow(rig, threads, absl::GetFlag(FLAGS_window_cycles));
  std::cerr << "freeze under load...\n";
  FreezeFigures freeze = MeasureFreezeUnderLoad(stub, threads);
  std::cerr << "CheckChange, FROZEN (audited refusals)...\n";
  Rate frozen_rate = Measure(threads, seconds, check_call);
  std::cerr << "automatic lift...\n";
  const double lift_ms = MeasureLift(rig);

  const std::string report = Report({customers, threads, open_rate, frozen_rate,
                                     plans, freeze, window, lift_ms});
  std::ofstream(absl::GetFlag(FLAGS_report)) << report;
  std::cout << report;
  rig.catalog->Shutdown(absl::Seconds(2));
  rig.router->Shutdown(absl::Seconds(2));
  return 0;
}
