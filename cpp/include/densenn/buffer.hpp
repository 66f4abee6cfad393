// Contiguous buffers aligned to 64 bytes (a cache line, and a whole AVX or
// AVX-512 register). Alignment is not only for speed: Eigen handles the
// elements before the first aligned address with scalar code, so a buffer
// that malloc placed differently would round differently. Aligned buffers
// make results independent of where the allocator put them.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace densenn {

template <class T>
struct AlignedAllocator {
  using value_type = T;
  static constexpr std::align_val_t alignment{64};

  AlignedAllocator() = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U>&) noexcept {}

  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), alignment)); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, alignment); }

  template <class U>
  bool operator==(const AlignedAllocator<U>&) const noexcept {
    return true;
  }
  template <class U>
  bool operator!=(const AlignedAllocator<U>&) const noexcept {
    return false;
  }
};

template <class T>
using Buffer = std::vector<T, AlignedAllocator<T>>;

}  // namespace densenn
