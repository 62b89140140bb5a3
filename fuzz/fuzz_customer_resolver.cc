// The customer resolver (identity stage) and what it reads: the login body
// and the login fold. The input is split at NUL bytes into method, path,
// Cookie, Authorization, Content-Type and body. Invariants: a placed
// request goes where its customer's route points (or to the default system
// without one); the login fold is idempotent; nothing crashes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "portal-proxy/customer_resolver.h"
#include "portal-proxy/login_body.h"
#include "router/login_fold.h"
#include "tests/portal-proxy/fake_routes.h"

namespace {

using namespace tandem::proxy;
namespace rv1 = ::tandem::router::v1;

void Check(bool condition) {
  if (!condition) std::abort();
}

struct World {
  World()
      : cookie(*RoutingCookie::Create("fuzz-cookie-key-0123456789", "",
                                      absl::Hours(1))) {
    routes.Put(1, tandem::common::v1::SYSTEM_SOURCE, rv1::ROUTE_STATE_STABLE,
               10);
    routes.Put(8, tandem::common::v1::SYSTEM_TARGET, rv1::ROUTE_STATE_STABLE,
               80);
    routes.Put(9, tandem::common::v1::SYSTEM_SOURCE, rv1::ROUTE_STATE_MIGRATING,
               90);
    routes.Key(rv1::KEY_KIND_LOGIN, "cust8", 8);
    routes.Key(rv1::KEY_KIND_LOGIN, "Ren\xC3\xA9", 9);
    routes.Key(rv1::KEY_KIND_API_TOKEN, "tok1", 1);
    routes.Key(rv1::KEY_KIND_ACCOUNT_ID, "5558", 8);
    ResolverOptions options;
    resolver = std::make_unique<CustomerResolver>(options, &routes, &cookie);
  }
  testing::FakeRoutes routes;
  RoutingCookie cookie;
  std::unique_ptr<CustomerResolver> resolver;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();
  std::vector<std::string_view> parts;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (int i = 0; i < 5; ++i) {
    const size_t nul = in.find('\0');
    parts.push_back(in.substr(0, nul));
    in =
        nul == std::string_view::npos ? std::string_view() : in.substr(nul + 1);
  }
  RequestView view;
  view.method = parts[0];
  view.path = parts[1];
  view.cookie_header = parts[2];
  view.authorization = parts[3];
  view.content_type = parts[4];
  view.body = in;
  const Resolution r =
      world->resolver->Resolve(view, absl::FromUnixSeconds(1700000000));
  if (r.verdict == Resolution::Verdict::kPlaced) {
    if (r.route) {
      Check(r.system == r.route->system);
      Check(r.route->customer_id == r.customer_id);
    } else {
      Check(r.system == world->routes.default_system());
    }
  }
  std::string login;
  if (ExtractLogin(parts[4], in, "login", &login) == LoginBody::kFound) {
    std::string folded, again;
    if (tandem::router::FoldLogin(login, &folded)) {
      Check(tandem::router::FoldLogin(folded, &again) && again == folded);
    }
  }
  return 0;
}
