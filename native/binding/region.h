// The module functions of the binding, one file per JS-facing part: region.cc (set-up, binding
// threads, allocation, statics, tickets), scheduler.cc (exports.sched), host.cc
// (attachAccelerator). addon.cc puts them on the exports.
#pragma once

#include <node_api.h>

namespace percpu {

napi_value Init(napi_env env, napi_callback_info info);
napi_value Setup(napi_env env, napi_callback_info info);
napi_value GetRegionInfo(napi_env env, napi_callback_info info);
napi_value BindCpu(napi_env env, napi_callback_info info);
napi_value UnbindCpu(napi_env env, napi_callback_info info);
napi_value GsBase(napi_env env, napi_callback_info info);
napi_value ThisCpu(napi_env env, napi_callback_info info);
napi_value PreemptDisable(napi_env env, napi_callback_info info);
napi_value PreemptEnable(napi_env env, napi_callback_info info);
napi_value PreemptCount(napi_env env, napi_callback_info info);
napi_value AllocateZero(napi_env env, napi_callback_info info);
napi_value AllocateWith(napi_env env, napi_callback_info info);
napi_value AllocateFrom(napi_env env, napi_callback_info info);
napi_value AllocatePairJs(napi_env env, napi_callback_info info);
napi_value DefineStaticJs(napi_env env, napi_callback_info info);
napi_value GetStaticJs(napi_env env, napi_callback_info info);
napi_value RedeemJs(napi_env env, napi_callback_info info);
napi_value DropTicketJs(napi_env env, napi_callback_info info);
napi_value StatsJs(napi_env env, napi_callback_info info);

// exports.sched (scheduler.cc).
napi_value MakeSchedulerExports(napi_env env);

}  // namespace percpu
