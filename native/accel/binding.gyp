# percpu_accel.node: num()'s V8 fast path, built for exactly one Node ABI (the headers node-gyp
# builds against). Not a Node-API module: Node refuses it under any other ABI.
{
  'includes': ['../common.gypi'],
  'targets': [
    {
      'target_name': 'percpu_accel',
      'sources': ['accel.cc'],
      # node.h's NODE_MODULE_INIT casts the initializer's type.
      'cflags_cc': ['-Wno-cast-function-type'],
    },
  ],
}
