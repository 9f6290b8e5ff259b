// Allocations in the per-CPU areas: dynamic variables (reference counted), named statics, u64
// pairs, and share tickets that carry a reference from one thread to another.
//
// INVARIANT: every live allocation is [offset, offset + size) inside every CPU's area, with
// offset >= kReservedBytes, offset + size <= area_size, and offset aligned to size; no two live
// allocations overlap. A record (Allocation) is never destroyed, so pointers to it stay valid;
// `live` says whether its offsets are still allocated.
#pragma once

#include <cstdint>
#include <string>

#include "numeric.h"
#include "region.h"
#include "status.h"

namespace percpu {

struct Allocation {
  uint32_t id;          // index in the record table, reused after free
  TypeId type;
  uint32_t offset;
  uint32_t size;
  int64_t refs;         // handles plus outstanding share tickets
  bool live;
  bool is_static;
  bool pair;            // a 16-byte pair of u64 (cmpxchgDouble), type u64
  uint64_t static_init; // raw bits of a static's initial value, for conflict checks
  std::string name;
};

constexpr uint32_t kPairSize = 16;

// A new dynamic variable with one reference. Every CPU's slot is set before any other thread can
// see the allocation: `bits` holds `count` raw values (the value's two's-complement bits): 0
// zeroes every slot, 1 gives every CPU that value, nr_cpus gives CPU n bits[n]. Fails with
// kNoSpace when the area is full (nothing allocated).
Allocation* AllocateDynamic(TypeId type, const uint64_t* bits, uint32_t count, Status* status);
// A u64 pair (16 bytes, aligned to 16, as cmpxchg16b needs), every CPU's set to (lo, hi).
Allocation* AllocatePair(uint64_t lo, uint64_t hi, Status* status);
// Looks up or creates the static `name` (its slots set to `init_bits` the first time); the same
// name with another type or initial value fails with kConflict. Statics live as long as the region.
Allocation* DefineStatic(const std::string& name, TypeId type, uint64_t init_bits, Status* status);
// The static `name`, or nullptr.
Allocation* FindStatic(const std::string& name);

void GetRef(Allocation* allocation);
void PutRef(Allocation* allocation);  // frees the offsets when the last reference goes
int64_t RefCount(const Allocation* allocation);

// Sharing across threads: a ticket carries one reference until it is redeemed or dropped.
uint64_t Share(Allocation* allocation);
// What a redeemer expects a ticket to be: a variable of `type`, or a pair.
struct TicketKind {
  TypeId type;
  bool pair;
};
// The ticket's allocation, whose reference now belongs to the caller. Fails with kReleased for an
// unknown or already redeemed ticket and kInvalidArg when it is not of the expected kind; a
// failed redeem leaves the ticket as it was.
Allocation* Redeem(uint64_t ticket, TicketKind expected, Status* status);
// Gives back the ticket's reference. False if it was unknown or already redeemed.
bool DropTicket(uint64_t ticket);

struct Stats {
  uint64_t live_allocations;
  uint64_t bytes_in_use;
  uint64_t free_bytes;
  uint64_t largest_free;
  uint64_t free_blocks;
  uint64_t tickets;
};
Stats GetStats();

}  // namespace percpu
