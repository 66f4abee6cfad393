// Prints the faster x86-64 levels the build machine runs (CMakeLists.txt asks it at configure time, so that a
// source build compiles only the modules this CPU can load).
#include <cstdio>

#include "cpu_features.hpp"

int main() {
  for (const char* isa : {"x86-64-v3", "x86-64-v4"})
    if (densenn::cpu_supports(isa)) std::printf("%s;", isa);
  return 0;
}
