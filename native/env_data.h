// Per-environment (main thread or one worker) state of the addon.
#pragma once

#include <node_api.h>

#include "errors.h"

namespace percpu {

struct HandleRef;

struct EnvData {
  napi_ref error_classes[static_cast<int>(ErrorKind::kCount)] = {};
  napi_ref handle_class = nullptr;
  // Set only while the addon itself constructs a handle object (see NativeHandle::Make).
  HandleRef* pending_ref = nullptr;

  static EnvData* Get(napi_env env) {
    void* data = nullptr;
    napi_get_instance_data(env, &data);
    return static_cast<EnvData*>(data);
  }
};

}  // namespace percpu
