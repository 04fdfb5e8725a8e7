// The measured route table drives choose_route: exact points return their fastest route, the
// caller's operands restrict it, and points where FP16 won fall back to FP16 only when the
// caller keeps FP16 operands.
#include <gtest/gtest.h>

#include "core/error.h"
#include "kernels/dispatch.h"

namespace bitfold::kernels {
namespace {

constexpr RouteMask kAll = ~RouteMask(0);

TEST(Dispatch, TableIsMeasuredAndWellFormed) {
  int64_t count = 0;
  const RoutePoint* table = route_table(count);
  ASSERT_GT(count, 0) << "route_table.inc is empty: run bench_kernels --emit-table";
  for (int64_t i = 0; i < count; ++i) {
    const RoutePoint& pt = table[i];
    EXPECT_GT(pt.n, 0);
    EXPECT_GT(pt.k, 0);
    EXPECT_GT(pt.m, 0);
    EXPECT_NE(pt.ranked[0], Route::Count) << "point " << i << " ranks no route";
  }
}

TEST(Dispatch, ExactPointsReturnTheirFastestAvailableRoute) {
  int64_t count = 0;
  const RoutePoint* table = route_table(count);
  for (int64_t i = 0; i < count; ++i) {
    const RoutePoint& pt = table[i];
    EXPECT_EQ(choose_route(pt.m, pt.n, pt.k, pt.p, pt.q, kAll), pt.ranked[0]) << "point " << i;
    // Without FP16 operands the first quantized route of the ranking runs.
    const RouteMask no_fp16 = kAll & ~route_bit(Route::Fp16);
    Route want = Route::Count;
    for (Route r : pt.ranked) {
      if (r == Route::Count) break;
      if (r != Route::Fp16) {
        want = r;
        break;
      }
    }
    if (want != Route::Count) {
      EXPECT_EQ(choose_route(pt.m, pt.n, pt.k, pt.p, pt.q, no_fp16), want) << "point " << i;
    }
  }
}

TEST(Dispatch, UnmeasuredShapesUseTheNearestPointAndMissingOperandsAreSkipped) {
  // Decode-sized M on a Llama-like shape: a memory-bound route, never a large-M tile.
  const Route r = choose_route(1, 4000, 4000, 4, 4, kAll & ~route_bit(Route::Fp16));
  EXPECT_TRUE(r == Route::Gemv || r == Route::Decode || r == Route::Btc) << route_name(r);
  // Only BTC operands: BTC it is, whatever the table prefers.
  EXPECT_EQ(choose_route(8192, 4096, 4096, 4, 4, route_bit(Route::Btc)), Route::Btc);
  // No table point for W3A4: the built-in rule; no kernel at all for 5-bit weights.
  EXPECT_EQ(choose_route(1, 4096, 4096, 3, 4, kAll), Route::Gemv);
  EXPECT_EQ(choose_route(5, 4096, 4096, 3, 4, kAll), Route::Decode);
  EXPECT_EQ(choose_route(1, 4096, 4096, 3, 4, kAll & ~route_bit(Route::Gemv)), Route::Decode);
  EXPECT_EQ(choose_route(8192, 4096, 4096, 3, 4, kAll), Route::UnpackTma);
  EXPECT_EQ(choose_route(8192, 4096, 4096, 3, 4, kAll & ~route_bit(Route::UnpackTma)), Route::UnpackLt);
  EXPECT_THROW(choose_route(1, 4096, 4096, 5, 5, kAll), Error);
}

// The GEMV is compiled for M <= 4: a measured point that ranks it first must not hand it a larger
// M (M = 5..8 take the nearest point, often M = 4).
TEST(Dispatch, GemvOnlyUpToFourRows) {
  int64_t count = 0;
  const RoutePoint* table = route_table(count);
  for (int64_t i = 0; i < count; ++i) {
    const RoutePoint& pt = table[i];
    for (int64_t m : {5, 6, 8, 16}) EXPECT_NE(choose_route(m, pt.n, pt.k, pt.p, pt.q, kAll), Route::Gemv) << "point " << i;
  }
  EXPECT_NE(choose_route(5, 4096, 4096, 4, 4, route_bit(Route::Gemv) | route_bit(Route::Decode)), Route::Gemv);
  EXPECT_THROW(choose_route(5, 4096, 4096, 4, 4, route_bit(Route::Gemv)), Error);
}

}  // namespace
}  // namespace bitfold::kernels
