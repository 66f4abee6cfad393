#include "densenn/buffer.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace densenn {
namespace {

// MemAvailable from /proc/meminfo (what the kernel can give without swapping), else free physical pages.
std::uint64_t machine_available() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::uint64_t kib;
  while (meminfo >> key >> kib) {
    if (key == "MemAvailable:") return kib * 1024;
    meminfo.ignore(256, '\n');
  }
#ifdef _SC_AVPHYS_PAGES
  const long pages = ::sysconf(_SC_AVPHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) return std::uint64_t(pages) * std::uint64_t(page);
#endif
  return UINT64_MAX;
}

// The address space left under RLIMIT_AS (ulimit -v, a container's or a test's cap): its limit less what the
// process has mapped already (/proc/self/statm's first field, in pages).
std::uint64_t address_space_left() {
  struct rlimit limit;
  if (::getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return UINT64_MAX;
  std::ifstream statm("/proc/self/statm");
  std::uint64_t pages = 0;
  const long page = ::sysconf(_SC_PAGESIZE);
  if (!(statm >> pages) || page <= 0) return UINT64_MAX;
  const std::uint64_t used = pages * std::uint64_t(page);
  return used >= limit.rlim_cur ? 0 : std::uint64_t(limit.rlim_cur) - used;
}

std::string gib(double bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g GiB", bytes / double(1ULL << 30));
  return text;
}

}  // namespace

std::uint64_t available_memory() { return std::min(machine_available(), address_space_left()); }

void check_allocation(double bytes, const std::string& what) {
  const std::uint64_t available = available_memory();
  if (available != UINT64_MAX && !(bytes <= double(available)))
    throw OutOfMemory(what + " needs " + gib(bytes) + ", more than the " + gib(double(available)) +
                      " of memory available.");
}

}  // namespace densenn
