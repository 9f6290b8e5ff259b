// Benchmarks (bench/): the per-CPU ops run N times inside the addon, and experiments on the cost
// of the JS call path. Registered as `exports.bench`; the library itself never uses them.
#pragma once

#include <napi.h>

namespace percpu {

void RegisterBench(Napi::Env env, Napi::Object exports);

}  // namespace percpu
