#include "allocator.h"

#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace percpu {

namespace {

// First-fit over a map of free blocks (offset -> length), merged on free. Offsets and
// lengths are within [kReservedBytes, area_size).
class AreaAllocator {
 public:
  void Reset(uint32_t begin, uint32_t end) {
    free_.clear();
    free_[begin] = end - begin;
  }

  bool Allocate(uint32_t size, uint32_t align, uint32_t* offset) {
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      const uint32_t start = it->first, length = it->second;
      const uint32_t aligned = (start + align - 1) & ~(align - 1);
      if (aligned + static_cast<uint64_t>(size) > static_cast<uint64_t>(start) + length) continue;
      free_.erase(it);
      if (aligned > start) free_[start] = aligned - start;
      const uint32_t tail = start + length - (aligned + size);
      if (tail > 0) free_[aligned + size] = tail;
      *offset = aligned;
      return true;
    }
    return false;
  }

  void Free(uint32_t offset, uint32_t size) {
    auto next = free_.lower_bound(offset);
    if (next != free_.end() && offset + size == next->first) {
      size += next->second;
      next = free_.erase(next);
    }
    if (next != free_.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second == offset) {
        prev->second += size;
        return;
      }
    }
    free_[offset] = size;
  }

  void Measure(Stats* stats) const {
    for (const auto& [offset, length] : free_) {
      stats->free_bytes += length;
      stats->free_blocks += 1;
      if (length > stats->largest_free) stats->largest_free = length;
    }
  }

 private:
  std::map<uint32_t, uint32_t> free_;
};

// Everything below is guarded by g_alloc_mutex. No op path takes it: ops read only their
// handle's cached offset. Nothing under it calls out of the core (no JS can run under it).
std::mutex g_alloc_mutex;
bool g_allocator_ready = false;
AreaAllocator g_allocator;
std::deque<Allocation> g_allocations;  // records are never destroyed: pointers stay valid
std::vector<uint32_t> g_free_ids;
std::unordered_map<std::string, Allocation*> g_statics;
std::unordered_map<uint64_t, Allocation*> g_tickets;
uint64_t g_next_ticket = 1;
uint64_t g_live = 0, g_bytes = 0;

// The value's bits, stored into every CPU's slot of a `type` variable at `offset`.
void StoreBits(const Region* region, TypeId type, uint32_t offset, const uint64_t* bits, uint32_t count) {
  DispatchType(type, [&]<TypeId id>() {
    using T = typename Numeric<id>::T;
    for (uint32_t cpu = 0; cpu < region->nr_cpus; ++cpu)
      __atomic_store_n(RemotePtr<T>(region, cpu, offset), static_cast<T>(bits[count == 1 ? 0 : cpu]), __ATOMIC_RELAXED);
    return 0;
  });
}

// The allocator covers the region's areas from the first use after set-up (the region knows
// nothing of the allocator).
void EnsureReadyLocked(const Region* region) {
  if (g_allocator_ready || region == nullptr) return;
  g_allocator.Reset(kReservedBytes, region->area_size);
  g_allocator_ready = true;
}

Allocation* AllocateLocked(const Region* region, TypeId type, bool pair) {
  EnsureReadyLocked(region);
  const uint32_t size = pair ? kPairSize : kTypes[static_cast<int>(type)].size;
  uint32_t offset;
  if (!g_allocator.Allocate(size, size, &offset)) return nullptr;
  Allocation* allocation;
  if (!g_free_ids.empty()) {
    allocation = &g_allocations[g_free_ids.back()];
    g_free_ids.pop_back();
  } else {
    g_allocations.emplace_back();
    allocation = &g_allocations.back();
    allocation->id = static_cast<uint32_t>(g_allocations.size() - 1);
  }
  allocation->type = type;
  allocation->offset = offset;
  allocation->size = size;
  allocation->refs = 1;
  allocation->live = true;
  allocation->is_static = false;
  allocation->pair = pair;
  allocation->static_init = 0;
  allocation->name.clear();
  for (uint32_t cpu = 0; cpu < region->nr_cpus; ++cpu) memset(region->Area(cpu) + offset, 0, size);
  ++g_live;
  g_bytes += size;
  return allocation;
}

void FreeLocked(Allocation* allocation) {
  g_allocator.Free(allocation->offset, allocation->size);
  allocation->live = false;
  g_free_ids.push_back(allocation->id);
  --g_live;
  g_bytes -= allocation->size;
}

bool FailNoSpace(const char* what, Status* status) {
  Stats stats{};
  g_allocator.Measure(&stats);
  return status->Fail(Code::kNoSpace, "the per-CPU area is full: no room for %s (%llu bytes free, largest block %llu)",
                      what, (unsigned long long)stats.free_bytes, (unsigned long long)stats.largest_free);
}

}  // namespace

Allocation* AllocateDynamic(TypeId type, const uint64_t* bits, uint32_t count, Status* status) {
  const Region* region = RequireRegion(status);
  if (region == nullptr) return nullptr;
  if (count != 0 && count != 1 && count != region->nr_cpus) {
    status->Fail(Code::kInvalidArg, "expected 0, 1 or %u initial values, got %u", region->nr_cpus, count);
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  Allocation* allocation = AllocateLocked(region, type, false);  // zeroed on every CPU
  if (allocation == nullptr) {
    char what[32];
    snprintf(what, sizeof what, "a %s", kTypes[static_cast<int>(type)].name);
    FailNoSpace(what, status);
    return nullptr;
  }
  if (count > 0) StoreBits(region, type, allocation->offset, bits, count);
  return allocation;
}

Allocation* AllocatePair(uint64_t lo, uint64_t hi, Status* status) {
  const Region* region = RequireRegion(status);
  if (region == nullptr) return nullptr;
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  Allocation* allocation = AllocateLocked(region, TypeId::u64, true);
  if (allocation == nullptr) {
    FailNoSpace("a u64 pair", status);
    return nullptr;
  }
  for (uint32_t cpu = 0; cpu < region->nr_cpus; ++cpu) {
    uint64_t* pair = RemotePtr<uint64_t>(region, cpu, allocation->offset);
    __atomic_store_n(&pair[0], lo, __ATOMIC_RELAXED);
    __atomic_store_n(&pair[1], hi, __ATOMIC_RELAXED);
  }
  return allocation;
}

Allocation* DefineStatic(const std::string& name, TypeId type, uint64_t init_bits, Status* status) {
  const Region* region = RequireRegion(status);
  if (region == nullptr) return nullptr;
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  auto found = g_statics.find(name);
  if (found != g_statics.end()) {
    Allocation* allocation = found->second;
    if (allocation->type == type && allocation->static_init == init_bits) return allocation;
    status->Fail(Code::kConflict, "per-CPU static '%.64s' is already defined as %s with another initial value or type",
                 name.c_str(), kTypes[static_cast<int>(allocation->type)].name);
    return nullptr;
  }
  Allocation* allocation = AllocateLocked(region, type, false);
  if (allocation == nullptr) {
    FailNoSpace("a static", status);
    return nullptr;
  }
  allocation->is_static = true;
  allocation->static_init = init_bits;
  allocation->name = name;
  // Filled under the lock, so another thread defining the same name never sees it half set.
  StoreBits(region, type, allocation->offset, &init_bits, 1);
  g_statics.emplace(name, allocation);
  return allocation;
}

Allocation* FindStatic(const std::string& name) {
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  auto found = g_statics.find(name);
  return found == g_statics.end() ? nullptr : found->second;
}

void GetRef(Allocation* allocation) {
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  allocation->refs++;
}

void PutRef(Allocation* allocation) {
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  if (allocation->is_static) return;  // statics live as long as the region
  if (--allocation->refs == 0) FreeLocked(allocation);
}

int64_t RefCount(const Allocation* allocation) {
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  return allocation->live ? allocation->refs : 0;
}

uint64_t Share(Allocation* allocation) {
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  allocation->refs++;
  const uint64_t ticket = g_next_ticket++;
  g_tickets.emplace(ticket, allocation);
  return ticket;
}

Allocation* Redeem(uint64_t ticket, TicketKind expected, Status* status) {
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  auto found = g_tickets.find(ticket);
  if (found == g_tickets.end()) {
    status->Fail(Code::kReleased, "share ticket %llu is unknown or was already redeemed", (unsigned long long)ticket);
    return nullptr;
  }
  Allocation* allocation = found->second;
  if (allocation->pair != expected.pair || (!expected.pair && allocation->type != expected.type)) {
    status->Fail(Code::kInvalidArg, "share ticket %llu is for a %s, not a %s", (unsigned long long)ticket,
                 allocation->pair ? "u64 pair" : kTypes[static_cast<int>(allocation->type)].name,
                 expected.pair ? "u64 pair" : kTypes[static_cast<int>(expected.type)].name);
    return nullptr;
  }
  g_tickets.erase(found);
  return allocation;  // the ticket's reference now belongs to the caller
}

bool DropTicket(uint64_t ticket) {
  Allocation* allocation;
  {
    std::lock_guard<std::mutex> lock(g_alloc_mutex);
    auto found = g_tickets.find(ticket);
    if (found == g_tickets.end()) return false;
    allocation = found->second;
    g_tickets.erase(found);
  }
  PutRef(allocation);
  return true;
}

Stats GetStats() {
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  EnsureReadyLocked(GetRegion());
  Stats stats{};
  stats.live_allocations = g_live;
  stats.bytes_in_use = g_bytes;
  stats.tickets = g_tickets.size();
  g_allocator.Measure(&stats);
  return stats;
}

}  // namespace percpu
