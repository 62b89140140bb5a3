// The billing system's customer portal and API, and its admin product API,
// over a BillingStore. Transport-neutral: PortalService::Handle maps one
// HttpRequest to one HttpResponse; http_server.h puts it on a socket.
//
// Customer API (JSON; money as decimal strings, durations in ms, times
// "YYYY-MM-DDTHH:MM:SSZ"):
//   POST /api/login            form or JSON {login, password} -> session
//                              cookie `tandem_session` (server-side)
//   POST /api/logout           ends the session
//   POST /api/tokens           new API token (bearer) for the customer
//   GET  /api/me               profile and balance
//   GET  /api/accounts         paged (page_size, page_token)
//   GET  /api/accounts/{id}
//   PATCH|PUT /api/accounts/{id}/settings  merge | replace service settings
//   GET  /api/accounts/{id}/xdrs           paged, newest first
//   GET  /api/invoices         paged, newest first
//   GET  /api/payment_methods
//   POST /api/topup            {amount, account_id?}
// Admin API (bearer admin token):
//   GET|POST /admin/products, GET|PATCH|PUT|DELETE /admin/products/{id}
// Operations: GET /healthz (no database), GET /readyz (database ping).
//
// Errors are JSON {"error": "..."}: 400 malformed request, 401 missing or
// bad credentials (with WWW-Authenticate), 403 admin API disabled or
// customer closed, 404 unknown path or object, 405 wrong method (with
// Allow), 409 conflicts (taken product code, product in use), 415
// unsupported body type, 503 database down. A customer marked exported (moved
// to the other system) gets 409 {"error":"customer exported"} with the header
// X-Billing-Customer-Exported: 1, for reads and writes alike; writes check it
// inside their transaction (billing_store.h).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "testbed/sim/billing_store.h"
#include "testbed/sim/http_types.h"

namespace tandem::testbed {

struct PortalOptions {
  absl::Duration session_ttl = absl::Hours(8);
  // Bearer token of the admin API; empty disables it (403).
  std::string admin_token;
  // The clock (tests inject one).
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

class PortalService {
 public:
  // `store` must outlive the service.
  PortalService(BillingStore* store, PortalOptions options);

  // Handles one request. Blocking (database calls); thread-safe.
  HttpResponse Handle(const HttpRequest& request);

  // True for requests that need no database and may run on an I/O thread.
  static bool IsCheap(const HttpRequest& request);

 private:
  HttpResponse HandleApi(const HttpRequest& request, absl::string_view path,
                         absl::string_view query);
  HttpResponse HandleAdmin(const HttpRequest& request, absl::string_view path);

  BillingStore* store_;
  PortalOptions options_;
};

// The cookie that carries the portal session.
inline constexpr char kSessionCookie[] = "tandem_session";

// The response header that marks a refusal because the customer is exported
// (value "1"): a dispatcher re-sends the request to the other system.
inline constexpr char kExportedHeader[] = "X-Billing-Customer-Exported";

}  // namespace tandem::testbed
