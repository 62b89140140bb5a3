#include "cli/batch_commands.h"

#include <grpcpp/client_context.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "cli/command_helpers.h"
#include "cli/migrator_helpers.h"
#include "common/status_macros.h"
#include "tandem/migrator/v1/migrator.grpc.pb.h"

namespace tandem::cli {
namespace {

namespace v1 = ::tandem::migrator::v1;
using Stub = v1::MigratorService::StubInterface;
using ::tandem::common::v1::DIRECTION_ROLLBACK;

using migrator_internal::CallMigrator;

// "BATCH_STATE_RUNNING" -> "running", "ITEM_STATE_PRE_COPY" -> "pre-copy".
std::string Readable(const std::string& enum_name, const char* prefix) {
  std::string s = enum_name.rfind(prefix, 0) == 0
                      ? enum_name.substr(std::string(prefix).size())
                      : enum_name;
  absl::AsciiStrToLower(&s);
  std::replace(s.begin(), s.end(), '_', '-');
  return s;
}

std::string StateName(v1::BatchState s) {
  return Readable(v1::BatchState_Name(s), "BATCH_STATE_");
}
std::string ItemStateName(v1::ItemState s) {
  return Readable(v1::ItemState_Name(s), "ITEM_STATE_");
}
std::string ModeName(v1::BatchMode m) {
  return Readable(v1::BatchMode_Name(m), "BATCH_MODE_");
}

absl::StatusOr<int64_t> IdArg(const CommandContext& ctx, size_t i = 0) {
  int64_t id = 0;
  if (!absl::SimpleAtoi(ctx.args()[i], &id) || id <= 0) {
    return UsageError(absl::StrCat(
        "batch id must be a positive integer, not \"", ctx.args()[i], "\""));
  }
  return id;
}

// A comma-separated list of positive ids given as --`flag`.
absl::StatusOr<std::vector<int64_t>> Ids(const CommandContext& ctx,
                                         const std::string& flag) {
  std::vector<int64_t> out;
  if (!ctx.flags().Has(flag)) return out;
  for (absl::string_view part :
       absl::StrSplit(ctx.flags().Get(flag), ',', absl::SkipWhitespace())) {
    int64_t id = 0;
    if (!absl::SimpleAtoi(part, &id) || id <= 0) {
      return UsageError(absl::StrCat("--", flag, ": \"", part,
                                     "\" is not a positive integer"));
    }
    out.push_back(id);
  }
  if (out.empty()) return UsageError(absl::StrCat("--", flag, " is empty"));
  return out;
}

// Item states by readable name ("done,failed").
absl::StatusOr<std::vector<v1::ItemState>> ItemStates(const CommandContext& ctx,
                                                      const std::string& flag) {
  std::vector<v1::ItemState> out;
  if (!ctx.flags().Has(flag)) return out;
  for (absl::string_view part :
       absl::StrSplit(ctx.flags().Get(flag), ',', absl::SkipWhitespace())) {
    bool found = false;
    for (int i = v1::ItemState_MIN + 1; i <= v1::ItemState_MAX; ++i) {
      if (!v1::ItemState_IsValid(i)) continue;
      const auto s = static_cast<v1::ItemState>(i);
      if (ItemStateName(s) == absl::AsciiStrToLower(part)) {
        out.push_back(s);
        found = true;
      }
    }
    if (!found) {
      return UsageError(
          absl::StrCat("--", flag, ": unknown item state \"", part, "\""));
    }
  }
  return out;
}

absl::StatusOr<int32_t> Int32Flag(const CommandContext& ctx,
                                  const std::string& flag) {
  TANDEM_ASSIGN_OR_RETURN(int64_t v, ctx.flags().GetInt64(flag, 0));
  if (v < 0 || v > INT32_MAX) {
    return UsageError(absl::StrCat("--", flag, " must be 0 to ", INT32_MAX));
  }
  return static_cast<int32_t>(v);
}

// "HH:MM" -> minutes after midnight.
absl::StatusOr<int32_t> Minute(absl::string_view hhmm) {
  std::vector<absl::string_view> p = absl::StrSplit(hhmm, ':');
  int h = 0, m = 0;
  if (p.size() != 2 || !absl::SimpleAtoi(p[0], &h) ||
      !absl::SimpleAtoi(p[1], &m) || h < 0 || h > 23 || m < 0 || m > 59) {
    return UsageError(
        absl::StrCat("--window: \"", hhmm, "\" is not HH:MM (UTC)"));
  }
  return h * 60 + m;
}

// The options flags (shared by create, dry-run, retry and rollback).
absl::StatusOr<v1::BatchOptions> Options(const CommandContext& ctx) {
  v1::BatchOptions o;
  TANDEM_ASSIGN_OR_RETURN(int32_t parallelism, Int32Flag(ctx, "parallelism"));
  o.set_parallelism(parallelism);
  TANDEM_ASSIGN_OR_RETURN(int32_t rows, Int32Flag(ctx, "rows_per_second"));
  o.mutable_write_budget()->set_rows_per_second(rows);
  v1::LoadThrottle* t = o.mutable_load_throttle();
  TANDEM_ASSIGN_OR_RETURN(int32_t tr, Int32Flag(ctx, "max_threads_running"));
  t->set_max_threads_running(tr);
  TANDEM_ASSIGN_OR_RETURN(int32_t lat, Int32Flag(ctx, "max_query_latency_ms"));
  t->set_max_query_latency_ms(lat);
  TANDEM_ASSIGN_OR_RETURN(int32_t ctr,
                          Int32Flag(ctx, "critical_threads_running"));
  t->set_critical_threads_running(ctr);
  TANDEM_ASSIGN_OR_RETURN(int32_t clat,
                          Int32Flag(ctx, "critical_query_latency_ms"));
  t->set_critical_query_latency_ms(clat);
  TANDEM_ASSIGN_OR_RETURN(int32_t pause,
                          Int32Flag(ctx, "pause_after_failures"));
  o.set_pause_after_failures(pause);
  TANDEM_ASSIGN_OR_RETURN(int32_t cutover,
                          Int32Flag(ctx, "cutover_timeout_ms"));
  o.set_cutover_timeout_ms(cutover);
  TANDEM_ASSIGN_OR_RETURN(int32_t tail, Int32Flag(ctx, "tail_window_s"));
  o.set_tail_window_seconds(tail);
  o.set_hold_before_cutover(ctx.flags().GetBool("hold_before_cutover"));
  o.set_allow_rounding(ctx.flags().GetBool("allow_rounding"));
  if (ctx.flags().Has("window")) {
    std::vector<absl::string_view> w =
        absl::StrSplit(ctx.flags().Get("window"), '-');
    if (w.size() != 2) {
      return UsageError("--window must be HH:MM-HH:MM (UTC)");
    }
    TANDEM_ASSIGN_OR_RETURN(int32_t start, Minute(w[0]));
    TANDEM_ASSIGN_OR_RETURN(int32_t end, Minute(w[1]));
    o.mutable_window()->set_start_minute(start);
    o.mutable_window()->set_end_minute(end);
  }
  return o;
}

Table BatchTable(const std::vector<const v1::Batch*>& batches) {
  Table t({"ID", "NAME", "MODE", "STATE", "TOTAL", "PENDING", "ACTIVE", "DONE",
           "FAILED", "SKIPPED", "ROWS", "THROTTLE"});
  for (const v1::Batch* b : batches) {
    const v1::BatchProgress& p = b->progress();
    t.AddRow(
        {absl::StrCat(b->batch_id()), b->name(),
         absl::StrCat(ModeName(b->mode()),
                      b->direction() == DIRECTION_ROLLBACK ? " rollback" : ""),
         StateName(b->state()), absl::StrCat(p.items_total()),
         absl::StrCat(p.items_pending()), absl::StrCat(p.items_in_progress()),
         absl::StrCat(p.items_done()), absl::StrCat(p.items_failed()),
         absl::StrCat(p.items_skipped()), absl::StrCat(p.rows_copied()),
         p.throttle().throttled() ? p.throttle().reason() : "-"});
  }
  return t;
}

// Prints one batch, with its state's reason on stderr.
void PrintBatch(CommandContext& ctx, const google::protobuf::Message& response,
                const v1::Batch& batch) {
  ctx.printer().Print(response, BatchTable({&batch}));
  if (ctx.printer().format() == OutputFormat::kTable &&
      !batch.state_reason().empty()) {
    ctx.err() << "batch " << batch.batch_id() << ": " << batch.state_reason()
              << "\n";
  }
}

// Creates a batch from `request` (the common flags added) and prints it.
absl::Status CreateFrom(CommandContext& ctx, v1::CreateBatchRequest request) {
  request.set_request_id(RequestId(ctx));
  request.set_description(ctx.flags().Get("description"));
  if (ctx.flags().GetBool("dry_run")) {
    SayDryRun(ctx, "tandem.migrator.v1.MigratorService", "CreateBatch");
    return absl::OkStatus();
  }
  v1::CreateBatchResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallMigrator(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.CreateBatch(call, request, &response);
      }));
  PrintBatch(ctx, response, response.batch());
  if (ctx.printer().format() == OutputFormat::kTable) {
    ctx.err() << (request.validate_only() ? "would create" : "created")
              << " batch " << response.batch().batch_id() << " ("
              << ModeName(request.mode()) << ", "
              << response.batch().progress().items_pending()
              << " customers to go, "
              << response.batch().progress().items_skipped() << " skipped)\n";
  }
  return absl::OkStatus();
}

absl::Status CreateWithMode(CommandContext& ctx, v1::BatchMode mode) {
  v1::CreateBatchRequest r;
  r.set_name(ctx.args()[0]);
  r.set_mode(mode);
  if (ctx.flags().GetBool("rollback")) r.set_direction(DIRECTION_ROLLBACK);
  v1::BatchSelector* s = r.mutable_selector();
  TANDEM_ASSIGN_OR_RETURN(std::vector<int64_t> products, Ids(ctx, "products"));
  for (int64_t p : products) s->add_product_ids(p);
  TANDEM_ASSIGN_OR_RETURN(std::vector<int64_t> customers,
                          Ids(ctx, "customers"));
  for (int64_t c : customers) s->add_customer_ids(c);
  if (ctx.flags().Has("payment_systems")) {
    for (absl::string_view p : absl::StrSplit(
             ctx.flags().Get("payment_systems"), ',', absl::SkipWhitespace())) {
      s->add_payment_systems(std::string(p));
    }
  }
  s->set_all_customers(ctx.flags().GetBool("all"));
  TANDEM_ASSIGN_OR_RETURN(int64_t from, ctx.flags().GetInt64("from_batch", 0));
  s->set_from_batch_id(from);
  TANDEM_ASSIGN_OR_RETURN(std::vector<v1::ItemState> states,
                          ItemStates(ctx, "from_states"));
  for (v1::ItemState st : states) s->add_from_batch_states(st);
  TANDEM_ASSIGN_OR_RETURN(int64_t limit, ctx.flags().GetInt64("limit", 0));
  s->set_limit(limit);
  TANDEM_ASSIGN_OR_RETURN(int32_t min, Int32Flag(ctx, "min_accounts"));
  s->set_min_accounts(min);
  TANDEM_ASSIGN_OR_RETURN(int32_t max, Int32Flag(ctx, "max_accounts"));
  s->set_max_accounts(max);
  TANDEM_ASSIGN_OR_RETURN(*r.mutable_options(), Options(ctx));
  r.set_validate_only(ctx.flags().GetBool("validate_only"));
  // A rehearsal starts at once unless asked not to; a live batch only when
  // asked.
  r.set_start(mode == v1::BATCH_MODE_DRY_RUN ? !ctx.flags().GetBool("no_start")
                                             : ctx.flags().GetBool("start"));
  return CreateFrom(ctx, std::move(r));
}

absl::Status BatchCreate(CommandContext& ctx) {
  const std::string mode = absl::AsciiStrToLower(ctx.flags().Get("mode"));
  if (mode == "live") return CreateWithMode(ctx, v1::BATCH_MODE_LIVE);
  if (mode == "dry-run" || mode == "dry_run") {
    return CreateWithMode(ctx, v1::BATCH_MODE_DRY_RUN);
  }
  return UsageError(
      absl::StrCat("--mode must be live or dry-run, not \"", mode, "\""));
}

absl::Status BatchDryRun(CommandContext& ctx) {
  return CreateWithMode(ctx, v1::BATCH_MODE_DRY_RUN);
}

// A new batch of the items of batch <id> in `state`, in `direction`.
absl::Status FromBatch(CommandContext& ctx, v1::ItemState state,
                       bool rollback) {
  TANDEM_ASSIGN_OR_RETURN(int64_t id, IdArg(ctx));
  v1::CreateBatchRequest r;
  r.set_name(ctx.flags().Get(
      "name",
      absl::StrCat(rollback ? "rollback of batch " : "retry of batch ", id)));
  r.set_mode(v1::BATCH_MODE_LIVE);
  if (rollback) r.set_direction(DIRECTION_ROLLBACK);
  r.mutable_selector()->set_from_batch_id(id);
  r.mutable_selector()->add_from_batch_states(state);
  TANDEM_ASSIGN_OR_RETURN(*r.mutable_options(), Options(ctx));
  r.set_start(!ctx.flags().GetBool("no_start"));
  return CreateFrom(ctx, std::move(r));
}

absl::Status BatchRetry(CommandContext& ctx) {
  return FromBatch(ctx, v1::ITEM_STATE_FAILED, false);
}
absl::Status BatchRollback(CommandContext& ctx) {
  return FromBatch(ctx, v1::ITEM_STATE_DONE, true);
}

// start, pause, resume, cancel: the same request shape.
template <typename Request, typename Response, typename Method>
absl::Status Act(CommandContext& ctx, const char* rpc, Method method) {
  TANDEM_ASSIGN_OR_RETURN(int64_t id, IdArg(ctx));
  TANDEM_ASSIGN_OR_RETURN(int64_t version,
                          ctx.flags().GetInt64("expected_version", 0));
  Request request;
  request.set_batch_id(id);
  request.set_expected_version(version);
  request.set_reason(ctx.flags().Get("reason"));
  request.set_request_id(RequestId(ctx));
  if (ctx.flags().GetBool("dry_run")) {
    SayDryRun(ctx, "tandem.migrator.v1.MigratorService", rpc);
    return absl::OkStatus();
  }
  Response response;
  TANDEM_RETURN_IF_ERROR(
      CallMigrator(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return (stub.*method)(call, request, &response);
      }));
  PrintBatch(ctx, response, response.batch());
  return absl::OkStatus();
}

absl::Status BatchStart(CommandContext& ctx) {
  return Act<v1::StartBatchRequest, v1::StartBatchResponse>(ctx, "StartBatch",
                                                            &Stub::StartBatch);
}
absl::Status BatchPause(CommandContext& ctx) {
  return Act<v1::PauseBatchRequest, v1::PauseBatchResponse>(ctx, "PauseBatch",
                                                            &Stub::PauseBatch);
}
absl::Status BatchResume(CommandContext& ctx) {
  return Act<v1::ResumeBatchRequest, v1::ResumeBatchResponse>(
      ctx, "ResumeBatch", &Stub::ResumeBatch);
}
absl::Status BatchCancel(CommandContext& ctx) {
  return Act<v1::CancelBatchRequest, v1::CancelBatchResponse>(
      ctx, "CancelBatch", &Stub::CancelBatch);
}

absl::Status BatchRelease(CommandContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(int64_t id, IdArg(ctx));
  v1::ReleaseBatchItemsRequest request;
  request.set_batch_id(id);
  TANDEM_ASSIGN_OR_RETURN(std::vector<int64_t> customers,
                          Ids(ctx, "customers"));
  for (int64_t c : customers) request.add_customer_ids(c);
  request.set_all_held(ctx.flags().GetBool("all"));
  if (customers.empty() == !request.all_held()) {
    return UsageError("give either --customers or --all");
  }
  request.set_reason(ctx.flags().Get("reason"));
  request.set_request_id(RequestId(ctx));
  v1::ReleaseBatchItemsResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallMigrator(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.ReleaseBatchItems(call, request, &response);
      }));
  PrintBatch(ctx, response, response.batch());
  if (ctx.printer().format() == OutputFormat::kTable) {
    ctx.err() << "released " << response.released() << " customers\n";
  }
  return absl::OkStatus();
}

absl::Status BatchGet(CommandContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(int64_t id, IdArg(ctx));
  v1::GetBatchRequest request;
  request.set_batch_id(id);
  v1::GetBatchResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallMigrator(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.GetBatch(call, request, &response);
      }));
  PrintBatch(ctx, response, response.batch());
  return absl::OkStatus();
}

absl::Status BatchList(CommandContext& ctx) {
  v1::ListBatchesRequest request;
  TANDEM_ASSIGN_OR_RETURN(int32_t size, Int32Flag(ctx, "page_size"));
  request.set_page_size(size);
  request.set_page_token(ctx.flags().Get("page_token"));
  v1::ListBatchesResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallMigrator(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.ListBatches(call, request, &response);
      }));
  std::vector<const v1::Batch*> batches;
  for (const v1::Batch& b : response.batches()) batches.push_back(&b);
  ctx.printer().Print(response, BatchTable(batches));
  if (ctx.printer().format() == OutputFormat::kTable &&
      !response.next_page_token().empty()) {
    ctx.err() << "more: --page_token=" << response.next_page_token() << "\n";
  }
  return absl::OkStatus();
}

absl::Status BatchItems(CommandContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(int64_t id, IdArg(ctx));
  v1::ListBatchItemsRequest request;
  request.set_batch_id(id);
  TANDEM_ASSIGN_OR_RETURN(int32_t size, Int32Flag(ctx, "page_size"));
  request.set_page_size(size);
  request.set_page_token(ctx.flags().Get("page_token"));
  TANDEM_ASSIGN_OR_RETURN(std::vector<v1::ItemState> states,
                          ItemStates(ctx, "states"));
  for (v1::ItemState s : states) request.add_states(s);
  v1::ListBatchItemsResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallMigrator(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.ListBatchItems(call, request, &response);
      }));
  Table t({"CUSTOMER", "STATE", "ROWS", "CUTOVER_MS", "WORKER", "FAILURE"});
  for (const v1::BatchItem& i : response.items()) {
    std::string failure = "-";
    if (i.failure().kind() != v1::FAILURE_KIND_UNSPECIFIED) {
      failure = absl::StrCat(
          Readable(v1::FailureKind_Name(i.failure().kind()), "FAILURE_KIND_"),
          ": ", i.failure().message());
    }
    t.AddRow({absl::StrCat(i.customer_id()),
              ItemStateName(i.state()) + (i.held_at_gate() ? " (held)" : ""),
              absl::StrCat(i.rows_copied()), absl::StrCat(i.cutover_ms()),
              i.worker().empty() ? "-" : i.worker(), failure});
  }
  ctx.printer().Print(response, t);
  if (ctx.printer().format() == OutputFormat::kTable &&
      !response.next_page_token().empty()) {
    ctx.err() << "more: --page_token=" << response.next_page_token() << "\n";
  }
  return absl::OkStatus();
}

// "00:42" or "1:02:03"; "-" when unknown.
std::string Eta(int64_t eta_unix_ms) {
  if (eta_unix_ms <= 0) return "-";
  const int64_t s = std::max<int64_t>(
      0, (eta_unix_ms - absl::ToUnixMillis(absl::Now())) / 1000);
  return s >= 3600
             ? absl::StrFormat("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
             : absl::StrFormat("%02d:%02d", s / 60, s % 60);
}

// One plain line of progress.
std::string ProgressLine(const v1::Batch& b) {
  const v1::BatchProgress& p = b.progress();
  return absl::StrFormat(
      "%s batch %d %s: %d/%d done, %d failed, %d skipped, %d active, %d "
      "rows, %.0f rows/s, eta %s%s",
      FormatUnixMillis(absl::ToUnixMillis(absl::Now())), b.batch_id(),
      StateName(b.state()), p.items_done(), p.items_total(), p.items_failed(),
      p.items_skipped(), p.items_in_progress(), p.rows_copied(),
      p.rows_per_second(), Eta(p.eta_unix_ms()),
      p.throttle().throttled()
          ? absl::StrCat(", throttled: ", p.throttle().reason())
          : "");
}

// The bar drawn over itself on a terminal.
std::string ProgressBar(const v1::Batch& b) {
  const v1::BatchProgress& p = b.progress();
  constexpr int kWidth = 30;
  const int64_t finished = p.items_done() + p.items_failed() +
                           p.items_skipped() + p.items_rolled_back();
  const int filled =
      p.items_total() > 0
          ? static_cast<int>(kWidth * std::min(finished, p.items_total()) /
                             p.items_total())
          : 0;
  return absl::StrFormat(
      "\r[%s%s] %d/%d  failed %d  %.0f rows/s  eta %s  %s%s\x1b[K",
      std::string(filled, '#'), std::string(kWidth - filled, '.'), finished,
      p.items_total(), p.items_failed(), p.rows_per_second(),
      Eta(p.eta_unix_ms()), StateName(b.state()),
      p.throttle().throttled() ? absl::StrCat("  (", p.throttle().reason(), ")")
                               : "");
}

absl::Status BatchWatch(CommandContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(int64_t id, IdArg(ctx));
  TANDEM_ASSIGN_OR_RETURN(int32_t interval, Int32Flag(ctx, "interval_ms"));
  TANDEM_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                          ctx.Channel(ctx.globals().migrator));
  std::unique_ptr<Stub> stub = v1::MigratorService::NewStub(channel);
  TANDEM_ASSIGN_OR_RETURN(std::unique_ptr<grpc::ClientContext> call,
                          ctx.NewCall());
  v1::WatchBatchRequest request;
  request.set_batch_id(id);
  request.set_min_interval_ms(interval);
  std::unique_ptr<grpc::ClientReaderInterface<v1::WatchBatchResponse>> reader =
      stub->WatchBatch(call.get(), request);
  const bool table = ctx.printer().format() == OutputFormat::kTable;
  const bool bar = table && ctx.globals().interactive;
  v1::WatchBatchResponse response;
  v1::Batch last;
  bool finished = false;
  while (reader->Read(&response)) {
    last = response.batch();
    finished = response.batch_finished();
    if (bar) {
      ctx.err() << ProgressBar(last) << std::flush;
    } else {
      ctx.printer().PrintStreamItem(response, ProgressLine(last));
    }
    if (finished) break;
  }
  if (bar) ctx.err() << "\n";
  if (!finished) {
    // The stream ended by itself: the server's status says why.
    TANDEM_RETURN_IF_ERROR(
        ctx.CallError(reader->Finish(), ctx.globals().migrator));
    return absl::UnavailableError("the watch ended before the batch finished");
  }
  call->TryCancel();
  (void)reader->Finish();
  if (table) {
    const v1::BatchProgress& p = last.progress();
    ctx.err() << "batch " << id << " " << StateName(last.state()) << ": "
              << p.items_done() << " done, " << p.items_failed() << " failed, "
              << p.items_skipped() << " skipped; cutover p50 "
              << p.cutover_ms_p50() << " ms, p99 " << p.cutover_ms_p99()
              << " ms\n";
  }
  return absl::OkStatus();
}

absl::Status BatchReport(CommandContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(int64_t id, IdArg(ctx));
  v1::GetBatchReportRequest request;
  request.set_batch_id(id);
  TANDEM_ASSIGN_OR_RETURN(int32_t max, Int32Flag(ctx, "max_customers"));
  request.set_max_customers(max);
  v1::GetBatchReportResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallMigrator(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.GetBatchReport(call, request, &response);
      }));
  if (ctx.printer().format() == OutputFormat::kTable) {
    // The Markdown form is the readable one.
    ctx.out() << response.report().markdown();
    if (!response.report().final()) {
      ctx.err() << "batch " << id << " is not finished: the report says "
                << "where it is\n";
    }
    return absl::OkStatus();
  }
  ctx.printer().Print(response, Table({}));
  return absl::OkStatus();
}

std::vector<FlagSpec> OptionFlags() {
  return {
      {"parallelism", "N", "Customers worked on at once (default 4)."},
      {"rows_per_second", "N",
       "Write budget over every replica, rows per second (0: none)."},
      {"max_threads_running", "N",
       "Back off while the source's Threads_running is above N."},
      {"max_query_latency_ms", "MS",
       "Back off while the source's probe query takes longer."},
      {"critical_threads_running", "N",
       "Pause the batch by itself above this Threads_running."},
      {"critical_query_latency_ms", "MS",
       "Pause the batch by itself above this probe latency."},
      {"pause_after_failures", "N", "Pause the batch after N failures."},
      {"cutover_timeout_ms", "MS", "The longest a customer stays MIGRATING."},
      {"tail_window_s", "S", "How long late writes are carried after a flip."},
      {"window", "HH:MM-HH:MM", "Start customers only within these UTC hours."},
      {"hold_before_cutover", "",
       "Hold every customer before its cutover until `batch release`."},
      {"allow_rounding", "",
       "For a rollback: round what the source cannot "
       "hold exactly instead of refusing."},
  };
}

std::vector<FlagSpec> CreateFlags(bool with_mode) {
  std::vector<FlagSpec> f = {
      {"products", "ID,...",
       "Customers with a subscription to these products."},
      {"payment_systems", "NAME,...", "Customers of these payment systems."},
      {"customers", "ID,...", "Exactly these customers."},
      {"all", "", "Every customer (with --limit only)."},
      {"from_batch", "ID", "Customers that are items of this batch ..."},
      {"from_states", "STATE,...", "... in these states (done, failed, ...)."},
      {"limit", "N", "At most N customers."},
      {"min_accounts", "N", "Customers with at least N accounts."},
      {"max_accounts", "N", "Customers with at most N accounts."},
      {"rollback", "", "Move the customers back to the source."},
      {"validate_only", "",
       "Resolve the selector and show the batch, "
       "storing nothing."},
      {"description", "TEXT", "Free text for people."},
      RequestIdFlag(),
      DryRunFlag(),
  };
  if (with_mode) {
    f.push_back(
        FlagSpec("mode", "live|dry-run", "Live or a rehearsal.").Required());
    f.push_back({"start", "", "Start it at once."});
  } else {
    f.push_back({"no_start", "", "Create it without starting it."});
  }
  for (FlagSpec& o : OptionFlags()) f.push_back(std::move(o));
  return f;
}

std::vector<FlagSpec> ActionFlags() {
  return {ReasonFlag(),
          RequestIdFlag(),
          DryRunFlag(),
          {"expected_version", "N", "The batch version you read (0: any)."}};
}

// batch create, dry-run, retry and rollback: the commands that make a
// batch.
void AddBatchCreateCommands(CommandSet& commands) {
  commands.Add(
      CommandSpec({"batch", "create"}, "Create a batch.")
          .Args("<name>", 1, 1)
          .Description("Resolves the selector once and stores the customers "
                       "(each taken by this batch alone or SKIPPED with the "
                       "reason). A live batch waits for `batch start` unless "
                       "--start.")
          .Flags(CreateFlags(true))
          .Run(BatchCreate));
  commands.Add(
      CommandSpec({"batch", "dry-run"},
                  "Rehearse a batch: plan, copy and verify every customer "
                  "and leave no trace.")
          .Args("<name>", 1, 1)
          .Description("A DRY_RUN batch, started at once unless --no_start; "
                       "`batch report` says what would fail and why.")
          .Flags(CreateFlags(false))
          .Run(BatchDryRun));
  std::vector<FlagSpec> from = OptionFlags();
  from.push_back({"name", "NAME", "The new batch's name."});
  from.push_back({"no_start", "", "Create it without starting it."});
  from.push_back(RequestIdFlag());
  from.push_back(DryRunFlag());
  commands.Add(CommandSpec({"batch", "retry"},
                           "Retry the failed customers of a batch as a new "
                           "batch.")
                   .Args("<batch_id>", 1, 1)
                   .Flags(from)
                   .Run(BatchRetry));
  commands.Add(CommandSpec({"batch", "rollback"},
                           "Move every customer a batch moved back to the "
                           "source, as a new batch.")
                   .Args("<batch_id>", 1, 1)
                   .Flags(from)
                   .Run(BatchRollback));
}

// batch start, pause, resume, cancel and release: the commands that
// steer one.
void AddBatchActionCommands(CommandSet& commands) {
  const struct {
    const char* verb;
    const char* summary;
    absl::Status (*run)(CommandContext&);
  } actions[] = {
      {"start", "Start a created batch.", BatchStart},
      {"pause", "Pause a batch (customers in their cutover finish first).",
       BatchPause},
      {"resume", "Resume a paused batch.", BatchResume},
      {"cancel",
       "Cancel a batch: customers not flipped are skipped and their copies "
       "removed.",
       BatchCancel},
  };
  for (const auto& a : actions) {
    commands.Add(CommandSpec({"batch", a.verb}, a.summary)
                     .Args("<batch_id>", 1, 1)
                     .Flags(ActionFlags())
                     .Run(a.run));
  }
  commands.Add(CommandSpec({"batch", "release"},
                           "Let customers held before their cutover go on.")
                   .Args("<batch_id>", 1, 1)
                   .Flags({{"customers", "ID,...", "These customers."},
                           {"all", "", "Every customer held now."},
                           ReasonFlag(),
                           RequestIdFlag()})
                   .Run(BatchRelease));
}

// batch get, list, items, watch and report: the commands that read.
void AddBatchViewCommands(CommandSet& commands) {
  commands.Add(CommandSpec({"batch", "get"}, "Show a batch and its progress.")
                   .Args("<batch_id>", 1, 1)
                   .Run(BatchGet));
  commands.Add(CommandSpec({"batch", "list"}, "List batches, newest first.")
                   .Flags({{"page_size", "N", "Batches per page."},
                           {"page_token", "TOKEN", "The page to show."}})
                   .Run(BatchList));
  commands.Add(CommandSpec({"batch", "items"},
                           "List a batch's customers and their states.")
                   .Args("<batch_id>", 1, 1)
                   .Flags({{"states", "STATE,...", "Only these states."},
                           {"page_size", "N", "Items per page."},
                           {"page_token", "TOKEN", "The page to show."}})
                   .Run(BatchItems));
  commands.Add(
      CommandSpec({"batch", "watch"},
                  "Follow a batch until it finishes: a progress bar on a "
                  "terminal, plain lines otherwise.")
          .Args("<batch_id>", 1, 1)
          .Flags({{"interval_ms", "MS", "Between updates (default 1000)."}})
          .DefaultTimeout(absl::InfiniteDuration())
          .Run(BatchWatch));
  commands.Add(CommandSpec({"batch", "report"},
                           "The report of a batch (Markdown; JSON with -o "
                           "json).")
                   .Args("<batch_id>", 1, 1)
                   .Flags({{"max_customers", "N",
                            "Customers listed per section (default 1,000)."}})
                   .DefaultTimeout(absl::Seconds(30))
                   .Run(BatchReport));
}

}  // namespace

void AddBatchCommands(CommandSet& commands) {
  commands.AddGroup({"batch"},
                    "Batches of customers the migrator moves (or rehearses).");
  AddBatchCreateCommands(commands);
  AddBatchActionCommands(commands);
  AddBatchViewCommands(commands);
}

}  // namespace tandem::cli
