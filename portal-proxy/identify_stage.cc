#include "portal-proxy/identify_stage.h"

#include "absl/strings/str_cat.h"

namespace tandem::proxy {

StageResult IdentifyStage::Run(Exchange& x) const {
  RequestView view;
  view.method = x.method;
  view.path = x.target.path();
  view.cookie_header = x.cookie;
  view.authorization = x.authorization;
  view.content_type = x.content_type;
  if (x.body_wanted > 0) {
    if (x.body_complete) {
      view.body = std::string_view(x.body);
    } else {
      view.body_too_large = true;
    }
  }
  // The clock only matters for a routing cookie's expiry: not read without
  // a Cookie header.
  const absl::Time now = x.cookie.empty() ? absl::UnixEpoch() : clock_.Now();
  Resolution resolution = resolver_->Resolve(view, now);
  switch (resolution.verdict) {
    case Resolution::Verdict::kNeedBody:
      x.body_wanted = resolver_->options().max_login_body_bytes;
      return StageResult::kReadBody;
    case Resolution::Verdict::kConflict:
      SetErrorReply(400, resolution.problem, &x.reply);
      x.reply.client_error = "conflicting_credentials";
      return StageResult::kReply;
    case Resolution::Verdict::kUnplaceable:
      SetErrorReply(401, resolution.problem, &x.reply);
      x.reply.client_error = "unplaceable_credential";
      if (resolution.bad_session_cookie) {
        x.reply.extra_headers =
            absl::StrCat("Set-Cookie: ", resolver_->options().session_cookie,
                         "=; Path=/; Max-Age=0\r\n");
      }
      return StageResult::kReply;
    case Resolution::Verdict::kPlaced:
      break;
  }
  x.resolution = resolution;
  x.backend = FromSystem(resolution.system);
  x.record.by = resolution.by;
  x.record.customer_id = resolution.customer_id;
  return StageResult::kContinue;
}

}  // namespace tandem::proxy
