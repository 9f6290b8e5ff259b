// The other side of the host protocol (host_protocol.h), for the simulator and benchmark modules:
// finds percpu.node's table in the binding Node has loaded from `path`.
#pragma once

#include <dlfcn.h>

#include <atomic>
#include <string>

#include "args.h"
#include "env_data.h"
#include "errors.h"
#include "host_protocol.h"

namespace percpu {

// The host table of the binding loaded from `path`, or nullptr with `*why` set. RTLD_NOLOAD: it
// never loads anything, so a path that is not an already loaded percpu binding finds nothing.
inline const HostTable* FindHost(const std::string& path, const char** why) {
  void* module = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (module == nullptr) {
    *why = "no percpu binding is loaded from that path";
    return nullptr;
  }
  const auto* host = static_cast<const HostTable*>(dlsym(module, "percpu_host_v1"));
  if (host == nullptr) {
    dlclose(module);
    *why = "the module at that path is not a percpu binding";
    return nullptr;
  }
  if (const char* mismatch = CheckHeader(&host->header, kHostMagic)) {
    dlclose(module);
    *why = mismatch;
    return nullptr;
  }
  return host;  // the module stays referenced: its table must outlive us
}

// One host per process for a client module: attached once, then only the same one again.
class HostSlot {
 public:
  // False with `*why` when `host` is not the one already attached.
  bool Attach(const HostTable* host, const char** why) {
    const HostTable* expected = nullptr;
    if (slot_.compare_exchange_strong(expected, host) || expected == host) return true;
    *why = "another copy of percpu is already attached to this module";
    return false;
  }
  const HostTable* get() const { return slot_.load(std::memory_order_acquire); }

 private:
  std::atomic<const HostTable*> slot_{nullptr};
};

// What every client module exports besides its own functions: init(errorClasses) (the named error
// classes, as the binding's init) and attach(bindingPath) (the host it works with). `Module` is a
// tag type with `static HostSlot host` and `static constexpr const char* kName`.
template <class Module>
struct ClientModule {
  static napi_value Init(napi_env env, napi_callback_info info) {
    Call call(env, info);
    if (call.TypeOf(0) != napi_object) return Throw(env, Code::kInvalidArg, "init() takes the error classes"), nullptr;
    RegisterErrorClasses(env, call[0]);
    return nullptr;
  }

  static napi_value Attach(napi_env env, napi_callback_info info) {
    Call call(env, info);
    std::string path;
    if (!call.String(0, "path", 4096, &path)) return nullptr;
    const char* why = nullptr;
    const HostTable* host = FindHost(path, &why);
    if (host == nullptr || !Module::host.Attach(host, &why))
      return Throw(env, Code::kConflict, "cannot attach the %s module to %s: %s", Module::kName, path.c_str(), why), nullptr;
    return nullptr;
  }

  // The host, or throws NotSetUpError.
  static const HostTable* Host(napi_env env) {
    const HostTable* host = Module::host.get();
    if (host == nullptr) Throw(env, Code::kNotSetUp, "the %s module is not attached to percpu: call attach() first", Module::kName);
    return host;
  }

  // Module set-up: per-environment data (the error classes), and an exports builder holding init
  // and attach. nullptr if the data could not be set.
  static bool Begin(napi_env env, ObjectBuilder* exports) {
    auto* data = new EnvData();
    if (napi_set_instance_data(env, data, DeleteData, nullptr) != napi_ok) {
      delete data;
      return false;
    }
    exports->Set("init", Function(env, "init", Init)).Set("attach", Function(env, "attach", Attach));
    return true;
  }

  static napi_value Function(napi_env env, const char* name, napi_callback cb) {
    napi_value fn;
    napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn);
    return fn;
  }

 private:
  static void DeleteData(napi_env env, void* raw, void*) {
    auto* data = static_cast<EnvData*>(raw);
    for (napi_ref ref : data->error_classes)
      if (ref != nullptr) napi_delete_reference(env, ref);
    delete data;
  }
};

}  // namespace percpu
