# percpu_bench.node: the benchmark loops and the empty-call floor, for `npm test` and
# `npm run bench`. Never shipped.
{
  'includes': ['../common.gypi'],
  'targets': [
    {
      'target_name': 'percpu_bench',
      'sources': ['bench_loops.cc', '../binding/errors.cc'],
      'defines': ['NAPI_VERSION=8'],
    },
  ],
}
