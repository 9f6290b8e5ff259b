#include "host.h"

#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

#include "../core/allocator.h"
#include "../core/scheduler.h"
#include "args.h"
#include "handle.h"

namespace percpu {

namespace {

ThreadState* ThisThread() { return &tls_this_cpu; }

bool FindU64Static(const char* name, uint32_t* offset) {
  const Allocation* allocation = FindStatic(name);
  if (allocation == nullptr || allocation->type != TypeId::u64 || allocation->pair) return false;
  *offset = allocation->offset;
  return true;
}

bool SetIrqAction(uint32_t action, uint32_t offset, uint64_t* adds_before, Status* status) {
  if (action > static_cast<uint32_t>(sched::IrqAction::kAddGeneric))
    return status->Fail(Code::kInvalidArg, "unknown interrupt action %u", action);
  return sched::SetIrqAction(static_cast<sched::IrqAction>(action), offset, adds_before, status);
}

// The owner functions are inline in handle_ref.h: the table needs addresses in this module.
void AddOwner(HandleRef* ref) { AddHandleOwner(ref); }
void DropOwner(HandleRef* ref) { DropHandleOwner(ref); }

}  // namespace

// The table other modules find with dlsym (host_protocol.h). Default visibility: the only symbol
// of this module, besides Node-API's registration, that another module may look up.
extern "C" __attribute__((visibility("default"))) const HostTable percpu_host_v1;
const HostTable percpu_host_v1 = {
    MakeHeader(kHostMagic),
    &ThisThread,
    &GetRegion,
    &AddOwner,
    &DropOwner,
    &UnwrapHandle,
    &FindU64Static,
    &SetIrqAction,
    &sched::BlockSignals,
    &sched::RestoreSignals,
};

namespace {

std::mutex g_attach_lock;
std::atomic<const AccelTable*> g_accel{nullptr};
std::string g_accel_path;  // under g_attach_lock

napi_value Reason(napi_env env, const char* format, const char* a, const char* b = "") {
  char text[512];
  snprintf(text, sizeof text, format, a, b);
  napi_value result;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &result);
  return result;
}

}  // namespace

const AccelTable* AttachedAccelerator() { return g_accel.load(std::memory_order_acquire); }

napi_value AttachAccelerator(napi_env env, napi_callback_info info) {
  Call call(env, info);
  std::string path;
  if (!call.String(0, "path", 4096, &path)) return nullptr;
  napi_value null;
  napi_get_null(env, &null);
  std::lock_guard<std::mutex> lock(g_attach_lock);
  if (g_accel.load(std::memory_order_acquire) != nullptr) {
    // Another thread of this process (a worker) attaching the same accelerator: already done.
    if (path == g_accel_path) {
      // SAFETY: attach() set up process-wide state only; each thread's own state is made lazily.
      return null;
    }
    return Reason(env, "another accelerator is attached to this copy of percpu (%s)", g_accel_path.c_str());
  }
  // RTLD_NOLOAD: only a module Node has already loaded, and so already accepted for this Node ABI.
  void* module = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (module == nullptr) return Reason(env, "%s is not loaded in this process (require it first)", path.c_str());
  const auto* table = static_cast<const AccelTable*>(dlsym(module, "percpu_accel_v1"));
  if (table == nullptr) {
    dlclose(module);
    return Reason(env, "%s has no percpu accelerator table", path.c_str());
  }
  if (const char* why = CheckHeader(&table->header, kAccelMagic)) {
    dlclose(module);
    return Reason(env, "the accelerator at %s is refused: %s", path.c_str(), why);
  }
  if (const char* why = table->attach(&percpu_host_v1, env)) {
    dlclose(module);
    return Reason(env, "the accelerator at %s is refused: %s", path.c_str(), why);
  }
  // The module stays loaded (Node never unloads an addon, and our reference keeps it so).
  g_accel_path = path;
  g_accel.store(table, std::memory_order_release);
  return null;
}

}  // namespace percpu
