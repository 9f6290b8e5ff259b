// The JS handle class (NativeHandle): one thread's reference to an allocation, wrapping a
// HandleRef. handle.cc defines the class and its variable methods; pair.cc the u64-pair methods.
#pragma once

#include <node_api.h>

#include "../core/handle_ref.h"
#include "args.h"

namespace percpu {

// Defines the class for this environment (kept in EnvData).
bool DefineHandleClass(napi_env env);

// A new handle object owning `ref`; nullptr (exception pending) if construction failed, in which
// case the ref's reference was given back.
napi_value MakeHandle(napi_env env, HandleRef* ref);

// The ref behind `value` if it is a handle object made by THIS copy of the binding (a type tag
// drawn at random when the copy loads, so no other addon's object and no other copy's handle
// passes), else false. Throws nothing. Does not check that the ref is live.
bool UnwrapHandle(napi_env env, napi_value value, HandleRef** out);

// The call's receiver as a handle of this copy, or throws PerCpuTypeError. Every method and
// accessor of the class starts with it.
bool ReceiverHandle(const Call& call, HandleRef** out);

// The pair methods (pair.cc), installed on the class by handle.cc.
napi_value PairCmpxchgDouble(napi_env env, napi_callback_info info);
napi_value PairRead(napi_env env, napi_callback_info info);
napi_value PairWrite(napi_env env, napi_callback_info info);

}  // namespace percpu
