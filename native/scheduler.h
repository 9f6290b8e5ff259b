// Simulated preemption, migration and local interrupts (issue 8): a scheduler thread that swaps
// the CPUs of bound threads at arbitrary instruction boundaries with real-time signals, and the
// race loops that show what that does to the gs and generic per-CPU paths. See native/scheduler.cc.
#pragma once

#include <node_api.h>

namespace percpu {

// Sets `exports.sched` (the scheduler's JS face, see lib/scheduler.ts) for this environment.
void RegisterScheduler(napi_env env, napi_value exports);

// Called by region.cc as the calling thread unbinds (also at thread exit, from the environment
// cleanup hook): if the thread takes part in migration, it stops taking the scheduler's signals,
// leaves the scheduler and drops any signal still pending, before its binding goes away. A no-op
// (one thread-local load) for a thread that never took part.
void LeaveScheduler();

}  // namespace percpu
