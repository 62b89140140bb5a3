// Micro-benchmark of the in-memory table that the router and every client
// cache use (Google Benchmark).
#include <benchmark/benchmark.h>

#include "absl/strings/str_cat.h"
#include "router/route_table.h"

namespace {

namespace v1 = ::tandem::router::v1;
constexpr int kRoutes = 1000000;

tandem::router::RouteTable& Table() {
  static auto* table = [] {
    auto* t = new tandem::router::RouteTable();
    tandem::router::RouteUpdate item;
    for (int i = 1; i <= kRoutes; ++i) {
      item.Clear();
      auto* route = item.mutable_route();
      route->set_customer_id(i);
      route->set_system(tandem::common::v1::SYSTEM_SOURCE);
      route->set_state(v1::ROUTE_STATE_STABLE);
      route->set_version(i);
      auto* key = item.add_keys_added();
      key->set_kind(v1::KEY_KIND_LOGIN);
      key->set_value(absl::StrCat("user", i));
      t->ApplySnapshotItem(item);
    }
    return t;
  }();
  return *table;
}

void BM_FindCustomer(benchmark::State& state) {
  auto& table = Table();
  uint64_t x = 88172645463325252ull + state.thread_index();
  for (auto _ : state) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    benchmark::DoNotOptimize(table.FindInfo(1 + x % kRoutes));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FindCustomer)->Threads(1)->Threads(2)->UseRealTime();

void BM_LookupLogin(benchmark::State& state) {
  auto& table = Table();
  std::vector<std::string> logins;
  for (int i = 0; i < 4096; ++i) {
    logins.push_back(absl::StrCat("user", 1 + (i * 7919) % kRoutes));
  }
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        table.LookupInfo(v1::KEY_KIND_LOGIN, logins[i++ & 4095]));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LookupLogin)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
