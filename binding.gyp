# percpu.node, the binding every user loads: the Node-free core (native/core/) and its Node-API
# face (native/binding/). Node-API only, so one build (and one prebuilt binary per platform) serves
# every Node line. The accelerator, the simulator's loops and the benchmark loops are other
# modules with their own .gyp files (native/accel/, native/sim/, native/bench/).
{
  'includes': ['native/common.gypi'],
  'targets': [
    {
      'target_name': 'percpu',
      'sources': [
        'native/core/allocator.cc',
        'native/core/gs_base.cc',
        'native/core/region.cc',
        'native/core/sched_signals.cc',
        'native/core/scheduler.cc',
        'native/core/status.cc',
        'native/binding/addon.cc',
        'native/binding/errors.cc',
        'native/binding/handle.cc',
        'native/binding/host.cc',
        'native/binding/pair.cc',
        'native/binding/region.cc',
        'native/binding/scheduler.cc',
      ],
      'defines': ['NAPI_VERSION=8'],
    },
  ],
}
