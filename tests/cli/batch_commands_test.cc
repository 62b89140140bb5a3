// tandemctl's batch commands, run in-process (RunTandemctl, as main.cc
// does) against a fake MigratorService on a real gRPC server bound to port
// 0. The fake records every request, so each test checks what the CLI sent
// as well as what it printed; the migrator's own behaviour is tested in
// tests/migrator against real servers.
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
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "cli/app.h"
#include "tandem/migrator/v1/migrator.grpc.pb.h"

namespace tandem::cli {
namespace {

namespace v1 = ::tandem::migrator::v1;
using ::tandem::common::v1::DIRECTION_ROLLBACK;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// A MigratorService answering batch calls from `batch` and recording what
// it was sent.
class FakeMigrator final : public v1::MigratorService::Service {
 public:
  grpc::Status CreateBatch(grpc::ServerContext*,
                           const v1::CreateBatchRequest* request,
                           v1::CreateBatchResponse* response) override {
    absl::MutexLock lock(&mu);
    created.push_back(*request);
    v1::Batch* b = response->mutable_batch();
    *b = batch;
    b->set_name(request->name());
    b->set_mode(request->mode());
    b->set_direction(request->direction());
    return grpc::Status::OK;
  }
  grpc::Status GetBatch(grpc::ServerContext*,
                        const v1::GetBatchRequest* request,
                        v1::GetBatchResponse* response) override {
    Count();
    if (request->batch_id() != batch.batch_id()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("no batch ", request->batch_id()));
    }
    *response->mutable_batch() = batch;
    return grpc::Status::OK;
  }
  grpc::Status ListBatches(grpc::ServerContext*, const v1::ListBatchesRequest*,
                           v1::ListBatchesResponse* response) override {
    Count();
    *response->add_batches() = batch;
    return grpc::Status::OK;
  }
  grpc::Status PauseBatch(grpc::ServerContext*,
                          const v1::PauseBatchRequest* request,
                          v1::PauseBatchResponse* response) override {
    return Action("pause", *request, response);
  }
  grpc::Status ResumeBatch(grpc::ServerContext*,
                           const v1::ResumeBatchRequest* request,
                           v1::ResumeBatchResponse* response) override {
    return Action("resume", *request, response);
  }
  grpc::Status CancelBatch(grpc::ServerContext*,
                           const v1::CancelBatchRequest* request,
                           v1::CancelBatchResponse* response) override {
    return Action("cancel", *request, response);
  }
  grpc::Status StartBatch(grpc::ServerContext*,
                          const v1::StartBatchRequest* request,
                          v1::StartBatchResponse* response) override {
    return Action("start", *request, response);
  }
  grpc::Status ListBatchItems(grpc::ServerContext*,
                              const v1::ListBatchItemsRequest* request,
                              v1::ListBatchItemsResponse* response) override {
    absl::MutexLock lock(&mu);
    items_requests.push_back(*request);
    for (const v1::BatchItem& i : items) *response->add_items() = i;
    return grpc::Status::OK;
  }
  grpc::Status WatchBatch(
      grpc::ServerContext*, const v1::WatchBatchRequest*,
      grpc::ServerWriter<v1::WatchBatchResponse>* writer) override {
    Count();
    for (const v1::WatchBatchResponse& w : watch) writer->Write(w);
    return grpc::Status::OK;
  }
  grpc::Status GetBatchReport(grpc::ServerContext*,
                              const v1::GetBatchReportRequest*,
                              v1::GetBatchReportResponse* response) override {
    Count();
    *response->mutable_report() = report;
    return grpc::Status::OK;
  }

  int calls() {
    absl::MutexLock lock(&mu);
    return calls_ + static_cast<int>(created.size() + actions.size() +
                                     items_requests.size());
  }

  v1::Batch batch;
  std::vector<v1::BatchItem> items;
  std::vector<v1::WatchBatchResponse> watch;
  v1::BatchReport report;

  absl::Mutex mu;
  std::vector<v1::CreateBatchRequest> created;
  // "pause 7 <reason> <expected_version>", ...
  std::vector<std::string> actions;
  std::vector<v1::ListBatchItemsRequest> items_requests;

 private:
  void Count() {
    absl::MutexLock lock(&mu);
    ++calls_;
  }
  template <typename Request, typename Response>
  grpc::Status Action(const std::string& verb, const Request& request,
                      Response* response) {
    absl::MutexLock lock(&mu);
    actions.push_back(absl::StrCat(verb, " ", request.batch_id(), " ",
                                   request.reason(), " ",
                                   request.expected_version()));
    *response->mutable_batch() = batch;
    return grpc::Status::OK;
  }
  int calls_ = 0;
};

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

class BatchCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_.batch.set_batch_id(7);
    fake_.batch.set_name("night-1");
    fake_.batch.set_mode(v1::BATCH_MODE_LIVE);
    fake_.batch.set_state(v1::BATCH_STATE_RUNNING);
    v1::BatchProgress* p = fake_.batch.mutable_progress();
    p->set_items_total(40);
    p->set_items_pending(30);
    p->set_items_done(8);
    p->set_items_failed(2);
    p->set_rows_copied(12345);
    p->mutable_throttle()->set_throttled(true);
    p->mutable_throttle()->set_reason("source Threads_running 31 > 20");
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override { server_->Shutdown(); }

  Result Tandemctl(const std::vector<std::string>& args,
                   bool interactive = false) {
    std::vector<std::string> full = {"--migrator",
                                     absl::StrCat("127.0.0.1:", port_)};
    full.insert(full.end(), args.begin(), args.end());
    std::ostringstream out, err;
    Result r;
    r.exit_code = RunTandemctl(commands_, full, {{"TANDEM_TOKEN", "t"}}, out,
                               err, interactive);
    r.out = out.str();
    r.err = err.str();
    return r;
  }

  CommandSet commands_ = AllCommands();
  FakeMigrator fake_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(BatchCommandsTest, CreateSendsTheSelectorAndOptions) {
  Result r =
      Tandemctl({"batch", "create", "night-1", "--mode=live", "--products=3,4",
                 "--payment_systems=SEPA Direct Debit", "--max_accounts=6",
                 "--limit=50", "--parallelism=8", "--rows_per_second=2000",
                 "--max_threads_running=20", "--critical_threads_running=40",
                 "--window=22:00-04:30", "--hold_before_cutover", "--start",
                 "--request_id=r-1", "--description=first night"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(fake_.created.size(), 1u);
  const v1::CreateBatchRequest& c = fake_.created[0];
  EXPECT_EQ(c.name(), "night-1");
  EXPECT_EQ(c.description(), "first night");
  EXPECT_EQ(c.mode(), v1::BATCH_MODE_LIVE);
  EXPECT_TRUE(c.start());
  EXPECT_EQ(c.request_id(), "r-1");
  EXPECT_THAT(c.selector().product_ids(), ElementsAre(3, 4));
  EXPECT_THAT(c.selector().payment_systems(), ElementsAre("SEPA Direct Debit"));
  EXPECT_EQ(c.selector().max_accounts(), 6);
  EXPECT_EQ(c.selector().limit(), 50);
  EXPECT_EQ(c.options().parallelism(), 8);
  EXPECT_EQ(c.options().write_budget().rows_per_second(), 2000);
  EXPECT_EQ(c.options().load_throttle().max_threads_running(), 20);
  EXPECT_EQ(c.options().load_throttle().critical_threads_running(), 40);
  EXPECT_EQ(c.options().window().start_minute(), 22 * 60);
  EXPECT_EQ(c.options().window().end_minute(), 4 * 60 + 30);
  EXPECT_TRUE(c.options().hold_before_cutover());
  // Readable names in the table, the throttle's reason.
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_THAT(lines[1], HasSubstr("night-1"));
  EXPECT_THAT(lines[1], HasSubstr("running"));
  EXPECT_THAT(lines[1], HasSubstr("source Threads_running 31 > 20"));
  EXPECT_THAT(r.out, Not(HasSubstr("BATCH_STATE_")));
  EXPECT_THAT(r.err, HasSubstr("created batch 7 (live"));
}

TEST_F(BatchCommandsTest, ADryRunIsARehearsalStartedAtOnce) {
  ASSERT_EQ(
      Tandemctl({"batch", "dry-run", "rehearsal", "--customers=5,6"}).exit_code,
      0);
  ASSERT_EQ(
      Tandemctl({"batch", "dry-run", "later", "--all", "--no_start"}).exit_code,
      0);
  ASSERT_EQ(fake_.created.size(), 2u);
  EXPECT_EQ(fake_.created[0].mode(), v1::BATCH_MODE_DRY_RUN);
  EXPECT_TRUE(fake_.created[0].start());
  EXPECT_THAT(fake_.created[0].selector().customer_ids(), ElementsAre(5, 6));
  EXPECT_EQ(fake_.created[0].request_id().size(), 36u);
  EXPECT_FALSE(fake_.created[1].start());
  EXPECT_TRUE(fake_.created[1].selector().all_customers());
}

TEST_F(BatchCommandsTest, RetryAndRollbackAreNewBatchesOfTheOldOnesItems) {
  ASSERT_EQ(Tandemctl({"batch", "retry", "7", "--parallelism=2"}).exit_code, 0);
  ASSERT_EQ(Tandemctl({"batch", "rollback", "7", "--name=undo"}).exit_code, 0);
  ASSERT_EQ(fake_.created.size(), 2u);
  const v1::CreateBatchRequest& retry = fake_.created[0];
  EXPECT_EQ(retry.name(), "retry of batch 7");
  EXPECT_EQ(retry.selector().from_batch_id(), 7);
  EXPECT_THAT(retry.selector().from_batch_states(),
              ElementsAre(v1::ITEM_STATE_FAILED));
  EXPECT_EQ(retry.options().parallelism(), 2);
  EXPECT_TRUE(retry.start());
  const v1::CreateBatchRequest& back = fake_.created[1];
  EXPECT_EQ(back.name(), "undo");
  EXPECT_EQ(back.direction(), DIRECTION_ROLLBACK);
  EXPECT_THAT(back.selector().from_batch_states(),
              ElementsAre(v1::ITEM_STATE_DONE));
}

TEST_F(BatchCommandsTest, ActionsSendTheIdReasonAndVersion) {
  for (const char* verb : {"start", "pause", "resume", "cancel"}) {
    ASSERT_EQ(
        Tandemctl({"batch", verb, "7", "--reason=ops", "--expected_version=3"})
            .exit_code,
        0)
        << verb;
  }
  EXPECT_THAT(fake_.actions, ElementsAre("start 7 ops 3", "pause 7 ops 3",
                                         "resume 7 ops 3", "cancel 7 ops 3"));
  // --dry-run sends nothing.
  ASSERT_EQ(Tandemctl({"batch", "cancel", "7", "--dry-run"}).exit_code, 0);
  EXPECT_EQ(fake_.actions.size(), 4u);
}

TEST_F(BatchCommandsTest, BadInvocationsExitTwoAndSendNothing) {
  const std::vector<std::vector<std::string>> bad = {
      {"batch", "create", "x", "--mode=fast"},
      {"batch", "create", "x"},
      {"batch", "create", "x", "--mode=live", "--customers=1,a"},
      {"batch", "create", "x", "--mode=live", "--window=25:00-01:00"},
      {"batch", "create", "x", "--mode=live", "--from_states=lost"},
      {"batch", "create", "x", "--mode=live", "--parallelism=-1"},
      {"batch", "pause", "zero"},
      {"batch", "get", "0"},
      {"batch", "release", "7"},
      {"batch", "items", "7", "--states=moving"},
  };
  for (const auto& args : bad) {
    Result r = Tandemctl(args);
    EXPECT_EQ(r.exit_code, 2) << absl::StrJoin(args, " ") << ": " << r.err;
  }
  EXPECT_EQ(fake_.calls(), 0);
}

TEST_F(BatchCommandsTest, AnUnknownBatchExitsOneWithNotFound) {
  Result r = Tandemctl({"batch", "get", "99"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("NOT_FOUND"));
  EXPECT_THAT(r.err, HasSubstr("no batch 99"));
}

TEST_F(BatchCommandsTest, ItemsAndListShowStatesAndFailures) {
  v1::BatchItem done;
  done.set_customer_id(11);
  done.set_state(v1::ITEM_STATE_DONE);
  done.set_rows_copied(300);
  v1::BatchItem failed;
  failed.set_customer_id(12);
  failed.set_state(v1::ITEM_STATE_FAILED);
  failed.mutable_failure()->set_kind(v1::FAILURE_KIND_PLAN_REFUSED);
  failed.mutable_failure()->set_message("FIX-ISDN has no counterpart");
  fake_.items = {done, failed};
  Result r = Tandemctl({"batch", "items", "7", "--states=done,failed"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(fake_.items_requests.size(), 1u);
  EXPECT_THAT(fake_.items_requests[0].states(),
              ElementsAre(v1::ITEM_STATE_DONE, v1::ITEM_STATE_FAILED));
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_THAT(lines[1], HasSubstr("done"));
  EXPECT_THAT(lines[2], HasSubstr("plan-refused: FIX-ISDN has no counterpart"));
  Result list = Tandemctl({"batch", "list", "-o", "json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  v1::ListBatchesResponse parsed;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(list.out, &parsed).ok());
  ASSERT_EQ(parsed.batches_size(), 1);
  EXPECT_EQ(parsed.batches(0).name(), "night-1");
}

TEST_F(BatchCommandsTest, WatchPrintsLinesOffATerminalAndABarOnOne) {
  for (int done : {10, 25, 40}) {
    v1::WatchBatchResponse w;
    *w.mutable_batch() = fake_.batch;
    w.mutable_batch()->mutable_progress()->set_items_done(done);
    w.mutable_batch()->mutable_progress()->set_items_failed(0);
    w.mutable_batch()->mutable_progress()->set_rows_per_second(420);
    if (done == 40) {
      w.mutable_batch()->set_state(v1::BATCH_STATE_COMPLETED);
      w.mutable_batch()->mutable_progress()->mutable_throttle()->Clear();
      w.set_batch_finished(true);
    }
    fake_.watch.push_back(w);
  }
  Result plain = Tandemctl({"batch", "watch", "7"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  const std::vector<std::string> lines = Lines(plain.out);
  ASSERT_EQ(lines.size(), 3u) << plain.out;
  EXPECT_THAT(lines[0], HasSubstr("10/40 done"));
  EXPECT_THAT(lines[0], HasSubstr("420 rows/s"));
  EXPECT_THAT(lines[0], HasSubstr("throttled: source Threads_running 31"));
  EXPECT_THAT(lines[2], HasSubstr("completed: 40/40 done"));
  EXPECT_THAT(plain.out, Not(HasSubstr("\r")));
  EXPECT_THAT(plain.err, HasSubstr("batch 7 completed: 40 done"));

  Result bar = Tandemctl({"batch", "watch", "7"}, /*interactive=*/true);
  ASSERT_EQ(bar.exit_code, 0) << bar.err;
  EXPECT_TRUE(bar.out.empty()) << bar.out;
  EXPECT_THAT(bar.err, HasSubstr("\r[#######"));
  EXPECT_THAT(bar.err, HasSubstr("] 40/40"));
}

TEST_F(BatchCommandsTest, AWatchCutShortExitsOne) {
  v1::WatchBatchResponse w;
  *w.mutable_batch() = fake_.batch;
  fake_.watch = {w};
  Result r = Tandemctl({"batch", "watch", "7"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("before the batch finished"));
}

TEST_F(BatchCommandsTest, ReportIsMarkdownOrJson) {
  *fake_.report.mutable_batch() = fake_.batch;
  fake_.report.set_final(true);
  fake_.report.set_markdown("# Batch 7: night-1\n\n| state | count |\n");
  Result md = Tandemctl({"batch", "report", "7"});
  ASSERT_EQ(md.exit_code, 0) << md.err;
  EXPECT_EQ(md.out, fake_.report.markdown());
  Result json = Tandemctl({"batch", "report", "7", "-o", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  v1::GetBatchReportResponse parsed;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(json.out, &parsed).ok())
      << json.out;
  EXPECT_TRUE(parsed.report().final());
  EXPECT_EQ(parsed.report().batch().batch_id(), 7);
}

}  // namespace
}  // namespace tandem::cli
