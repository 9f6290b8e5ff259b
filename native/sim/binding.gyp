# percpu_sim.node: the race demo's native loops (lib's runRace, `percpu race`). Node-API only; it
# works on percpu.node's state through the host table, never in percpu.node itself.
{
  'includes': ['../common.gypi'],
  'targets': [
    {
      'target_name': 'percpu_sim',
      'sources': ['race_loops.cc', '../binding/errors.cc'],
      'defines': ['NAPI_VERSION=8'],
    },
  ],
}
