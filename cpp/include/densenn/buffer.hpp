// Contiguous buffers aligned to 64 bytes (a cache line, and a whole AVX or
// AVX-512 register). Alignment is not only for speed: Eigen handles the
// elements before the first aligned address with scalar code, so a buffer
// that malloc placed differently would round differently. Aligned buffers
// make results independent of where the allocator put them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
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

// Sizes computed from a configuration (a layer's units, a metric's thresholds, a batch's rows) are checked
// against the memory the process can get before anything of that size is allocated, so that a huge argument
// is a clear error rather than std::bad_alloc (or the kernel's OOM killer) part-way through.

// Bytes this process can still allocate: the machine's available memory (Linux's MemAvailable, else the free
// physical pages), lowered to the address space left under an RLIMIT_AS cap; UINT64_MAX when nothing says.
std::uint64_t available_memory();

// A std::bad_alloc (MemoryError in Python) that says what needed how much, and how much there was.
class OutOfMemory : public std::bad_alloc {
 public:
  explicit OutOfMemory(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

// Throws OutOfMemory("<what> needs <bytes>, more than the <available> of memory available.") when `bytes`
// exceeds available_memory(). A double: a size computed from a configuration may exceed 2^64.
void check_allocation(double bytes, const std::string& what);

}  // namespace densenn
