#include "portal-proxy/freeze_stage.h"

#include <openssl/sha.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace tandem::proxy {
namespace {

namespace cv1 = ::tandem::catalog::v1;

// The `refusal` label of tandem_proxy_freeze_refusals_total.
const char* RefusalLabel(ChangeRefusal refusal) {
  switch (refusal) {
    case cv1::CHANGE_REFUSAL_CATALOG_FROZEN:
      return "catalog_frozen";
    case cv1::CHANGE_REFUSAL_TARGET_NOT_OPEN:
      return "target_not_open";
    case cv1::CHANGE_REFUSAL_SOURCE_CLOSED:
      return "source_closed";
    case cv1::CHANGE_REFUSAL_MAPPING_TARGET:
      return "mapping_target";
    case cv1::CHANGE_REFUSAL_UNKNOWN_PRODUCT:
      return "unknown_product";
    default:
      return "unspecified";
  }
}

bool IsRead(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS";
}

}  // namespace

std::string AdminIdentity(std::string_view identity_header_value,
                          std::string_view authorization) {
  constexpr size_t kMaxIdentity = 128;
  if (!identity_header_value.empty()) {
    return std::string(identity_header_value.substr(0, kMaxIdentity));
  }
  const absl::string_view auth(authorization.data(), authorization.size());
  if (absl::StartsWithIgnoreCase(auth, "basic ")) {
    std::string decoded;
    if (absl::Base64Unescape(absl::StripAsciiWhitespace(auth.substr(6)),
                             &decoded)) {
      return decoded.substr(0, std::min(decoded.find(':'), kMaxIdentity));
    }
  } else if (absl::StartsWithIgnoreCase(auth, "bearer ")) {
    const absl::string_view token = absl::StripAsciiWhitespace(auth.substr(7));
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(),
           digest);
    return absl::StrCat("bearer-sha256:",
                        absl::BytesToHexString(absl::string_view(
                            reinterpret_cast<const char*>(digest), 6)));
  }
  return "";
}

StageResult FreezeStage::Run(Exchange& x) const {
  if (x.catalog_answer) {
    absl::StatusOr<FreezeDecision> answer = std::move(*x.catalog_answer);
    x.catalog_answer.reset();
    if (answer.ok()) return Decide(x, *answer, false);
    TANDEM_LOG(Warning, "catalog_check_failed")
        .With("method", x.method)
        .With("target", x.target.target)
        .With("error", answer.status().ToString());
    FreezeDecision refused;
    refused.allowed = false;
    refused.reason =
        "the catalog could not be asked; product changes are refused until "
        "it answers";
    return Decide(x, refused, true);
  }
  if (IsRead(x.method)) return StageResult::kContinue;
  FreezeMatchPath(x.target.path(), &x.freeze_path);
  std::optional<ProductChange> change = api_->Classify(x.method, x.freeze_path);
  if (!change) return StageResult::kContinue;
  const std::string_view path = x.target.path();
  x.change_detail =
      absl::StrCat(x.method, " ", absl::string_view(path.data(), path.size()));
  change->system = ToSystem(x.backend);
  change->detail = x.change_detail;
  x.change = change;
  const FreezeState state = policy_->EffectiveState();
  // LIFTED is terminal (no transition leaves it), so a feed that says LIFTED
  // cannot be behind. OPEN is not: a freeze a catalog replica acknowledged
  // may not have reached this feed yet, so with a catalog to ask, it is
  // asked in OPEN too and the acknowledged freeze holds at this door.
  if (state == cv1::FREEZE_STATE_LIFTED) return StageResult::kContinue;
  if (ask_catalog_) return StageResult::kAskCatalog;
  if (state == cv1::FREEZE_STATE_OPEN) return StageResult::kContinue;
  return Decide(x, policy_->Check(*change), false);
}

StageResult FreezeStage::Decide(Exchange& x, const FreezeDecision& decision,
                                bool unreachable) const {
  if (decision.allowed) return StageResult::kContinue;
  const char* label =
      unreachable ? "catalog_unreachable" : RefusalLabel(decision.refusal);
  metrics_->CountFreezeRefusal(x.backend, label);
  TANDEM_LOG(Warning, "freeze_refused")
      .With("system", Label(x.backend))
      .With("method", x.method)
      .With("target", x.target.target)
      .With("product_id", x.change ? x.change->product_id : 0)
      .With("customer_id", x.resolution.customer_id)
      .With("refusal", label)
      .With("reason", decision.reason);
  x.record.outcome = "freeze_refused";
  x.reply.status = 423;
  x.reply.content_type = "application/json";
  x.reply.body = absl::StrCat(
      "{\"error\":\"", unreachable ? "catalog_unreachable" : "catalog_frozen",
      "\",\"refusal\":\"", cv1::ChangeRefusal_Name(decision.refusal),
      "\",\"reason\":\"", JsonSafe(decision.reason), "\"}\n");
  return StageResult::kReply;
}

}  // namespace tandem::proxy
