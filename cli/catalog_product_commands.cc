// tandemctl catalog products list|get|refresh and catalog generate: the
// products of both billing systems, and cloning the unmapped ones.
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "cli/catalog_helpers.h"

namespace tandem::cli::catalog_internal {
namespace {

using ::tandem::common::v1::System;

// "EUR 12.50": at least two decimals, more only when the micros need them.
std::string FormatMoney(const v1::Pricing& pricing) {
  int64_t micros = pricing.monthly_fee_micros();
  std::string fraction = absl::StrFormat("%06d", micros % 1000000);
  while (fraction.size() > 2 && fraction.back() == '0') {
    fraction.pop_back();
  }
  return absl::StrCat(OrDash(pricing.currency()), " ", micros / 1000000, ".",
                      fraction);
}

// --- products

std::vector<std::string> ProductHeaders() {
  return {"SYSTEM",  "ID",     "CODE",          "NAME",      "KIND",
          "VERSION", "FROZEN", "SUBSCRIPTIONS", "CUSTOMERS", "MAPPED_TO"};
}

std::vector<std::string> ProductCells(const v1::Product& product) {
  std::string mapped_to = "-";
  if (product.system() == ::tandem::common::v1::SYSTEM_SOURCE) {
    mapped_to = product.mapped_to_product_id() == 0
                    ? "unmapped"
                    : absl::StrCat(product.mapped_to_product_id());
  }
  return {Label(product.system()),
          absl::StrCat(product.product_id()),
          OrDash(product.spec().code()),
          OrDash(product.spec().name()),
          Label(product.spec().kind()),
          absl::StrCat(product.version()),
          YesNo(product.frozen()),
          absl::StrCat(product.subscription_count()),
          absl::StrCat(product.customer_count()),
          mapped_to};
}

absl::Status ProductsList(CommandContext& ctx) {
  v1::ListProductsRequest request;
  TANDEM_ASSIGN_OR_RETURN(int32_t page_size, PageSize(ctx));
  request.set_page_size(page_size);
  request.set_page_token(ctx.flags().Get("page_token"));
  TANDEM_ASSIGN_OR_RETURN(System system, OptionalSystemFlag(ctx));
  request.set_system(system);
  if (ctx.flags().Has("kind")) {
    TANDEM_ASSIGN_OR_RETURN(
        v1::ProductKind kind,
        ParseEnum<v1::ProductKind>("product kind", ctx.flags().Get("kind")));
    request.set_kind(kind);
  }
  request.set_unmapped_only(ctx.flags().GetBool("unmapped"));
  if (request.unmapped_only() &&
      system == ::tandem::common::v1::SYSTEM_TARGET) {
    return UsageError("--unmapped is about source products; drop --system");
  }
  request.set_code_prefix(ctx.flags().Get("code_prefix"));

  v1::ListProductsResponse result;
  TANDEM_RETURN_IF_ERROR(FetchPages(
      ctx, request, ctx.flags().GetBool("all"), &Stub::ListProducts,
      [](v1::ListProductsResponse& r) { return r.mutable_products(); },
      &result));
  Table table(ProductHeaders());
  for (const v1::Product& product : result.products()) {
    table.AddRow(ProductCells(product));
  }
  ctx.printer().Print(result, table);
  if (result.products().empty()) {
    ctx.err() << "no products match\n";
  }
  SayMorePages(ctx, "products", result.next_page_token());
  return absl::OkStatus();
}

absl::Status ProductsGet(CommandContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(System system, SystemArg(ctx.args()[0]));
  const std::string& key = ctx.args()[1];
  v1::GetProductRequest request;
  request.set_system(system);
  int64_t id = 0;
  // Codes may be all digits too; --code says which one is meant.
  if (!ctx.flags().GetBool("code") && absl::SimpleAtoi(key, &id)) {
    if (id <= 0) {
      return UsageError(absl::StrCat("product id must be positive, got `", key,
                                     "` (use --code for a code)"));
    }
    request.set_product_id(id);
  } else {
    if (key.empty()) {
      return UsageError("the product code is empty");
    }
    request.set_code(key);
  }
  v1::GetProductResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallCatalog(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.GetProduct(call, request, &response);
      }));
  const v1::Product& product = response.product();
  const v1::ProductSpec& spec = product.spec();
  std::vector<std::string> resources;
  for (const v1::ResourceType& type : spec.resource_types()) {
    resources.push_back(absl::StrCat(type.code(), "=", type.limit(),
                                     type.unit().empty() ? "" : " ",
                                     type.unit()));
  }
  std::vector<std::string> parameters;
  for (const v1::ActivationParameter& parameter :
       spec.activation_parameters()) {
    parameters.push_back(
        absl::StrCat(parameter.name(), "=", parameter.value()));
  }
  // One product has too many fields for one line: a field per row.
  Table table({"FIELD", "VALUE"});
  table.AddRow({"system", Label(product.system())});
  table.AddRow({"id", absl::StrCat(product.product_id())});
  table.AddRow({"code", OrDash(spec.code())});
  table.AddRow({"name", OrDash(spec.name())});
  table.AddRow({"kind", Label(spec.kind())});
  table.AddRow({"category", OrDash(spec.category())});
  table.AddRow({"contract pool", OrDash(spec.contract_pool())});
  table.AddRow({"monthly fee", FormatMoney(spec.pricing())});
  table.AddRow({"resource types",
                resources.empty() ? "-" : absl::StrJoin(resources, ", ")});
  table.AddRow({"add-ons", JoinIds(spec.addon_product_ids())});
  table.AddRow({"activation parameters",
                parameters.empty() ? "-" : absl::StrJoin(parameters, ", ")});
  table.AddRow({"version", absl::StrCat(product.version())});
  table.AddRow({"frozen", YesNo(product.frozen())});
  table.AddRow({"subscriptions", absl::StrCat(product.subscription_count())});
  table.AddRow({"customers", absl::StrCat(product.customer_count())});
  if (product.system() == ::tandem::common::v1::SYSTEM_SOURCE) {
    table.AddRow(
        {"mapped to", product.mapped_to_product_id() == 0
                          ? "unmapped"
                          : absl::StrCat(product.mapped_to_product_id())});
  }
  if (product.cloned_from_product_id() != 0) {
    table.AddRow(
        {"cloned from", absl::StrCat(product.cloned_from_product_id())});
  }
  table.AddRow({"changed by", OrDash(product.stamp().actor())});
  table.AddRow({"changed at", FormatUnixMillis(product.stamp().at_unix_ms())});
  table.AddRow(
      {"refreshed at", FormatUnixMillis(product.refreshed_at_unix_ms())});
  ctx.printer().Print(response, table);
  return absl::OkStatus();
}

absl::Status ProductsRefresh(CommandContext& ctx) {
  v1::RefreshProductsRequest request;
  TANDEM_ASSIGN_OR_RETURN(System system, OptionalSystemFlag(ctx));
  request.set_system(system);
  request.set_request_id(RequestId(ctx));
  if (DryRun(ctx)) {
    Table table({"SYSTEM", "REQUEST_ID"});
    table.AddRow({system == ::tandem::common::v1::SYSTEM_UNSPECIFIED
                      ? "both"
                      : Label(system),
                  request.request_id()});
    ctx.printer().Print(request, table);
    SayDryRun(ctx, "RefreshProducts");
    return absl::OkStatus();
  }
  v1::RefreshProductsResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallCatalog(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.RefreshProducts(call, request, &response);
      }));
  Table table({"SEEN", "ADDED", "CHANGED", "REMOVED", "DRIFT"});
  table.AddRow({absl::StrCat(response.products_seen()),
                absl::StrCat(response.products_added()),
                absl::StrCat(response.products_changed()),
                absl::StrCat(response.products_removed()),
                absl::StrCat(response.drift_size())});
  ctx.printer().Print(response, table);
  for (const v1::ProductChange& drift : response.drift()) {
    ctx.err() << "drift (a frozen product changed behind the catalog's "
                 "back): "
              << ProductChangeText(drift) << "\n";
  }
  return absl::OkStatus();
}

// --- generate

absl::Status Generate(CommandContext& ctx) {
  v1::GenerateMissingProductsRequest request;
  for (const std::string& arg : ctx.args()) {
    TANDEM_ASSIGN_OR_RETURN(int64_t id, ParseId("source_id", arg));
    request.add_source_product_ids(id);
  }
  request.set_code_suffix(ctx.flags().Get("code_suffix"));
  request.set_dry_run(DryRun(ctx));
  request.set_reason(ctx.flags().Get("reason"));
  request.set_request_id(RequestId(ctx));
  v1::GenerateMissingProductsResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallCatalog(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.GenerateMissingProducts(call, request, &response);
      }));
  Table table({"SOURCE", "TARGET", "CODE", "NAME", "MAPPING_VERSION"});
  for (const v1::GeneratedProduct& generated : response.generated()) {
    const v1::Product& product = generated.target_product();
    table.AddRow(
        {absl::StrCat(generated.source_product_id()),
         product.product_id() == 0 ? "-" : absl::StrCat(product.product_id()),
         OrDash(product.spec().code()), OrDash(product.spec().name()),
         generated.mapping().version() == 0
             ? "-"
             : absl::StrCat(generated.mapping().version())});
  }
  ctx.printer().Print(response, table);
  for (const v1::SkippedProduct& skipped : response.skipped()) {
    ctx.err() << "skipped source product " << skipped.source_product_id()
              << ": " << skipped.reason() << "\n";
  }
  if (request.dry_run()) {
    ctx.err() << "dry run: the catalog says what it would clone; nothing was "
                 "created\n";
  } else if (response.generated().empty()) {
    ctx.err() << "nothing to clone: every source product asked for is "
                 "mapped\n";
  }
  return absl::OkStatus();
}

}  // namespace

void AddProductCommands(CommandSet& commands) {
  commands.Add(
      CommandSpec({"catalog", "products", "list"},
                  "List products in (system, id) order.")
          .Description("Prints one page (100 products unless --page_size); "
                       "--all follows every page.")
          .Flags({SystemFlag("Only products of this system."),
                  {"kind", "main|addon", "Only products of this kind."},
                  {"unmapped", "", "Only source products without a mapping."},
                  {"code_prefix", "PREFIX",
                   "Only products whose code starts with this."},
                  PageSizeFlag(),
                  PageTokenFlag(),
                  AllFlag()})
          .Run(ProductsList));
  commands.Add(
      CommandSpec({"catalog", "products", "get"},
                  "Show one product, by id or by code.")
          .Args("<source|target> <id|code>", 2, 2)
          .Description("An all-digit argument is an id unless --code.")
          .Flags({{"code", "", "The argument is a code, even if all digits."}})
          .Run(ProductsGet));
  commands.Add(
      CommandSpec({"catalog", "products", "refresh"},
                  "Re-read products from the billing databases.")
          .Description(
              "Reports products added, changed and removed, and frozen "
              "products changed behind the catalog's back (drift, audited). "
              "Default --timeout: 2m.")
          .Flags({SystemFlag("Only this system (default both)."),
                  RequestIdFlag(), DryRunFlag()})
          .DefaultTimeout(absl::Minutes(2))
          .Run(ProductsRefresh));
}

void AddGenerateCommand(CommandSet& commands) {
  commands.Add(
      CommandSpec({"catalog", "generate"},
                  "Clone unmapped source products onto the target, mapped.")
          .Args("[source_id...]", 0, -1)
          .Description(
              "Without ids, every unmapped source product. Refused while the "
              "catalog is frozen (before frozen-target-open). Default "
              "--timeout: 2m.")
          .Flags({{"code_suffix", "SUFFIX",
                   "Appended to a code the target already uses (default "
                   "-v1)."},
                  {"dry-run", "",
                   "A what-if: the catalog reports what it would clone and "
                   "creates nothing."},
                  ReasonFlag(),
                  RequestIdFlag()})
          .DefaultTimeout(absl::Minutes(2))
          .Run(Generate));
}

}  // namespace tandem::cli::catalog_internal
