// Region set-up, thread binding, CpuGuard's preempt count, allocation, statics and tickets.
#include "region.h"

#include <algorithm>
#include <string>
#include <vector>

#include "../core/allocator.h"
#include "../core/ops.h"
#include "args.h"
#include "convert.h"
#include "errors.h"
#include "handle.h"

namespace percpu {

namespace {

napi_value RegionObject(napi_env env, const Region* region) {
  if (region == nullptr) {
    napi_value null;
    napi_get_null(env, &null);
    return null;
  }
  const bool gs = region->backend == BackendId::kGs;
  return ObjectBuilder(env)
      .Number("cpus", region->nr_cpus)
      .Number("areaSize", region->area_size)
      .Str("backend", gs ? "gs" : "generic")
      .Str("backendReason", region->reason)
      .Bool("fellBack", region->fell_back)
      .Str("gsMethod", gs ? gs::Method() : nullptr)
      .Build();
}

bool GetBackendRequest(const Call& call, size_t i, BackendRequest* out) {
  std::string name;
  if (call.TypeOf(i) == napi_string && !call.String(i, "backend", 16, &name)) return false;
  if (name == "auto") *out = BackendRequest::kAuto;
  else if (name == "gs") *out = BackendRequest::kGs;
  else if (name == "generic") *out = BackendRequest::kGeneric;
  else return Throw(call.env(), Code::kInvalidArg, "backend must be 'auto', 'gs' or 'generic'");
  return true;
}

napi_value NewHandleFor(napi_env env, Allocation* allocation) {
  return MakeHandle(env, NewHandleRef(allocation));
}

// A static's name: 1 to 256 UTF-16 code units, well-formed (no lone surrogates, which UTF-8
// cannot hold), without NUL. Checked on the UTF-16 text so that no two names map to one.
bool GetStaticName(const Call& call, size_t i, std::string* name) {
  constexpr size_t kMaxName = 256;
  napi_env env = call.env();
  if (call.TypeOf(i) != napi_string) return Throw(env, Code::kInvalidArg, "a static's name must be a string");
  char16_t units[kMaxName + 2];
  size_t length = 0;
  napi_get_value_string_utf16(env, call[i], units, kMaxName + 2, &length);
  if (length == 0 || length > kMaxName)
    return Throw(env, Code::kInvalidArg, "a static's name must have 1 to %zu characters", kMaxName);
  for (size_t k = 0; k < length; ++k) {
    const char16_t unit = units[k];
    const bool high = unit >= 0xD800 && unit <= 0xDBFF, low = unit >= 0xDC00 && unit <= 0xDFFF;
    if (unit == 0) return Throw(env, Code::kInvalidArg, "a static's name cannot contain NUL");
    if (low || (high && (k + 1 == length || units[k + 1] < 0xDC00 || units[k + 1] > 0xDFFF)))
      return Throw(env, Code::kInvalidArg, "a static's name must be well-formed Unicode");
    if (high) ++k;
  }
  return call.String(i, "a static's name", 4 * kMaxName, name);
}

bool GetTicket(const Call& call, size_t i, uint64_t* ticket) {
  int64_t number = 0;
  if (!call.Integer(i, "ticket", &number)) return false;
  if (number <= 0) return Throw(call.env(), Code::kInvalidArg, "not a share ticket");
  *ticket = static_cast<uint64_t>(number);
  return true;
}

// The three ways to make a dynamic variable: zero, one value for every CPU, a value per CPU.
// Every value is converted before anything is allocated.
enum class InitKind { kZero, kWith, kFrom };

template <InitKind kInit>
napi_value Allocate(napi_env env, napi_callback_info info) {
  Call call(env, info);
  TypeId type{};
  if (!call.Type(0, &type)) return nullptr;
  Status status;
  const Region* region = RequireRegion(&status);
  if (region == nullptr) return ThrowStatus(env, status), nullptr;
  std::vector<uint64_t> bits(kInit == InitKind::kZero ? 0 : kInit == InitKind::kWith ? 1 : region->nr_cpus);
  if constexpr (kInit == InitKind::kWith) {
    if (!ValueToBits(env, type, call[1], &bits[0])) return nullptr;
  } else if constexpr (kInit == InitKind::kFrom) {
    bool is_array = false;
    uint32_t length = 0;
    napi_is_array(env, call[1], &is_array);
    if (is_array) napi_get_array_length(env, call[1], &length);
    if (!is_array || length != region->nr_cpus)
      return Throw(env, Code::kInvalidArg, "expected an array of %u initial values, one per CPU", region->nr_cpus), nullptr;
    for (uint32_t cpu = 0; cpu < region->nr_cpus; ++cpu) {
      napi_value value;
      if (napi_get_element(env, call[1], cpu, &value) != napi_ok) return nullptr;  // a getter may throw
      if (!ValueToBits(env, type, value, &bits[cpu])) return nullptr;
    }
  }
  Allocation* allocation = AllocateDynamic(type, bits.data(), static_cast<uint32_t>(bits.size()), &status);
  if (allocation == nullptr) return ThrowStatus(env, status), nullptr;
  return NewHandleFor(env, allocation);
}

}  // namespace

// init(errorClasses): the named error classes of lib/core/errors.ts for this environment.
napi_value Init(napi_env env, napi_callback_info info) {
  Call call(env, info);
  if (call.TypeOf(0) != napi_object) return Throw(env, Code::kInvalidArg, "init() takes the error classes"), nullptr;
  RegisterErrorClasses(env, call[0]);
  return nullptr;
}

// setup(cpus, areaSize, backend, source): `source` names who chose the backend, for the reason line.
napi_value Setup(napi_env env, napi_callback_info info) {
  Call call(env, info);
  int64_t cpus = 0, area_size = 0;
  BackendRequest backend = BackendRequest::kAuto;
  if (!call.Integer(0, "cpus", &cpus) || !call.Integer(1, "areaSize", &area_size) || !GetBackendRequest(call, 2, &backend))
    return nullptr;
  std::string source = "setup()";
  if (call.TypeOf(3) == napi_string && !call.String(3, "source", 1 << 16, &source)) return nullptr;
  source.resize(std::min<size_t>(source.size(), 80));
  Status status;
  const Region* region = SetupRegion(cpus, area_size, backend, source.c_str(), &status);
  if (region == nullptr) return ThrowStatus(env, status), nullptr;
  return RegionObject(env, region);
}

napi_value GetRegionInfo(napi_env env, napi_callback_info) { return RegionObject(env, GetRegion()); }

napi_value BindCpu(napi_env env, napi_callback_info info) {
  Call call(env, info);
  int64_t cpu = 0;
  Status status;
  if (call.Integer(0, "cpu", &cpu) && !Bind(cpu, &status)) ThrowStatus(env, status);
  return nullptr;
}

napi_value UnbindCpu(napi_env env, napi_callback_info) {
  Status status;
  if (!Unbind(&status)) ThrowStatus(env, status);
  return nullptr;
}

// This thread's GS base (a bigint), for tests that check which backend is really in use; null
// where it cannot be read (no GS backend in this build).
napi_value GsBase(napi_env env, napi_callback_info) {
  uintptr_t base = 0;
  napi_value result;
  if (!ReadGsBaseForDiagnostics(&base)) napi_get_null(env, &result);
  else napi_create_bigint_uint64(env, static_cast<uint64_t>(base), &result);
  return result;
}

// smp_processor_id(): read from offset 0 of this CPU's area like Linux's cpu_number, through
// the active backend (%gs:0 on GS), so it also proves where the backend points.
napi_value ThisCpu(napi_env env, napi_callback_info) {
  ThreadState& self = tls_this_cpu;
  int32_t cpu = -1;
  if (Bound(self)) cpu = WithBackend([&]<class B>() { return B::template read<int32_t>(self, kCpuNumberOffset, 0, 0); });
  napi_value result;
  napi_create_int32(env, cpu, &result);
  return result;
}

napi_value PreemptDisable(napi_env env, napi_callback_info) {
  if (!ThisThreadBound()) return ThrowNotBound(env), nullptr;
  napi_value result;
  napi_create_uint32(env, ++tls_this_cpu.preempt_count, &result);
  return result;
}

napi_value PreemptEnable(napi_env env, napi_callback_info) {
  if (!ThisThreadBound() || tls_this_cpu.preempt_count == 0)
    return Throw(env, Code::kGuard, "no CpuGuard is held on this thread"), nullptr;
  napi_value result;
  napi_create_uint32(env, --tls_this_cpu.preempt_count, &result);
  return result;
}

napi_value PreemptCount(napi_env env, napi_callback_info) {
  napi_value result;
  napi_create_uint32(env, tls_this_cpu.preempt_count, &result);
  return result;
}

napi_value AllocateZero(napi_env env, napi_callback_info info) { return Allocate<InitKind::kZero>(env, info); }
napi_value AllocateWith(napi_env env, napi_callback_info info) { return Allocate<InitKind::kWith>(env, info); }
napi_value AllocateFrom(napi_env env, napi_callback_info info) { return Allocate<InitKind::kFrom>(env, info); }

// allocatePair(lo, hi): a u64 pair, 16 bytes aligned to 16 in every area, each CPU's set to (lo, hi).
napi_value AllocatePairJs(napi_env env, napi_callback_info info) {
  Call call(env, info);
  uint64_t lo, hi;
  if (!FromJs<TypeId::u64>(env, call[0], &lo) || !FromJs<TypeId::u64>(env, call[1], &hi)) return nullptr;
  Status status;
  Allocation* allocation = AllocatePair(lo, hi, &status);
  if (allocation == nullptr) return ThrowStatus(env, status), nullptr;
  return NewHandleFor(env, allocation);
}

napi_value DefineStaticJs(napi_env env, napi_callback_info info) {
  Call call(env, info);
  TypeId type{};
  uint64_t bits = 0;
  std::string name;
  if (!GetStaticName(call, 0, &name) || !call.Type(1, &type) || !ValueToBits(env, type, call[2], &bits)) return nullptr;
  Status status;
  Allocation* allocation = DefineStatic(name, type, bits, &status);
  if (allocation == nullptr) return ThrowStatus(env, status), nullptr;
  return NewHandleFor(env, allocation);  // statics ignore references
}

napi_value GetStaticJs(napi_env env, napi_callback_info info) {
  Call call(env, info);
  std::string name;
  if (!GetStaticName(call, 0, &name)) return nullptr;
  Allocation* allocation = FindStatic(name);
  if (allocation == nullptr) {
    napi_value null;
    napi_get_null(env, &null);
    return null;
  }
  return NewHandleFor(env, allocation);
}

// redeem(ticket, type, pair): the ticket's allocation as a new handle, which adopts the ticket's
// reference. A ticket of another kind than expected is refused and left unredeemed.
napi_value RedeemJs(napi_env env, napi_callback_info info) {
  Call call(env, info);
  uint64_t ticket = 0;
  TypeId type{};
  bool pair = false;
  if (!GetTicket(call, 0, &ticket) || !call.Type(1, &type)) return nullptr;
  if (call.TypeOf(2) != napi_boolean) return Throw(env, Code::kInvalidArg, "redeem() needs to know if a pair is expected"), nullptr;
  napi_get_value_bool(env, call[2], &pair);
  Status status;
  Allocation* allocation = Redeem(ticket, TicketKind{type, pair}, &status);
  if (allocation == nullptr) return ThrowStatus(env, status), nullptr;
  return NewHandleFor(env, allocation);
}

napi_value DropTicketJs(napi_env env, napi_callback_info info) {
  Call call(env, info);
  uint64_t ticket = 0;
  if (!GetTicket(call, 0, &ticket)) return nullptr;
  napi_value result;
  napi_get_boolean(env, DropTicket(ticket), &result);
  return result;
}

napi_value StatsJs(napi_env env, napi_callback_info) {
  const Stats stats = GetStats();  // read under the allocator's lock, built into JS after
  return ObjectBuilder(env)
      .Number("liveAllocations", static_cast<double>(stats.live_allocations))
      .Number("bytesInUse", static_cast<double>(stats.bytes_in_use))
      .Number("freeBytes", static_cast<double>(stats.free_bytes))
      .Number("largestFree", static_cast<double>(stats.largest_free))
      .Number("freeBlocks", static_cast<double>(stats.free_blocks))
      .Number("outstandingTickets", static_cast<double>(stats.tickets))
      .Build();
}

}  // namespace percpu
