// Per-environment (main thread or one worker) state of the binding: the references it keeps to
// JS values of that environment.
#pragma once

#include <node_api.h>

#include "../core/status.h"

namespace percpu {

struct HandleRef;

struct EnvData {
  napi_ref error_classes[static_cast<int>(Code::kCount)] = {};
  napi_ref handle_class = nullptr;
  // Set only while the binding itself constructs a handle object (MakeHandle).
  HandleRef* pending_ref = nullptr;
  // The scheduler run this environment started, if any: its teardown stops it.
  uint64_t scheduler_run = 0;

  static EnvData* Get(napi_env env) {
    void* data = nullptr;
    napi_get_instance_data(env, &data);
    return static_cast<EnvData*>(data);
  }
};

}  // namespace percpu
