// percpu.node: the binding every user loads. Node-API only (node_api.h; no V8, no node.h C++
// API), so one build serves every Node line that has Node-API 8. It registers with
// NAPI_MODULE_INIT (napi_register_module_v1) and keeps nothing but Node-API values.
#include <node_api.h>

#include "../core/numeric.h"
#include "../core/ops.h"
#include "../core/region.h"
#include "args.h"
#include "env_data.h"
#include "handle.h"
#include "host.h"
#include "region.h"

namespace percpu {

namespace {

napi_value Function(napi_env env, const char* name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn);
  return fn;
}

// The type table and the op table, as JS arrays (lib/ checks its own tables against them).
napi_value TypeTable(napi_env env) {
  napi_value rows[kTypeCount];
  for (int i = 0; i < kTypeCount; ++i)
    rows[i] = ObjectBuilder(env).Str("name", kTypes[i].name).Number("size", kTypes[i].size).Bool("big", kTypes[i].big).Build();
  return MakeArray(env, rows, kTypeCount);
}

napi_value OpTable(napi_env env) {
  napi_value rows[kOpCount];
  for (int i = 0; i < kOpCount; ++i)
    rows[i] =
        ObjectBuilder(env).Str("name", kOps[i].name).Number("operands", kOps[i].operands).Bool("returns", kOps[i].returns).Build();
  return MakeArray(env, rows, kOpCount);
}

napi_value Backends(napi_env env) {
  napi_value names[2];
  size_t count = 0;
#if PERCPU_HAVE_GS
  napi_create_string_utf8(env, GsBackend::kName, NAPI_AUTO_LENGTH, &names[count++]);
#endif
  napi_create_string_utf8(env, GenericBackend::kName, NAPI_AUTO_LENGTH, &names[count++]);
  return MakeArray(env, names, count);
}

void DeleteEnvData(napi_env env, void* raw, void*) {
  auto* data = static_cast<EnvData*>(raw);
  for (napi_ref ref : data->error_classes)
    if (ref != nullptr) napi_delete_reference(env, ref);
  if (data->handle_class != nullptr) napi_delete_reference(env, data->handle_class);
  delete data;
}

// A thread that ends while bound gives its CPU back (leaving the scheduler first) and gets its old
// GS base; the accelerator drops what it holds on the thread first.
void OnEnvCleanup(void*) {
  if (const AccelTable* accel = AttachedAccelerator()) accel->drop_thread();
  UnbindForExit();
}

}  // namespace

}  // namespace percpu

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  using namespace percpu;
  auto* data = new EnvData();
  if (napi_set_instance_data(env, data, DeleteEnvData, nullptr) != napi_ok) {
    delete data;
    return nullptr;
  }
  // The EnvData makes the hook's (function, argument) pair unique to this load: Node aborts on a
  // duplicate, and a module registry that is reset loads the addon again in the same env.
  napi_add_env_cleanup_hook(env, OnEnvCleanup, data);
  if (!DefineHandleClass(env)) return nullptr;
  ObjectBuilder result(env);
  result.Set("types", TypeTable(env))
      .Set("ops", OpTable(env))
      .Set("backends", Backends(env))  // the backends this build has
      .Str("gsMethod", gs::Method())   // how the gs backend would set GS bases here
      .Set("init", Function(env, "init", Init))
      .Set("setup", Function(env, "setup", Setup))
      .Set("region", Function(env, "region", GetRegionInfo))
      .Set("bind", Function(env, "bind", BindCpu))
      .Set("unbind", Function(env, "unbind", UnbindCpu))
      .Set("gsBase", Function(env, "gsBase", GsBase))
      .Set("thisCpu", Function(env, "thisCpu", ThisCpu))
      .Set("preemptDisable", Function(env, "preemptDisable", PreemptDisable))
      .Set("preemptEnable", Function(env, "preemptEnable", PreemptEnable))
      .Set("preemptCount", Function(env, "preemptCount", PreemptCount))
      .Set("allocate", Function(env, "allocate", AllocateZero))
      .Set("allocateWith", Function(env, "allocateWith", AllocateWith))
      .Set("allocateFrom", Function(env, "allocateFrom", AllocateFrom))
      .Set("allocatePair", Function(env, "allocatePair", AllocatePairJs))
      .Set("defineStatic", Function(env, "defineStatic", DefineStaticJs))
      .Set("getStatic", Function(env, "getStatic", GetStaticJs))
      .Set("redeem", Function(env, "redeem", RedeemJs))
      .Set("dropTicket", Function(env, "dropTicket", DropTicketJs))
      .Set("stats", Function(env, "stats", StatsJs))
      .Set("attachAccelerator", Function(env, "attachAccelerator", AttachAccelerator))
      .Set("sched", MakeSchedulerExports(env));
  return result.Build();
}
