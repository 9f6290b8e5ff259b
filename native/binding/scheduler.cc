// exports.sched: the scheduler's JS face (lib/sim/scheduler.ts wraps it). Every result is built after
// the core has released its locks (the core returns snapshots by value), with own data properties,
// so no user JS runs under a scheduler lock.
#include <cmath>
#include <cstring>
#include <string>

#include "../core/allocator.h"
#include "../core/scheduler.h"
#include "args.h"
#include "env_data.h"
#include "errors.h"
#include "region.h"

namespace percpu {

namespace {

napi_value Bool(napi_env env, bool value) {
  napi_value result;
  napi_get_boolean(env, value, &result);
  return result;
}

napi_value Uint(napi_env env, uint32_t value) {
  napi_value result;
  napi_create_uint32(env, value, &result);
  return result;
}

void OnOwnerCleanup(void* arg) { sched::Stop(reinterpret_cast<uintptr_t>(arg)); }

// start(migrateHz, irqHz, cpus | null). The environment that starts it stops it at its teardown.
napi_value Start(napi_env env, napi_callback_info info) {
  Call call(env, info);
  sched::Config config;
  // Any finite number here; the core checks the documented range (0, or 1 to 100,000 per second).
  if (!call.Number(0, "migrateHz", -1e300, 1e300, &config.migrate_hz) || !call.Number(1, "irqHz", -1e300, 1e300, &config.irq_hz))
    return nullptr;
  if (!call.IsNullish(2)) {
    bool is_array = false;
    uint32_t length = 0;
    napi_is_array(env, call[2], &is_array);
    if (!is_array) return Throw(env, Code::kInvalidArg, "cpus must be an array of CPU numbers"), nullptr;
    napi_get_array_length(env, call[2], &length);
    if (length > kMaxCpus) return Throw(env, Code::kOutOfRange, "cpus lists more than %u CPUs", kMaxCpus), nullptr;
    for (uint32_t i = 0; i < length; ++i) {
      napi_value element;
      double cpu;
      napi_valuetype type;
      if (napi_get_element(env, call[2], i, &element) != napi_ok) return nullptr;  // a getter may throw
      napi_typeof(env, element, &type);
      if (type != napi_number || napi_get_value_double(env, element, &cpu) != napi_ok || !std::isfinite(cpu) ||
          cpu != std::trunc(cpu))
        return Throw(env, Code::kInvalidArg, "a CPU number must be an integer"), nullptr;
      if (cpu < 0 || cpu >= kMaxCpus)
        return Throw(env, Code::kOutOfRange, "CPU %g is out of range", cpu), nullptr;
      config.cpus.set(static_cast<size_t>(cpu));
    }
    config.all_cpus = false;
  }
  uint64_t run = 0;
  Status status;
  if (!sched::Start(config, &run, &status)) return ThrowStatus(env, status), nullptr;
  EnvData* data = EnvData::Get(env);
  if (data->scheduler_run != 0) napi_remove_env_cleanup_hook(env, OnOwnerCleanup, reinterpret_cast<void*>(data->scheduler_run));
  data->scheduler_run = run;
  napi_add_env_cleanup_hook(env, OnOwnerCleanup, reinterpret_cast<void*>(run));
  return nullptr;
}

napi_value Stop(napi_env env, napi_callback_info) {
  EnvData* data = EnvData::Get(env);
  const bool stopped = sched::Stop();
  if (data->scheduler_run != 0) {
    napi_remove_env_cleanup_hook(env, OnOwnerCleanup, reinterpret_cast<void*>(data->scheduler_run));
    data->scheduler_run = 0;
  }
  return Bool(env, stopped);
}

napi_value Participate(napi_env env, napi_callback_info) {
  Status status;
  const bool joined = sched::Participate(&status);
  if (!status.ok()) return ThrowStatus(env, status), nullptr;
  return Bool(env, joined);
}

napi_value Leave(napi_env env, napi_callback_info) {
  const bool was = sched::Participating();
  sched::Leave();
  return Bool(env, was);
}

napi_value Participating(napi_env env, napi_callback_info) { return Bool(env, sched::Participating()); }

napi_value SchedulerStats(napi_env env, napi_callback_info) {
  const sched::Snapshot s = sched::Stats();  // the locks are released here
  ObjectBuilder result(env);
  result.Bool("running", s.running)
      .Number("migrateHz", s.running ? s.config.migrate_hz : 0)
      .Number("irqHz", s.running ? s.config.irq_hz : 0);
  if (s.running && !s.config.all_cpus) {
    napi_value cpus[kMaxCpus];
    size_t count = 0;
    for (size_t cpu = 0; cpu < kMaxCpus; ++cpu)
      if (s.config.cpus.test(cpu)) napi_create_uint32(env, static_cast<uint32_t>(cpu), &cpus[count++]);
    result.Set("cpus", MakeArray(env, cpus, count));
  } else {
    result.Null("cpus");
  }
  result.Number("participants", s.participants);
  if (s.installed)
    result.Set("signals", ObjectBuilder(env)
                              .Number("migrate", s.migrate_signal)
                              .Number("irq", s.irq_signal)
                              .Number("sigrtmin", s.sigrtmin)
                              .Build());
  else
    result.Null("signals");
  result.Number("requests", static_cast<double>(s.requests))
      .Number("migrations", static_cast<double>(s.migrations))
      .Number("skippedGuard", static_cast<double>(s.skipped_guard))
      .Number("timedOut", static_cast<double>(s.timed_out))
      .Number("partnerGone", static_cast<double>(s.partner_gone))
      .Number("irqsSent", static_cast<double>(s.irqs_sent))
      .Number("irqsHandled", static_cast<double>(s.irqs_handled))
      .Number("irqsCoalesced", static_cast<double>(s.irqs_coalesced))
      .Number("migrationsCoalesced", static_cast<double>(s.migrations_coalesced))
      .Number("checksPassed", static_cast<double>(s.checks_passed))
      .Number("checkFailures", static_cast<double>(s.check_failures))
      .Number("verifications", static_cast<double>(s.verifications))
      .Number("violations", static_cast<double>(s.violations))
      .Number("strays", static_cast<double>(s.strays))
      .Number("staleSignals", static_cast<double>(s.stale))
      .Number("drained", static_cast<double>(s.drained))
      .Number("sendFailures", static_cast<double>(s.send_failures));
  return result.Build();
}

napi_value ThreadStats(napi_env env, napi_callback_info) {
  const sched::ThreadSnapshot s = sched::ThreadStats();
  return ObjectBuilder(env)
      .Bool("participating", s.participating)
      .Number("tid", static_cast<double>(s.tid))
      .Number("cpu", s.cpu)
      .Number("handled", static_cast<double>(s.handled))
      .Number("migrations", static_cast<double>(s.migrations))
      .Number("declined", static_cast<double>(s.declined))
      .Number("irqs", static_cast<double>(s.irqs))
      .Number("irqDepth", s.irq_depth)
      .Build();
}

// local_irq_save() / local_irq_restore() (IrqGuard). A blocked interrupt is pending once.
napi_value IrqDisable(napi_env env, napi_callback_info) {
  uint32_t depth = 0;
  Status status;
  if (!sched::IrqDisable(&depth, &status)) return ThrowStatus(env, status), nullptr;
  return Uint(env, depth);
}

napi_value IrqEnable(napi_env env, napi_callback_info) {
  uint32_t depth = 0;
  Status status;
  if (!sched::IrqEnable(&depth, &status)) return ThrowStatus(env, status), nullptr;
  return Uint(env, depth);
}

// irqAction(counterName, 'gs' | 'generic') makes this thread's interrupt handler add 1 to its slot
// of the u64 static `counterName`; irqAction(null) stops that. Either way returns the adds made
// since the last call.
napi_value IrqAction(napi_env env, napi_callback_info info) {
  Call call(env, info);
  sched::IrqAction action = sched::IrqAction::kNone;
  uint32_t offset = 0;
  if (!call.IsNullish(0)) {
    std::string name, how;
    if (!call.String(0, "a race counter's name", 1024, &name)) return nullptr;
    const Allocation* allocation = FindStatic(name);
    if (allocation == nullptr || allocation->type != TypeId::u64 || allocation->pair)
      return Throw(env, Code::kInvalidArg, "a race counter must be a u64 static per-CPU variable"), nullptr;
    offset = allocation->offset;
    if (call.TypeOf(1) == napi_string && !call.String(1, "the interrupt's add", 16, &how)) return nullptr;
    if (how == "gs") action = sched::IrqAction::kAddGs;
    else if (how == "generic") action = sched::IrqAction::kAddGeneric;
    else return Throw(env, Code::kInvalidArg, "the interrupt's add is 'gs' or 'generic'"), nullptr;
  }
  uint64_t adds = 0;
  Status status;
  if (!sched::SetIrqAction(action, offset, &adds, &status)) return ThrowStatus(env, status), nullptr;
  napi_value result;
  napi_create_double(env, static_cast<double>(adds), &result);
  return result;
}

}  // namespace

napi_value MakeSchedulerExports(napi_env env) {
  const auto fn = [env](const char* name, napi_callback cb) {
    napi_value f;
    napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &f);
    return f;
  };
  return ObjectBuilder(env)
      .Set("start", fn("start", Start))
      .Set("stop", fn("stop", Stop))
      .Set("participate", fn("participate", Participate))
      .Set("leave", fn("leave", Leave))
      .Set("participating", fn("participating", Participating))
      .Set("stats", fn("stats", SchedulerStats))
      .Set("threadStats", fn("threadStats", ThreadStats))
      .Set("irqDisable", fn("irqDisable", IrqDisable))
      .Set("irqEnable", fn("irqEnable", IrqEnable))
      .Set("irqAction", fn("irqAction", IrqAction))
      .Build();
}

}  // namespace percpu
