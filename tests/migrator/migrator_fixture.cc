#include "tests/migrator/migrator_fixture.h"

#include <grpcpp/create_channel.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/auth.h"
#include "common/status_macros.h"
#include "tests/testbed/services_fixture.h"
#include "tests/testing/eventually.h"

namespace tandem::migrator::testing {
namespace {

absl::Status Check(const grpc::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat(what, ": ", s.error_message()));
}

}  // namespace

std::unique_ptr<grpc::ClientContext> MigratorEnv::Ctx(const std::string& token,
                                                      int seconds) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) AttachBearerToken(*ctx, token);
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(seconds));
  return ctx;
}

std::unique_ptr<v1::MigratorService::Stub> MigratorStub(int port) {
  return v1::MigratorService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
}

EnvOptions SmallPopulation(int64_t customers, int64_t accounts, int64_t xdrs) {
  EnvOptions o;
  o.datagen.customers = customers;
  o.datagen.accounts = accounts;
  o.datagen.xdrs = xdrs;
  o.datagen.large_customers = 0;
  o.datagen.huge_accounts = 0;
  return o;
}

MigratorEnv* MigratorEnv::StartForSuite(EnvOptions options,
                                        std::string* error) {
  absl::StatusOr<std::unique_ptr<MigratorEnv>> env = Start(std::move(options));
  if (!env.ok()) {
    *error = env.status().ToString();
    return nullptr;
  }
  return env->release();
}

absl::StatusOr<std::unique_ptr<MigratorEnv>> MigratorEnv::Start(
    EnvOptions options) {
  std::unique_ptr<MigratorEnv> env(new MigratorEnv());
  testbed::TestbedOptions tb;
  tb.datagen = options.datagen;
  tb.server = options.server;
  TANDEM_ASSIGN_OR_RETURN(env->testbed_, testbed::StartTestbed(tb));
  TANDEM_ASSIGN_OR_RETURN(env->router_,
                          testbed::StartRouter(*env->testbed_, kTokens));
  env->router_stub_ = router::v1::RouterService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", env->router_->port()),
                          grpc::InsecureChannelCredentials()));
  // Every customer of the source, with its login, gets a route.
  TANDEM_ASSIGN_OR_RETURN(
      std::vector<std::string> rows,
      env->testbed_->source_server().Query(
          "SELECT i_customer, login FROM customers ORDER BY i_customer",
          testbed::Testbed::kSourceDb));
  router::v1::ImportRoutesRequest import;
  import.set_system(::tandem::common::v1::SYSTEM_SOURCE);
  for (const std::string& row : rows) {
    const size_t tab = row.find('\t');
    int64_t id = 0;
    if (tab == std::string::npos ||
        !absl::SimpleAtoi(row.substr(0, tab), &id)) {
      continue;
    }
    auto* c = import.mutable_customers()->add_customers();
    c->set_customer_id(id);
    auto* key = c->add_keys();
    key->set_kind(router::v1::KEY_KIND_LOGIN);
    key->set_value(row.substr(tab + 1));
  }
  router::v1::ImportRoutesResponse imported;
  TANDEM_RETURN_IF_ERROR(
      Check(env->router_stub_->ImportRoutes(Ctx().get(), import, &imported),
            "import routes"));
  TANDEM_ASSIGN_OR_RETURN(
      env->catalog_, testbed::StartCatalog(*env->testbed_, env->router_->port(),
                                           kTokens, kOperatorToken));
  env->catalog_stub_ = catalog::v1::CatalogService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", env->catalog_->port()),
                          grpc::InsecureChannelCredentials()));
  // Accept every proposed mapping, allowing overuse, as the demo does.
  catalog::v1::ProposeMappingsResponse proposals;
  TANDEM_RETURN_IF_ERROR(
      Check(env->catalog_stub_->ProposeMappings(
                Ctx().get(), catalog::v1::ProposeMappingsRequest(), &proposals),
            "propose mappings"));
  for (const auto& p : proposals.proposals()) {
    catalog::v1::SetMappingRequest set;
    set.set_source_product_id(p.source_product_id());
    set.set_target_product_id(p.target_product_id());
    set.set_origin(catalog::v1::MAPPING_ORIGIN_PROPOSED);
    set.set_overuse_policy(catalog::v1::OVERUSE_POLICY_ALLOW);
    set.set_reason("migrator test");
    catalog::v1::SetMappingResponse mapped;
    TANDEM_RETURN_IF_ERROR(
        Check(env->catalog_stub_->SetMapping(Ctx().get(), set, &mapped),
              "set mapping"));
  }
  if (options.freeze) {
    catalog::v1::SetFreezeRequest freeze;
    freeze.set_state(catalog::v1::FREEZE_STATE_FROZEN);
    freeze.set_reason("dual-version provisioning (migrator test)");
    catalog::v1::SetFreezeResponse frozen;
    TANDEM_RETURN_IF_ERROR(Check(
        env->catalog_stub_->SetFreeze(Ctx().get(), freeze, &frozen), "freeze"));
  }
  return env;
}

MigratorEnv::~MigratorEnv() {
  if (catalog_ != nullptr) catalog_->Shutdown(absl::Seconds(2));
  if (router_ != nullptr) router_->Shutdown(absl::Seconds(2));
}

Portal::~Portal() {
  if (proxy != nullptr) proxy->Shutdown(absl::Seconds(2));
}

namespace {

// A billing simulator over the testbed's database of that version.
absl::StatusOr<std::unique_ptr<testbed::SimServer>> StartSim(
    const testbed::Testbed& tb, bool target, int connections) {
  testbed::SimOptions s;
  s.version =
      target ? testbed::SchemaVersion::kV2 : testbed::SchemaVersion::kV1;
  s.db = testbed::PoolOptions(
      target ? tb.target_server() : tb.source_server(),
      target ? testbed::Testbed::kTargetDb : testbed::Testbed::kSourceDb,
      connections);
  s.http.address = "127.0.0.1";
  return testbed::SimServer::Start(s);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Portal>> MigratorEnv::StartPortal(
    absl::Duration hold_timeout, int sim_connections) const {
  auto portal = std::make_unique<Portal>();
  TANDEM_ASSIGN_OR_RETURN(portal->v1_sim,
                          StartSim(*testbed_, false, sim_connections));
  TANDEM_ASSIGN_OR_RETURN(portal->v2_sim,
                          StartSim(*testbed_, true, sim_connections));
  proxy::ProxyServerOptions options;
  options.http.listen = "127.0.0.1:0";
  options.http.source_backend =
      absl::StrCat("127.0.0.1:", portal->v1_sim->port());
  options.http.target_backend =
      absl::StrCat("127.0.0.1:", portal->v2_sim->port());
  options.http.resolver.login_paths = {"/api/login"};
  options.http.hold_timeout = hold_timeout;
  options.router = absl::StrCat("127.0.0.1:", router_->port());
  options.router_token = kViewerToken;
  options.catalog = absl::StrCat("127.0.0.1:", catalog_->port());
  options.catalog_token = kViewerToken;
  options.sync_timeout = absl::Seconds(10);
  options.cookie_key = "migrator-portal-test-cookie-key";
  options.admin_listen = "127.0.0.1:0";
  TANDEM_ASSIGN_OR_RETURN(portal->proxy, proxy::ProxyServer::Start(options));
  return portal;
}

MigratorServerOptions MigratorEnv::MigratorOptions() const {
  MigratorServerOptions o;
  o.control_db = testbed_->ControlDb("migrator");
  o.source_db = testbed_->SourceDb(6);
  o.target_db = testbed_->TargetDb(6);
  o.mapping_file = TANDEM_MAPPING_FILE;
  o.tokens = kTokens;
  o.router_address = absl::StrCat("127.0.0.1:", router_->port());
  o.router_token = kOperatorToken;
  o.catalog_address = absl::StrCat("127.0.0.1:", catalog_->port());
  o.catalog_token = kOperatorToken;
  o.backend.worker = "test-replica";
  o.backend.poll_interval = absl::Milliseconds(50);
  o.mover.tail_window = absl::Seconds(2);
  o.mover.tail_interval = absl::Milliseconds(200);
  o.mover.cutover_timeout = absl::Seconds(8);
  o.worker_threads = 4;
  return o;
}

absl::StatusOr<std::unique_ptr<MigratorServer>> MigratorEnv::StartMigrator(
    const std::function<void(MigratorServerOptions&)>& tune) const {
  TANDEM_RETURN_IF_ERROR(testbed_->control_server().CreateDatabase("migrator"));
  MigratorServerOptions o = MigratorOptions();
  if (tune) tune(o);
  return MigratorServer::Start(std::move(o));
}

std::vector<int64_t> MigratorEnv::MovableCustomers(size_t n,
                                                   int max_accounts) const {
  std::vector<int64_t> out;
  absl::StatusOr<std::vector<std::string>> counts =
      testbed_->source_server().Query(
          "SELECT i_customer, COUNT(*) FROM accounts GROUP BY i_customer "
          "ORDER BY i_customer",
          testbed::Testbed::kSourceDb);
  if (!counts.ok()) return out;
  for (const std::string& row : *counts) {
    if (out.size() >= n) break;
    const size_t tab = row.find('\t');
    int64_t id = 0, accounts = 0;
    if (!absl::SimpleAtoi(row.substr(0, tab), &id) ||
        !absl::SimpleAtoi(row.substr(tab + 1), &accounts) ||
        accounts > max_accounts) {
      continue;
    }
    catalog::v1::PlanCustomerRequest request;
    request.set_customer_id(id);
    catalog::v1::PlanCustomerResponse plan;
    if (catalog_stub_->PlanCustomer(Ctx().get(), request, &plan).ok() &&
        plan.plan().can_move()) {
      out.push_back(id);
    }
  }
  return out;
}

router::v1::Route MigratorEnv::Route(int64_t customer) const {
  router::v1::GetRouteRequest request;
  request.set_customer_id(customer);
  router::v1::GetRouteResponse response;
  grpc::Status s = router_stub_->GetRoute(Ctx().get(), request, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return response.route();
}

std::vector<std::string> MigratorEnv::Rows(bool target,
                                           const std::string& table,
                                           const std::string& where) const {
  const tandem::testing::MariaDbServer& server =
      target ? testbed_->target_server() : testbed_->source_server();
  absl::StatusOr<std::vector<std::string>> rows = server.Query(
      absl::StrCat("SELECT * FROM ", table, " WHERE ", where, " ORDER BY 1"),
      target ? testbed::Testbed::kTargetDb : testbed::Testbed::kSourceDb);
  EXPECT_TRUE(rows.ok()) << rows.status();
  return rows.ok() ? *rows : std::vector<std::string>{};
}

grpc::Status Batches::Create(v1::CreateBatchRequest request, v1::Batch* out) {
  v1::CreateBatchResponse response;
  grpc::Status s =
      stub_->CreateBatch(MigratorEnv::Ctx().get(), request, &response);
  if (out != nullptr) *out = response.batch();
  return s;
}

v1::Batch Batches::Start(const std::string& name,
                         const std::vector<int64_t>& customers,
                         const v1::BatchOptions& options, v1::BatchMode mode) {
  v1::CreateBatchRequest request;
  request.set_name(name);
  request.set_mode(mode);
  *request.mutable_options() = options;
  for (int64_t c : customers) request.mutable_selector()->add_customer_ids(c);
  request.set_start(true);
  v1::Batch batch;
  grpc::Status s = Create(request, &batch);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return batch;
}

v1::Batch Batches::Get(int64_t batch_id) {
  v1::GetBatchRequest request;
  request.set_batch_id(batch_id);
  v1::GetBatchResponse response;
  grpc::Status s =
      stub_->GetBatch(MigratorEnv::Ctx(kViewerToken).get(), request, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return response.batch();
}

std::vector<v1::BatchItem> Batches::Items(int64_t batch_id) {
  std::vector<v1::BatchItem> out;
  v1::ListBatchItemsRequest request;
  request.set_batch_id(batch_id);
  request.set_include_details(true);
  request.set_page_size(1000);
  while (true) {
    v1::ListBatchItemsResponse response;
    grpc::Status s = stub_->ListBatchItems(MigratorEnv::Ctx(kViewerToken).get(),
                                           request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (!s.ok()) break;
    for (const v1::BatchItem& i : response.items()) out.push_back(i);
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  return out;
}

bool Batches::Await(int64_t batch_id,
                    const std::function<bool(const v1::Batch&)>& done,
                    absl::Duration timeout) {
  return ::tandem::testing::Eventually(
      [&] {
        v1::GetBatchRequest request;
        request.set_batch_id(batch_id);
        v1::GetBatchResponse response;
        return stub_
                   ->GetBatch(MigratorEnv::Ctx(kViewerToken).get(), request,
                              &response)
                   .ok() &&
               done(response.batch());
      },
      timeout);
}

bool AwaitBatchState(v1::MigratorService::Stub& stub, int64_t batch_id,
                     v1::BatchState state, absl::Duration timeout) {
  return ::tandem::testing::Eventually(
      [&] {
        v1::GetBatchRequest request;
        request.set_batch_id(batch_id);
        v1::GetBatchResponse response;
        return stub.GetBatch(MigratorEnv::Ctx(kViewerToken).get(), request,
                             &response)
                   .ok() &&
               response.batch().state() == state;
      },
      timeout);
}

bool Batches::AwaitFinished(int64_t batch_id, absl::Duration timeout) {
  return Await(
      batch_id,
      [](const v1::Batch& b) {
        return b.state() == v1::BATCH_STATE_COMPLETED ||
               b.state() == v1::BATCH_STATE_CANCELLED;
      },
      timeout);
}

grpc::Status Batches::Act(const std::string& action, int64_t batch_id,
                          v1::Batch* out) {
  v1::Batch batch;
  grpc::Status s;
  if (action == "start") {
    v1::StartBatchRequest r;
    r.set_batch_id(batch_id);
    v1::StartBatchResponse response;
    s = stub_->StartBatch(MigratorEnv::Ctx().get(), r, &response);
    batch = response.batch();
  } else if (action == "pause") {
    v1::PauseBatchRequest r;
    r.set_batch_id(batch_id);
    v1::PauseBatchResponse response;
    s = stub_->PauseBatch(MigratorEnv::Ctx().get(), r, &response);
    batch = response.batch();
  } else if (action == "resume") {
    v1::ResumeBatchRequest r;
    r.set_batch_id(batch_id);
    v1::ResumeBatchResponse response;
    s = stub_->ResumeBatch(MigratorEnv::Ctx().get(), r, &response);
    batch = response.batch();
  } else {
    v1::CancelBatchRequest r;
    r.set_batch_id(batch_id);
    v1::CancelBatchResponse response;
    s = stub_->CancelBatch(MigratorEnv::Ctx().get(), r, &response);
    batch = response.batch();
  }
  if (out != nullptr) *out = batch;
  return s;
}

}  // namespace tandem::migrator::testing
