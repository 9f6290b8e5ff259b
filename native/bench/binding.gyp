# percpu_bench.node: the benchmark loops and the empty-call floor, for `npm test` and
# `npm run bench`; percpu_bench_fast.node: the floor of a V8 fast API call, built per Node ABI
# like the accelerator. Never shipped.
{
  'includes': ['../common.gypi'],
  'targets': [
    {
      'target_name': 'percpu_bench',
      'sources': ['bench_loops.cc', '../binding/errors.cc'],
      'defines': ['NAPI_VERSION=8'],
    },
    {
      'target_name': 'percpu_bench_fast',
      'sources': ['fast_floor.cc'],
      # node.h's NODE_MODULE_INIT casts the initializer's type.
      'cflags_cc': ['-Wno-cast-function-type'],
    },
  ],
}
