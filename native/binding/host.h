// percpu.node's side of the host protocol (host_protocol.h): the table it exports to the
// accelerator and the simulator and benchmark modules, and the accelerator it may attach.
#pragma once

#include <node_api.h>

#include "host_protocol.h"

namespace percpu {

// The accelerator attached to this copy of the binding, or nullptr (then num() runs on the
// Node-API callbacks alone).
const AccelTable* AttachedAccelerator();

// attachAccelerator(path): the accelerator Node has already loaded from `path` (required from JS,
// which checked its Node ABI and V8 line) is found with dlopen(RTLD_NOLOAD) and dlsym, its table
// checked and attached. Returns null when attached, else the reason in one line (the Node-API
// path stays). One accelerator per process: another one is refused.
napi_value AttachAccelerator(napi_env env, napi_callback_info info);

}  // namespace percpu
