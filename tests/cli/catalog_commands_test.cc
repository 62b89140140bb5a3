// tandemctl's catalog commands, run in-process (RunTandemctl, as main.cc
// does) against a fake CatalogService on a real gRPC server bound to port 0.
// The fake records every request, so each test checks what the CLI sent as
// well as what it printed; the catalog's own behaviour is tested in
// tests/catalog against a real catalog.
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "cli/app.h"
#include "tandem/catalog/v1/catalog.grpc.pb.h"

namespace tandem::cli {
namespace {

namespace v1 = ::tandem::catalog::v1;
using ::tandem::common::v1::DIRECTION_MOVE;
using ::tandem::common::v1::DIRECTION_ROLLBACK;
using ::tandem::common::v1::SYSTEM_SOURCE;
using ::tandem::common::v1::SYSTEM_TARGET;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr char kToken[] = "test-token";

// A CatalogService that answers with what the test configured and records
// every request (and the authorization header of the last call). Methods a
// test does not need stay UNIMPLEMENTED.
class FakeCatalog final : public v1::CatalogService::Service {
 public:
  grpc::Status GetFreeze(grpc::ServerContext* context,
                         const v1::GetFreezeRequest* /*request*/,
                         v1::GetFreezeResponse* response) override {
    Record(context);
    *response->mutable_freeze() = freeze;
    return grpc::Status::OK;
  }

  grpc::Status SetFreeze(grpc::ServerContext* context,
                         const v1::SetFreezeRequest* request,
                         v1::SetFreezeResponse* response) override {
    Record(context);
    absl::MutexLock lock(&mu);
    set_freeze.push_back(*request);
    response->mutable_transition()->set_from_state(freeze.state());
    response->mutable_transition()->set_to_state(request->state());
    response->mutable_transition()->set_version(freeze.version() + 1);
    *response->mutable_freeze() = freeze;
    response->mutable_freeze()->set_state(request->state());
    response->mutable_freeze()->set_version(freeze.version() + 1);
    return grpc::Status::OK;
  }

  grpc::Status WatchFreeze(
      grpc::ServerContext* context, const v1::WatchFreezeRequest* /*request*/,
      grpc::ServerWriter<v1::WatchFreezeResponse>* writer) override {
    Record(context);
    for (const v1::WatchFreezeResponse& event : watch_events) {
      writer->Write(event);
    }
    // Ending the stream normally is what a catalog shutting down looks
    // like to the client.
    return grpc::Status::OK;
  }

  grpc::Status CheckChange(grpc::ServerContext* context,
                           const v1::CheckChangeRequest* request,
                           v1::CheckChangeResponse* response) override {
    Record(context);
    absl::MutexLock lock(&mu);
    check_change.push_back(*request);
    response->set_allowed(false);
    response->set_refusal(v1::CHANGE_REFUSAL_CATALOG_FROZEN);
    response->set_reason("catalog frozen: existing products cannot change");
    *response->mutable_freeze() = freeze;
    return grpc::Status::OK;
  }

  grpc::Status ProposeMappings(grpc::ServerContext* context,
                               const v1::ProposeMappingsRequest* request,
                               v1::ProposeMappingsResponse* response) override {
    Record(context);
    absl::MutexLock lock(&mu);
    propose.push_back(*request);
    *response = proposals;
    return grpc::Status::OK;
  }

  grpc::Status SetMapping(grpc::ServerContext* context,
                          const v1::SetMappingRequest* request,
                          v1::SetMappingResponse* response) override {
    Record(context);
    absl::MutexLock lock(&mu);
    set_mapping.push_back(*request);
    v1::Mapping* mapping = response->mutable_mapping();
    mapping->set_source_product_id(request->source_product_id());
    mapping->set_target_product_id(request->target_product_id());
    mapping->set_origin(request->origin());
    mapping->set_overuse_policy(v1::OVERUSE_POLICY_INHERIT);
    mapping->set_version(1);
    mapping->mutable_comparison()->set_clean(true);
    mapping->mutable_comparison()->set_contract_pool_matches(true);
    if (request->source_product_id() == 3) {
      mapping->mutable_comparison()->set_clean(false);
      mapping->mutable_comparison()->set_contract_pool_matches(false);
      response->add_warnings(
          "contract pool differs (gold vs retail): every customer will be "
          "refused");
    }
    return grpc::Status::OK;
  }

  grpc::Status GetSettings(grpc::ServerContext* context,
                           const v1::GetSettingsRequest* /*request*/,
                           v1::GetSettingsResponse* response) override {
    Record(context);
    *response->mutable_settings() = settings;
    return grpc::Status::OK;
  }

  grpc::Status UpdateSettings(grpc::ServerContext* context,
                              const v1::UpdateSettingsRequest* request,
                              v1::UpdateSettingsResponse* response) override {
    Record(context);
    absl::MutexLock lock(&mu);
    update_settings.push_back(*request);
    v1::CatalogSettings* after = response->mutable_settings();
    after->set_allow_overuse_default(request->allow_overuse_default());
    after->set_auto_lift(request->auto_lift());
    after->set_version(settings.version() + 1);
    return grpc::Status::OK;
  }

  grpc::Status PlanCustomer(grpc::ServerContext* context,
                            const v1::PlanCustomerRequest* request,
                            v1::PlanCustomerResponse* response) override {
    Record(context);
    absl::MutexLock lock(&mu);
    plan_customer.push_back(*request);
    if (request->customer_id() == 404) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "customer 404 is not on the source");
    }
    *response->mutable_plan() = plan;
    response->mutable_plan()->set_customer_id(request->customer_id());
    return grpc::Status::OK;
  }

  grpc::Status PlanCustomers(grpc::ServerContext* context,
                             const v1::PlanCustomersRequest* request,
                             v1::PlanCustomersResponse* response) override {
    Record(context);
    absl::MutexLock lock(&mu);
    plan_customers.push_back(*request);
    *response = plans;
    return grpc::Status::OK;
  }

  int calls() {
    absl::MutexLock lock(&mu);
    return calls_;
  }

  std::string authorization() {
    absl::MutexLock lock(&mu);
    return authorization_;
  }

  // What the fake answers; set before running the CLI.
  v1::Freeze freeze;
  std::vector<v1::WatchFreezeResponse> watch_events;
  v1::ProposeMappingsResponse proposals;
  v1::CatalogSettings settings;
  v1::CustomerPlan plan;
  v1::PlanCustomersResponse plans;

  // What the CLI sent; read after it is done.
  absl::Mutex mu;
  std::vector<v1::SetFreezeRequest> set_freeze;
  std::vector<v1::CheckChangeRequest> check_change;
  std::vector<v1::ProposeMappingsRequest> propose;
  std::vector<v1::SetMappingRequest> set_mapping;
  std::vector<v1::UpdateSettingsRequest> update_settings;
  std::vector<v1::PlanCustomerRequest> plan_customer;
  std::vector<v1::PlanCustomersRequest> plan_customers;

 private:
  void Record(grpc::ServerContext* context) {
    absl::MutexLock lock(&mu);
    ++calls_;
    auto it = context->client_metadata().find("authorization");
    authorization_ = it == context->client_metadata().end()
                         ? ""
                         : std::string(it->second.data(), it->second.size());
  }

  int calls_ = 0;
  std::string authorization_;
};

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

// The line of a table that starts with `first_cell`, or "" when none does.
std::string RowStartingWith(const std::string& table,
                            const std::string& first_cell) {
  for (const std::string& line : Lines(table)) {
    if (line.rfind(first_cell + " ", 0) == 0) {
      return line;
    }
  }
  return "";
}

template <typename Message>
Message FromJson(const std::string& json) {
  Message message;
  auto status = google::protobuf::util::JsonStringToMessage(json, &message);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  return message;
}

class CatalogCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_.freeze.set_state(v1::FREEZE_STATE_FROZEN);
    fake_.freeze.set_version(3);
    fake_.freeze.set_customers_on_source(12);
    fake_.freeze.set_auto_lift(true);
    fake_.freeze.mutable_stamp()->set_actor("alice");
    fake_.freeze.mutable_stamp()->set_reason("dual provisioning");

    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }

  void TearDown() override { server_->Shutdown(); }

  std::string Address() const { return absl::StrCat("127.0.0.1:", port_); }

  // tandemctl against the fake catalog, with a token from the environment.
  Result Tandemctl(const std::vector<std::string>& args) {
    std::vector<std::string> full = {"--catalog", Address()};
    full.insert(full.end(), args.begin(), args.end());
    return RunWithEnv(full, {{"TANDEM_TOKEN", kToken}});
  }

  Result RunWithEnv(const std::vector<std::string>& args,
                    const std::map<std::string, std::string>& env) {
    std::ostringstream out;
    std::ostringstream err;
    Result result;
    result.exit_code = RunTandemctl(commands_, args, env, out, err);
    result.out = out.str();
    result.err = err.str();
    return result;
  }

  CommandSet commands_ = AllCommands();
  FakeCatalog fake_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(CatalogCommandsTest, FreezeSetSendsStateReasonVersionAndRequestId) {
  Result r = Tandemctl({"catalog", "freeze", "set", "frozen-target-open",
                        "--reason=switchover done", "--expected_version=3",
                        "--request_id", "req-7"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(fake_.set_freeze.size(), 1u);
  const v1::SetFreezeRequest& request = fake_.set_freeze[0];
  EXPECT_EQ(request.state(), v1::FREEZE_STATE_FROZEN_TARGET_OPEN);
  EXPECT_EQ(request.reason(), "switchover done");
  EXPECT_EQ(request.expected_version(), 3);
  EXPECT_EQ(request.request_id(), "req-7");
  EXPECT_FALSE(request.force());
  EXPECT_EQ(fake_.authorization(), absl::StrCat("Bearer ", kToken));

  // Readable names: lower case, no prefix, as the command accepts them.
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_THAT(lines[0], HasSubstr("STATE"));
  EXPECT_THAT(lines[0], HasSubstr("CUSTOMERS_ON_SOURCE"));
  EXPECT_THAT(lines[1], HasSubstr("frozen-target-open"));
  EXPECT_THAT(r.out, Not(HasSubstr("FREEZE_STATE_")));
  EXPECT_THAT(r.err, HasSubstr("freeze: frozen -> frozen-target-open "
                               "(version 4)"));
}

TEST_F(CatalogCommandsTest, FreezeSetWithoutRequestIdSendsAFreshUuid) {
  ASSERT_EQ(
      Tandemctl({"catalog", "freeze", "set", "LIFTED", "--reason=x", "--force"})
          .exit_code,
      0);
  ASSERT_EQ(
      Tandemctl({"catalog", "freeze", "set", "lifted", "--reason=x", "--force"})
          .exit_code,
      0);
  ASSERT_EQ(fake_.set_freeze.size(), 2u);
  EXPECT_EQ(fake_.set_freeze[0].state(), v1::FREEZE_STATE_LIFTED);
  EXPECT_TRUE(fake_.set_freeze[0].force());
  EXPECT_EQ(fake_.set_freeze[0].request_id().size(), 36u);
  EXPECT_NE(fake_.set_freeze[0].request_id(), fake_.set_freeze[1].request_id());
}

TEST_F(CatalogCommandsTest, FreezeSetDryRunPrintsRequestAndSendsNothing) {
  Result r = Tandemctl({"-o", "json", "catalog", "freeze", "set", "frozen",
                        "--reason", "go", "--request_id", "r1", "--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto request = FromJson<v1::SetFreezeRequest>(r.out);
  EXPECT_EQ(request.state(), v1::FREEZE_STATE_FROZEN);
  EXPECT_EQ(request.request_id(), "r1");
  EXPECT_THAT(r.err, HasSubstr("nothing was sent"));
  EXPECT_EQ(fake_.calls(), 0);
}

TEST_F(CatalogCommandsTest, UsageErrorsExitTwoAndSendNothing) {
  const std::vector<std::vector<std::string>> invocations = {
      {"catalog", "freeze", "set", "thawed", "--reason=x"},  // bad state
      {"catalog", "freeze", "set", "frozen"},                // no --reason
      {"catalog", "freeze", "set", "frozen", "--reason=x", "--force"},
      {"catalog", "check", "source", "rename", "1"},    // bad kind
      {"catalog", "check", "source", "update-price"},   // no product id
      {"catalog", "check", "target", "create", "5"},    // id with create
      {"catalog", "check", "sideways", "delete", "5"},  // bad system
      {"catalog", "products", "get", "source", "0"},    // id not positive
      {"catalog", "mappings", "set", "1", "x"},         // bad target id
      {"catalog", "mappings", "set", "1", "2", "--overuse=sometimes"},
      {"catalog", "mappings", "delete", "1"},  // no version
      {"catalog", "mappings", "propose", "--match_by=vibes"},
      {"catalog", "audit", "--kind=coffee"},
      {"catalog", "audit", "--product_id=4"},  // needs --system
      {"catalog", "settings", "set"},          // nothing to set
      {"catalog", "settings", "set", "--auto_lift=maybe"},
      {"catalog", "plan"},  // no customer
      {"catalog", "plan", "1", "abc"},
      {"catalog", "freeze"},  // no verb
  };
  for (const auto& args : invocations) {
    Result r = Tandemctl(args);
    EXPECT_EQ(r.exit_code, 2) << absl::StrJoin(args, " ") << "\n" << r.err;
    EXPECT_THAT(r.err, HasSubstr("--help' for usage"))
        << absl::StrJoin(args, " ");
    EXPECT_EQ(r.out, "") << absl::StrJoin(args, " ");
  }
  Result bad_state =
      Tandemctl({"catalog", "freeze", "set", "thawed", "--reason=x"});
  EXPECT_THAT(bad_state.err,
              HasSubstr("unknown freeze state `thawed`; want one of: open, "
                        "frozen, frozen-target-open, lifted"));
  EXPECT_EQ(fake_.calls(), 0);
}

TEST_F(CatalogCommandsTest, FreezeGetPrintsJsonWithEveryField) {
  Result r = Tandemctl({"-o", "json", "catalog", "freeze", "get"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto response = FromJson<v1::GetFreezeResponse>(r.out);
  EXPECT_EQ(response.freeze().state(), v1::FREEZE_STATE_FROZEN);
  EXPECT_EQ(response.freeze().customers_on_source(), 12);
}

TEST_F(CatalogCommandsTest, FreezeWatchPrintsEachEventAsAJsonLine) {
  v1::WatchFreezeResponse first;
  *first.mutable_freeze() = fake_.freeze;
  v1::WatchFreezeResponse second = first;
  second.mutable_freeze()->set_state(v1::FREEZE_STATE_FROZEN_TARGET_OPEN);
  second.mutable_transition()->set_from_state(v1::FREEZE_STATE_FROZEN);
  second.mutable_transition()->set_to_state(
      v1::FREEZE_STATE_FROZEN_TARGET_OPEN);
  second.mutable_transition()->set_version(4);
  fake_.watch_events = {first, second, second};

  Result r =
      Tandemctl({"-o", "json", "catalog", "freeze", "watch", "--count", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_FALSE(FromJson<v1::WatchFreezeResponse>(lines[0]).has_transition());
  EXPECT_EQ(FromJson<v1::WatchFreezeResponse>(lines[1]).transition().to_state(),
            v1::FREEZE_STATE_FROZEN_TARGET_OPEN);
}

TEST_F(CatalogCommandsTest, FreezeWatchTableEndsWithUnavailableWhenStreamEnds) {
  v1::WatchFreezeResponse first;
  *first.mutable_freeze() = fake_.freeze;
  v1::WatchFreezeResponse lifted = first;
  lifted.mutable_freeze()->set_state(v1::FREEZE_STATE_LIFTED);
  lifted.mutable_transition()->set_from_state(
      v1::FREEZE_STATE_FROZEN_TARGET_OPEN);
  lifted.mutable_transition()->set_to_state(v1::FREEZE_STATE_LIFTED);
  lifted.mutable_transition()->set_automatic(true);
  fake_.watch_events = {first, lifted};

  Result r = Tandemctl({"catalog", "freeze", "watch"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("tandemctl: UNAVAILABLE: the catalog ended "
                               "the stream"));
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_THAT(lines[0], HasSubstr("EVENT"));
  EXPECT_THAT(lines[1], HasSubstr("current: frozen"));
  EXPECT_THAT(lines[2], HasSubstr("frozen-target-open -> lifted (automatic)"));
}

TEST_F(CatalogCommandsTest, CheckSendsTheChangeAndDryRunAsTheRequestsOwn) {
  Result r =
      Tandemctl({"catalog", "check", "target", "update-price", "17",
                 "--on_behalf_of=bob", "--detail", "POST /x", "--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << r.err;  // A refusal is an answer.
  ASSERT_EQ(fake_.check_change.size(), 1u);
  const v1::CheckChangeRequest& request = fake_.check_change[0];
  EXPECT_EQ(request.system(), SYSTEM_TARGET);
  EXPECT_EQ(request.kind(), v1::CHANGE_KIND_UPDATE_PRICE);
  EXPECT_EQ(request.product_id(), 17);
  EXPECT_EQ(request.on_behalf_of(), "bob");
  EXPECT_EQ(request.detail(), "POST /x");
  EXPECT_TRUE(request.dry_run());
  std::vector<std::string> row =
      absl::StrSplit(Lines(r.out).at(1), ' ', absl::SkipEmpty());
  EXPECT_EQ(row.at(0), "no");
  EXPECT_EQ(row.at(1), "catalog-frozen");
  EXPECT_EQ(row.at(2), "frozen");

  ASSERT_EQ(Tandemctl({"catalog", "check", "source", "create"}).exit_code, 0);
  EXPECT_EQ(fake_.check_change[1].product_id(), 0);
  EXPECT_EQ(fake_.check_change[1].system(), SYSTEM_SOURCE);
  EXPECT_FALSE(fake_.check_change[1].dry_run());
}

TEST_F(CatalogCommandsTest, ProposeWithoutAcceptChangesNothing) {
  v1::MappingProposal* proposal = fake_.proposals.add_proposals();
  proposal->set_source_product_id(1);
  proposal->set_target_product_id(11);
  proposal->set_matched_by(v1::MATCH_BY_CODE);
  Result r = Tandemctl(
      {"catalog", "mappings", "propose", "--match_by=code-then-name"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(fake_.propose.size(), 1u);
  EXPECT_EQ(fake_.propose[0].match_by(), v1::MATCH_BY_CODE_THEN_NAME);
  EXPECT_THAT(fake_.set_mapping, IsEmpty());
  EXPECT_THAT(RowStartingWith(r.out, "1"), HasSubstr("code"));
}

TEST_F(CatalogCommandsTest,
       ProposeAcceptSetsAProposedMappingPerUnmappedSource) {
  for (auto [source, target, current] :
       {std::tuple{1, 11, 0}, std::tuple{2, 12, 99}, std::tuple{3, 13, 0}}) {
    v1::MappingProposal* proposal = fake_.proposals.add_proposals();
    proposal->set_source_product_id(source);
    proposal->set_target_product_id(target);
    proposal->set_current_target_product_id(current);
    proposal->set_matched_by(v1::MATCH_BY_NAME);
  }
  fake_.proposals.add_unmatched_source_product_ids(4);

  Result r = Tandemctl({"catalog", "mappings", "propose", "--match_by=name",
                        "--accept", "--reason=bulk", "--request_id=batch"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(fake_.propose.size(), 1u);
  EXPECT_EQ(fake_.propose[0].match_by(), v1::MATCH_BY_NAME);
  // Source 2 is mapped already: its proposal is not accepted.
  ASSERT_EQ(fake_.set_mapping.size(), 2u);
  std::vector<int64_t> sources;
  for (const v1::SetMappingRequest& request : fake_.set_mapping) {
    sources.push_back(request.source_product_id());
    EXPECT_EQ(request.target_product_id(), request.source_product_id() + 10);
    EXPECT_EQ(request.origin(), v1::MAPPING_ORIGIN_PROPOSED);
    EXPECT_EQ(request.expected_version(), 0);
    EXPECT_EQ(request.reason(), "bulk");
    EXPECT_EQ(request.request_id(),
              absl::StrCat("batch-", request.source_product_id()));
  }
  EXPECT_THAT(sources, ElementsAre(1, 3));
  // Each result is printed, and the warnings of each.
  EXPECT_THAT(RowStartingWith(r.out, "SOURCE"), HasSubstr("MATCHED_BY"));
  EXPECT_THAT(r.out, HasSubstr("proposed"));
  EXPECT_THAT(r.err, HasSubstr("warning: mapping 3 -> 13: contract pool "
                               "differs"));
  EXPECT_THAT(r.err, HasSubstr("no match for source products 4"));
  EXPECT_THAT(r.err, HasSubstr("accepted 2 proposals"));
}

TEST_F(CatalogCommandsTest, ProposeAcceptDryRunSendsNoSetMapping) {
  v1::MappingProposal* proposal = fake_.proposals.add_proposals();
  proposal->set_source_product_id(1);
  proposal->set_target_product_id(11);
  Result r = Tandemctl({"-o", "json", "catalog", "mappings", "propose",
                        "--accept", "--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(fake_.set_mapping, IsEmpty());
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;  // The proposals, then the request.
  auto request = FromJson<v1::SetMappingRequest>(lines[1]);
  EXPECT_EQ(request.source_product_id(), 1);
  EXPECT_EQ(request.origin(), v1::MAPPING_ORIGIN_PROPOSED);
}

TEST_F(CatalogCommandsTest, SettingsSetReadsCurrentForVersionAndOtherValues) {
  fake_.settings.set_allow_overuse_default(true);
  fake_.settings.set_auto_lift(true);
  fake_.settings.set_version(4);
  Result r = Tandemctl({"catalog", "settings", "set", "--auto_lift=false",
                        "--reason", "manual lift only"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(fake_.update_settings.size(), 1u);
  const v1::UpdateSettingsRequest& request = fake_.update_settings[0];
  EXPECT_TRUE(request.allow_overuse_default());  // Unchanged.
  EXPECT_FALSE(request.auto_lift());
  EXPECT_EQ(request.expected_version(), 4);
  EXPECT_EQ(request.reason(), "manual lift only");
  EXPECT_EQ(request.request_id().size(), 36u);
}

TEST_F(CatalogCommandsTest, PlanOfSeveralCallsPlanCustomersWithDirection) {
  v1::CustomerPlanResult* ok = fake_.plans.add_results();
  ok->set_customer_id(1);
  ok->mutable_plan()->set_customer_id(1);
  ok->mutable_plan()->set_can_move(true);
  v1::CustomerPlanResult* refused = fake_.plans.add_results();
  refused->set_customer_id(2);
  refused->mutable_plan()->set_customer_id(2);
  refused->mutable_plan()->add_reasons(
      "subscription 17 (GOLD): resource overusage: voice_minutes (usage "
      "1200, limit 1000)");
  refused->mutable_plan()->add_reasons(
      "subscription 18 (GOLD): contract pool differs");
  v1::CustomerPlanResult* failed = fake_.plans.add_results();
  failed->set_customer_id(3);
  failed->set_error_code("NOT_FOUND");
  failed->set_error_message("customer 3 is not on the target");
  fake_.plans.set_customers_can_move(1);
  fake_.plans.set_customers_refused(1);
  fake_.plans.set_customers_failed(1);

  Result r =
      Tandemctl({"catalog", "plan", "1", "2", "3", "--rollback", "--summary"});
  EXPECT_EQ(r.exit_code, 0) << r.err;  // Refusals are a report.
  EXPECT_THAT(fake_.plan_customer, IsEmpty());
  ASSERT_EQ(fake_.plan_customers.size(), 1u);
  const v1::PlanCustomersRequest& request = fake_.plan_customers[0];
  EXPECT_THAT(request.customer_ids(), ElementsAre(1, 2, 3));
  EXPECT_EQ(request.direction(), DIRECTION_ROLLBACK);
  EXPECT_TRUE(request.summary_only());

  EXPECT_THAT(RowStartingWith(r.out, "CUSTOMER"), HasSubstr("CAN_MOVE"));
  EXPECT_THAT(RowStartingWith(r.out, "1"), HasSubstr(" yes "));
  std::string two = RowStartingWith(r.out, "2");
  EXPECT_THAT(two, HasSubstr(" no "));
  EXPECT_THAT(two, HasSubstr("limit 1000); subscription 18 (GOLD): contract "
                             "pool differs"));
  std::string three = RowStartingWith(r.out, "3");
  EXPECT_THAT(three, HasSubstr("error"));
  EXPECT_THAT(three, HasSubstr("NOT_FOUND: customer 3 is not on the target"));
  EXPECT_THAT(r.err, HasSubstr("1 can be rolled back, 1 refused, 1 could not "
                               "be planned"));
}

TEST_F(CatalogCommandsTest, PlanOfOneCustomerPrintsOneLinePerSubscription) {
  fake_.plan.set_can_move(false);
  fake_.plan.set_freeze_state(v1::FREEZE_STATE_FROZEN);
  fake_.plan.add_reasons("subscription 17 (GOLD): resource overusage");
  fake_.plan.add_warnings("subscription 18 (SILVER): add-ons not carried");
  v1::SubscriptionPlan* gold = fake_.plan.add_subscriptions();
  gold->set_subscription_id(17);
  gold->set_account_id("4915550100");
  gold->mutable_source_product()->set_code("GOLD");
  gold->mutable_target_product()->set_code("GOLD-2");
  gold->add_outcomes(v1::PLAN_OUTCOME_REFUSED_OVERUSE);
  gold->add_outcomes(v1::PLAN_OUTCOME_ACTIVATION_PARAMETERS_REWRITTEN);
  v1::SubscriptionPlan* silver = fake_.plan.add_subscriptions();
  silver->set_subscription_id(18);
  silver->set_account_id("4915550101");
  silver->set_can_move(true);
  silver->mutable_source_product()->set_code("SILVER");
  silver->add_outcomes(v1::PLAN_OUTCOME_REFUSED_NO_MAPPING);

  Result r = Tandemctl({"catalog", "plan", "7"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(fake_.plan_customer.size(), 1u);
  EXPECT_EQ(fake_.plan_customer[0].customer_id(), 7);
  EXPECT_EQ(fake_.plan_customer[0].direction(), DIRECTION_MOVE);
  EXPECT_THAT(fake_.plan_customers, IsEmpty());

  std::string customer = RowStartingWith(r.out, "7");
  EXPECT_THAT(customer, HasSubstr(" no "));
  EXPECT_THAT(customer, HasSubstr("resource overusage"));
  EXPECT_THAT(customer, HasSubstr("add-ons not carried"));
  EXPECT_THAT(RowStartingWith(r.out, "SUBSCRIPTION"), HasSubstr("OUTCOMES"));
  std::string first = RowStartingWith(r.out, "17");
  EXPECT_THAT(first, HasSubstr("4915550100"));
  EXPECT_THAT(first, HasSubstr("GOLD -> GOLD-2"));
  EXPECT_THAT(first,
              HasSubstr("refused-overuse,activation-parameters-rewritten"));
  EXPECT_THAT(RowStartingWith(r.out, "18"), HasSubstr("SILVER -> -"));
  EXPECT_THAT(r.out, Not(HasSubstr("PLAN_OUTCOME_")));
  EXPECT_THAT(r.err, HasSubstr("customer 7 cannot move"));

  // --summary leaves the subscriptions out.
  Result summary = Tandemctl({"catalog", "plan", "7", "--summary"});
  ASSERT_EQ(summary.exit_code, 0) << summary.err;
  EXPECT_EQ(Lines(summary.out).size(), 2u) << summary.out;
}

TEST_F(CatalogCommandsTest, PlanOfUnknownCustomerExitsOneWithNotFound) {
  Result r = Tandemctl({"catalog", "plan", "404"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("tandemctl: NOT_FOUND: customer 404"));
  EXPECT_EQ(r.out, "");
}

TEST_F(CatalogCommandsTest, CatalogAddressComesFromEnvironmentUnlessGiven) {
  Result r =
      RunWithEnv({"-o", "json", "catalog", "freeze", "get"},
                 {{"TANDEM_CATALOG", Address()}, {"TANDEM_TOKEN", kToken}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(fake_.calls(), 1);

  Invocation invocation;
  ASSERT_TRUE(
      ParseInvocation(commands_, {"catalog", "freeze", "get"}, {}, &invocation)
          .ok());
  EXPECT_EQ(invocation.globals.catalog, "127.0.0.1:7003");
  invocation = Invocation();
  ASSERT_TRUE(ParseInvocation(commands_,
                              {"catalog", "freeze", "get", "--catalog", "c:1"},
                              {{"TANDEM_CATALOG", "env:1"}}, &invocation)
                  .ok());
  EXPECT_EQ(invocation.globals.catalog, "c:1");
}

TEST_F(CatalogCommandsTest, UnimplementedMethodExitsOneWithItsCode) {
  Result r = Tandemctl({"catalog", "products", "list"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("tandemctl: UNIMPLEMENTED:"));
}

TEST_F(CatalogCommandsTest, HelpListsEveryCatalogCommand) {
  Result r = Tandemctl({"catalog", "--help"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* command :
       {"freeze get", "freeze set", "freeze watch", "check", "audit",
        "products list", "products get", "products refresh", "mappings list",
        "mappings propose", "mappings set", "mappings delete", "generate",
        "settings get", "settings set", "plan"}) {
    EXPECT_THAT(r.out, HasSubstr(absl::StrCat("catalog ", command))) << command;
  }
  EXPECT_THAT(r.out, HasSubstr("--catalog=ADDRESS"));
}

}  // namespace
}  // namespace tandem::cli
