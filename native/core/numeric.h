// The numeric types of PerCpuNumeric, as one table. Converting their values from and to JS is the
// binding's (native/binding/convert.h).
//
// Every list of types in the addon is generated from PERCPU_NUMERIC_TYPES, the way Linux's
// arch/x86/include/asm/percpu.h generates every op from one table of sizes.
#pragma once

#include <cstdint>
#include <limits>
#include <type_traits>

namespace percpu {

// X(name, C type, held in a JS bigint)
// Values of the 64-bit and pointer-sized types do not fit a double exactly, so JS passes bigints.
#define PERCPU_NUMERIC_TYPES(X)  \
  X(i8, int8_t, false)           \
  X(i16, int16_t, false)         \
  X(i32, int32_t, false)         \
  X(i64, int64_t, true)          \
  X(isize, intptr_t, true)       \
  X(u8, uint8_t, false)          \
  X(u16, uint16_t, false)        \
  X(u32, uint32_t, false)        \
  X(u64, uint64_t, true)         \
  X(usize, uintptr_t, true)

enum class TypeId : uint8_t {
#define PERCPU_ENUM(name, ctype, big) name,
  PERCPU_NUMERIC_TYPES(PERCPU_ENUM)
#undef PERCPU_ENUM
  kCount
};

constexpr int kTypeCount = static_cast<int>(TypeId::kCount);

struct TypeInfo {
  const char* name;
  uint32_t size;  // natural alignment == size for every numeric type here
  bool big;
};

constexpr TypeInfo kTypes[] = {
#define PERCPU_INFO(name, ctype, big) {#name, sizeof(ctype), big},
    PERCPU_NUMERIC_TYPES(PERCPU_INFO)
#undef PERCPU_INFO
};

// Traits keyed by TypeId, not by C type: int64_t and intptr_t are the same C type on x86-64.
template <TypeId id>
struct Numeric;
#define PERCPU_TRAITS(tname, ctype, is_big)     \
  template <>                                   \
  struct Numeric<TypeId::tname> {               \
    using T = ctype;                            \
    static constexpr bool kBig = is_big;        \
    static constexpr const char* kName = #tname; \
  };
PERCPU_NUMERIC_TYPES(PERCPU_TRAITS)
#undef PERCPU_TRAITS

// Calls fn.template operator()<id>() for the TypeId known only at run time. Cold paths only:
// the hot ops are instantiated per type when their JS functions are created.
template <typename Fn>
inline auto DispatchType(TypeId id, Fn&& fn) {
  switch (id) {
#define PERCPU_CASE(name, ctype, big) \
  case TypeId::name:                  \
    return fn.template operator()<TypeId::name>();
    PERCPU_NUMERIC_TYPES(PERCPU_CASE)
#undef PERCPU_CASE
    default:
      __builtin_unreachable();
  }
}

}  // namespace percpu
