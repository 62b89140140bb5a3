// A batch's options: what is valid, and the defaults a 0 stands for.
#pragma once

#include "absl/status/status.h"
#include "tandem/migrator/v1/migrator.pb.h"

namespace tandem::migrator {

inline constexpr int kDefaultParallelism = 4;
inline constexpr int kMaxParallelism = 256;

// INVALID_ARGUMENT naming the option and what is wrong: a negative figure,
// parallelism above 256, a check interval below 100 ms, a critical threshold
// below its `max_` one, a window minute outside 0-1439, a tail window above
// a day, a cutover timeout above ten minutes.
absl::Status ValidateBatchOptions(
    const ::tandem::migrator::v1::BatchOptions& options);

// `options` with the defaults filled in where they are 0 (parallelism).
::tandem::migrator::v1::BatchOptions EffectiveOptions(
    ::tandem::migrator::v1::BatchOptions options);

}  // namespace tandem::migrator
