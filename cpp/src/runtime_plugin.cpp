// The one symbol a libdensenn_<isa>.so exports (see runtime_table.hpp).
#include "runtime_table.hpp"

extern "C" __attribute__((visibility("default"))) const densenn::RuntimeTable* densenn_runtime_table() {
  return &densenn::runtime_table();
}
