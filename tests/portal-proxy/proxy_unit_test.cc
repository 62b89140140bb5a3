// Unit tests of the proxy's small parts: the routing cookie, the hold
// queue, the freeze policy and the socket helpers. The pipeline's units have
// their own files (proxy_pipeline_test).
#include <gtest/gtest.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <map>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "portal-proxy/freeze_policy.h"
#include "portal-proxy/hold_queue.h"
#include "portal-proxy/routing_cookie.h"
#include "portal-proxy/socket_io.h"

namespace tandem::proxy {
namespace {

using ::tandem::common::v1::SYSTEM_SOURCE;
using ::tandem::common::v1::SYSTEM_TARGET;
namespace catalog = ::tandem::catalog::v1;
namespace rv1 = ::tandem::router::v1;

constexpr char kKey[] = "current-key-0123456789";
constexpr char kOldKey[] = "previous-key-0123456789";

TEST(RoutingCookieTest, SignedCookieVerifiesWithEitherKey) {
  auto current = RoutingCookie::Create(kKey, kOldKey, absl::Hours(1));
  auto old = RoutingCookie::Create(kOldKey, "", absl::Hours(1));
  ASSERT_TRUE(current.ok());
  ASSERT_TRUE(old.ok());
  absl::Time now = absl::Now();
  auto claims = current->Verify(current->Sign(42, SYSTEM_TARGET, 7, now), now);
  ASSERT_TRUE(claims.has_value());
  EXPECT_EQ(claims->customer_id, 42);
  EXPECT_EQ(claims->system, SYSTEM_TARGET);
  EXPECT_EQ(claims->route_version, 7);
  // Signed with the previous key: still accepted after a rotation.
  EXPECT_TRUE(current->Verify(old->Sign(42, SYSTEM_SOURCE, 1, now), now));
}

TEST(RoutingCookieTest, ForgedTamperedAndExpiredCookiesAreRejected) {
  auto cookie = RoutingCookie::Create(kKey, "", absl::Minutes(5));
  auto stranger =
      RoutingCookie::Create("someone-elses-key-123", "", absl::Minutes(5));
  ASSERT_TRUE(cookie.ok());
  absl::Time now = absl::Now();
  std::string good = cookie->Sign(42, SYSTEM_SOURCE, 3, now);
  // Forged: signed with an unknown key.
  EXPECT_FALSE(cookie->Verify(stranger->Sign(42, SYSTEM_SOURCE, 3, now), now));
  // Tampered: another customer id with the original MAC.
  std::string tampered = good;
  tampered.replace(3, 2, "43");
  EXPECT_FALSE(cookie->Verify(tampered, now));
  // Expired.
  EXPECT_FALSE(cookie->Verify(good, now + absl::Minutes(6)));
  // Garbage.
  EXPECT_FALSE(cookie->Verify("v1.1.1.1.1.zz", now));
  EXPECT_FALSE(cookie->Verify("", now));
  EXPECT_TRUE(cookie->Verify(good, now));
}

TEST(RoutingCookieTest, ShortKeysAreRefused) {
  EXPECT_FALSE(RoutingCookie::Create("short", "", absl::Hours(1)).ok());
}

TEST(HoldQueueTest, ReleaseWakesOnlyThatCustomerAndBoundsHold) {
  HoldQueue queue(HoldOptions{2, 3});
  int woken_1 = 0, woken_2 = 0;
  uint64_t a = queue.Hold(1, [&] { ++woken_1; });
  uint64_t b = queue.Hold(1, [&] { ++woken_1; });
  EXPECT_GT(a, 0u);
  EXPECT_GT(b, 0u);
  EXPECT_EQ(queue.Hold(1, [] {}), 0u);  // per-customer bound
  uint64_t c = queue.Hold(2, [&] { ++woken_2; });
  EXPECT_GT(c, 0u);
  EXPECT_EQ(queue.Hold(3, [] {}), 0u);  // total bound
  EXPECT_EQ(queue.held(), 3);
  EXPECT_EQ(queue.held_customers(), 2);
  rv1::RouteChange change;
  change.mutable_route_update()->mutable_route()->set_customer_id(1);
  queue.OnRouteChange(&change);
  EXPECT_EQ(woken_1, 2);
  EXPECT_EQ(woken_2, 0);
  EXPECT_FALSE(queue.Cancel(1, a));  // already released
  EXPECT_TRUE(queue.Cancel(2, c));
  EXPECT_EQ(queue.held(), 0);
}

TEST(HoldQueueTest, ResyncReleasesEverybody) {
  HoldQueue queue(HoldOptions{});
  int woken = 0;
  queue.Hold(1, [&] { ++woken; });
  queue.Hold(2, [&] { ++woken; });
  queue.OnRouteChange(nullptr);
  EXPECT_EQ(woken, 2);
  EXPECT_EQ(queue.held(), 0);
}

TEST(FreezePolicyTest, ClassifiesProductAdminRequests) {
  ProductAdminApi api;
  EXPECT_FALSE(api.Classify("GET", "/admin/products/1"));
  EXPECT_FALSE(api.Classify("POST", "/admin/productsx"));
  EXPECT_FALSE(api.Classify("POST", "/portal/profile"));
  EXPECT_EQ(api.Classify("POST", "/admin/products")->kind,
            catalog::CHANGE_KIND_CREATE);
  auto update = api.Classify("PUT", "/admin/products/17?x=1");
  EXPECT_EQ(update->kind, catalog::CHANGE_KIND_UPDATE_CONFIGURATION);
  EXPECT_EQ(update->product_id, 17);
  EXPECT_EQ(api.Classify("PATCH", "/admin/products/17/price")->kind,
            catalog::CHANGE_KIND_UPDATE_PRICE);
  EXPECT_EQ(api.Classify("DELETE", "/admin/products/17")->kind,
            catalog::CHANGE_KIND_DELETE);
}

TEST(FreezePolicyTest, DecidesByFreezeStateAndFailsClosed) {
  CachedFreezePolicy policy;
  ProductChange update{SYSTEM_SOURCE, catalog::CHANGE_KIND_UPDATE_PRICE, 17,
                       ""};
  ProductChange create_target{SYSTEM_TARGET, catalog::CHANGE_KIND_CREATE, 0,
                              ""};
  // Nothing heard from the catalog yet: fail closed.
  EXPECT_FALSE(policy.Check(update).allowed);
  policy.SetState(catalog::FREEZE_STATE_OPEN);
  EXPECT_TRUE(policy.Check(update).allowed);
  policy.SetState(catalog::FREEZE_STATE_FROZEN);
  FreezeDecision d = policy.Check(update);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.refusal, catalog::CHANGE_REFUSAL_CATALOG_FROZEN);
  EXPECT_EQ(policy.Check(create_target).refusal,
            catalog::CHANGE_REFUSAL_TARGET_NOT_OPEN);
  policy.SetState(catalog::FREEZE_STATE_FROZEN_TARGET_OPEN);
  EXPECT_TRUE(policy.Check(create_target).allowed);
  ProductChange create_source{SYSTEM_SOURCE, catalog::CHANGE_KIND_CREATE, 0,
                              ""};
  EXPECT_EQ(policy.Check(create_source).refusal,
            catalog::CHANGE_REFUSAL_SOURCE_CLOSED);
  EXPECT_FALSE(policy.Check(update).allowed);
  // The feed disconnects: fail closed again.
  policy.SetState(catalog::FREEZE_STATE_LIFTED, /*connected=*/false);
  EXPECT_FALSE(policy.Check(update).allowed);
  policy.SetState(catalog::FREEZE_STATE_LIFTED, true);
  EXPECT_TRUE(policy.Check(update).allowed);
}

// A connected pair of TCP sockets on the loopback.
struct SocketPair {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket a{ioc};
  boost::asio::ip::tcp::socket b{ioc};
  SocketPair() {
    boost::asio::ip::tcp::acceptor acceptor(
        ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
    a.connect(acceptor.local_endpoint());
    acceptor.accept(b);
  }
};

// Runs `ioc` until `done` or five seconds have passed.
void RunUntil(boost::asio::io_context& ioc, const bool& done) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done && std::chrono::steady_clock::now() < deadline) {
    ioc.run_one_until(deadline);
  }
}

// How the proxy waits for a request on a kept-alive connection: after a
// short read it marks the socket drained, and the next read must still
// complete when the client's bytes come.
TEST(SocketIoTest, ADrainedSocketStillWakesForWhatArrivesLater) {
  SocketPair pair;
  char data[64];
  size_t n = 0;
  bool done = false;
  boost::system::error_code ec;
  auto on_read = [&](boost::system::error_code read_ec, size_t bytes) {
    ec = read_ec;
    n = bytes;
    done = true;
  };
  boost::asio::write(pair.a, boost::asio::buffer("first", 5));
  pair.b.async_read_some(boost::asio::buffer(data), on_read);
  RunUntil(pair.ioc, done);
  ASSERT_TRUE(done);
  ASSERT_FALSE(ec);
  ASSERT_EQ(std::string(data, n), "first");
  ASSERT_LT(n, sizeof(data));  // short: the socket is empty now
  MarkDrained(pair.b);

  for (const char* message : {"second", "third"}) {
    done = false;
    pair.b.async_read_some(boost::asio::buffer(data), on_read);
    pair.ioc.restart();
    pair.ioc.poll();
    EXPECT_FALSE(done);  // nothing sent yet
    boost::asio::write(pair.a, boost::asio::buffer(message, strlen(message)));
    RunUntil(pair.ioc, done);
    ASSERT_TRUE(done) << message;
    ASSERT_FALSE(ec);
    EXPECT_EQ(std::string(data, n), message);
    MarkDrained(pair.b);
    pair.ioc.restart();
  }
}

// What MarkDrained saves: the read after it does not try a recv before
// waiting. Shown by misusing it on a socket that holds bytes whose edge the
// reactor has already seen: the read then waits for the next bytes, where
// a speculative recv would have completed it at once.
TEST(SocketIoTest, AReadAfterMarkDrainedWaitsWithoutTryingARecvFirst) {
  SocketPair pair;
  auto work = boost::asio::make_work_guard(pair.ioc);
  char data[64];
  size_t n = 0;
  bool done = false;
  auto on_read = [&](boost::system::error_code, size_t bytes) {
    n = bytes;
    done = true;
  };
  // Let the reactor see the edge of "early" while no read is waiting.
  boost::asio::write(pair.a, boost::asio::buffer("early", 5));
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (pair.b.available() < 5 &&
         std::chrono::steady_clock::now() < deadline) {
  }
  ASSERT_EQ(pair.b.available(), 5u);
  pair.ioc.poll();

  MarkDrained(pair.b);
  pair.b.async_read_some(boost::asio::buffer(data), on_read);
  pair.ioc.poll();
  EXPECT_FALSE(done) << "the read tried a recv before waiting";

  boost::asio::write(pair.a, boost::asio::buffer("late", 4));
  RunUntil(pair.ioc, done);
  ASSERT_TRUE(done);
  EXPECT_EQ(std::string(data, n), "earlylate");
}

// What the proxy does with a response: write what the socket takes now,
// then the rest asynchronously. With a small send buffer and a reader that
// has not started, the first write is partial; the bytes must arrive in
// order.
TEST(SocketIoTest, WriteAvailableTakesWhatFitsAndTheRestFollows) {
  SocketPair pair;
  pair.a.set_option(boost::asio::socket_base::send_buffer_size(16384));
  std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n";
  std::string body(2000000, 0);
  for (size_t i = 0; i < body.size(); ++i) {
    body[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  }
  std::array<boost::asio::const_buffer, 2> message = {
      boost::asio::buffer(head), boost::asio::buffer(body)};
  boost::system::error_code ec;
  const size_t sent = WriteAvailable(pair.a, message, ec);
  ASSERT_FALSE(ec);
  EXPECT_GT(sent, 0u);
  EXPECT_LT(sent, head.size() + body.size());

  std::string received;
  std::thread reader([&] {
    char chunk[65536];
    boost::system::error_code read_ec;
    while (received.size() < head.size() + body.size()) {
      size_t n = pair.b.read_some(boost::asio::buffer(chunk), read_ec);
      if (read_ec) break;
      received.append(chunk, n);
    }
  });
  boost::beast::buffers_suffix<std::array<boost::asio::const_buffer, 2>> rest(
      message);
  rest.consume(sent);
  boost::asio::async_write(pair.a, rest,
                           [&](boost::system::error_code write_ec, size_t n) {
                             ec = write_ec;
                             EXPECT_EQ(sent + n, head.size() + body.size());
                           });
  pair.ioc.run();
  reader.join();
  EXPECT_FALSE(ec);
  EXPECT_TRUE(received == head + body) << "received " << received.size();
}

}  // namespace
}  // namespace tandem::proxy
