// mpi_communicator(): the ranks of an MPI communicator, through the MPI library that mpi4py already loaded.
//
// Nothing here is compiled against MPI: the handful of functions used are looked up at run time (dlopen with
// RTLD_NOLOAD of mpi4py's extension module, then dlsym, which searches the MPI library it is linked to: the very
// instance mpi4py initialised), declared with the MPICH binary
// interface, which MPICH has kept since 3.1 (2014) and Intel MPI, MVAPICH and Cray MPICH share: handles are
// ints, and the constants below are fixed by it. So the package builds and runs without MPI, and the same build
// works with any MPICH-family library. Open MPI's interface (pointer handles) is refused by name.
#include "densenn/communicator.hpp"
#include "densenn/interrupt.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <climits>
#include <memory>
#include <cstdio>
#include <numeric>
#include <thread>

namespace densenn {
namespace {

using Clock = std::chrono::steady_clock;

// The MPICH binary interface (mpi.h of MPICH >= 3.1).
using MpiComm = int;
using MpiDatatype = int;
using MpiRequest = int;
constexpr MpiDatatype kMpiByte = 0x4c00010d;
constexpr MpiRequest kMpiRequestNull = 0x2c000000;
constexpr int kMpiSuccess = 0;
constexpr int kMpiMaxLibraryVersion = 8192;
constexpr int kMpiMaxErrorString = 512;
void* const kMpiInPlace = reinterpret_cast<void*>(-1);
void* const kMpiStatusIgnore = reinterpret_cast<void*>(1);

struct MpiFunctions {
  int (*initialized)(int*);
  int (*finalized)(int*);
  int (*get_library_version)(char*, int*);
  int (*error_string)(int, char*, int*);
  int (*comm_rank)(MpiComm, int*);
  int (*comm_size)(MpiComm, int*);
  int (*iallgatherv)(const void*, int, MpiDatatype, void*, const int*, const int*, MpiDatatype, MpiComm,
                     MpiRequest*);
  int (*ialltoallv)(const void*, const int*, const int*, MpiDatatype, void*, const int*, const int*, MpiDatatype,
                    MpiComm, MpiRequest*);
  int (*test)(MpiRequest*, int*, void*);
};

template <class F>
void resolve(void* library, const char* name, F*& f, const std::string& path) {
  f = reinterpret_cast<F*>(dlsym(library, name));
  if (!f) throw ExchangeError("'" + path + "' is not linked to an MPI library (" + name + " not found).");
}

// The library's first line ("MPICH Version: 4.1.2", "Intel(R) MPI Library 2021.10 ...", "Open MPI v5.0.3 ...").
std::string first_line(const char* text) {
  std::string s(text);
  const std::size_t end = s.find('\n');
  s = s.substr(0, end);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  return s;
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(const std::string& path, long long handle) {
    void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
    if (!library) {
      const char* why = dlerror();  // (null after the first call)
      throw ExchangeError("'" + path + "' is not loaded in this process (import mpi4py.MPI first): " +
                          std::string(why ? why : "dlopen failed") + ".");
    }
    // (RTLD_NOLOAD took a reference on a library that mpi4py keeps loaded: given back here)
    const std::unique_ptr<void, int (*)(void*)> reference(library, &dlclose);
    resolve(library, "MPI_Initialized", mpi_.initialized, path);
    resolve(library, "MPI_Finalized", mpi_.finalized, path);
    resolve(library, "MPI_Get_library_version", mpi_.get_library_version, path);
    resolve(library, "MPI_Error_string", mpi_.error_string, path);
    resolve(library, "MPI_Comm_rank", mpi_.comm_rank, path);
    resolve(library, "MPI_Comm_size", mpi_.comm_size, path);
    resolve(library, "MPI_Iallgatherv", mpi_.iallgatherv, path);
    resolve(library, "MPI_Ialltoallv", mpi_.ialltoallv, path);
    resolve(library, "MPI_Test", mpi_.test, path);
    std::vector<char> version(kMpiMaxLibraryVersion + 1, '\0');
    int length = 0;
    mpi_.get_library_version(version.data(), &length);
    library_ = first_line(version.data());
    const bool mpich_abi = library_.find("MPICH") != std::string::npos ||
                           library_.find("Intel(R) MPI") != std::string::npos ||
                           library_.find("MVAPICH") != std::string::npos;
    if (!mpich_abi)
      throw ExchangeError("densenn's data parallelism needs an MPI library with MPICH's binary interface (MPICH, "
                          "Intel MPI, MVAPICH, Cray MPICH); mpi4py ('" + path + "') loaded '" + library_ +
                          "'. Install mpi4py over MPICH (pip install mpi4py mpich) or build mpi4py against one.");
    if (handle < INT_MIN || handle > INT_MAX)
      throw ExchangeError("MPI communicator handle " + std::to_string(handle) + " is not an MPICH handle (an int).");
    comm_ = MpiComm(handle);
    int initialized = 0, finalized = 0;
    mpi_.initialized(&initialized);
    mpi_.finalized(&finalized);
    if (!initialized || finalized) throw ExchangeError("MPI is not initialized (or already finalized).");
    check(mpi_.comm_rank(comm_, &rank_), "MPI_Comm_rank");
    check(mpi_.comm_size(comm_, &size_), "MPI_Comm_size");
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string description() const override { return "MPI (" + library_ + ")"; }

  void all_gather(void* data, const std::vector<std::size_t>& counts) override {
    const Timing timing(*this);
    usable();
    const std::vector<int> n = ints(counts, "all_gather"), at = offsets(n);
    MpiRequest request = kMpiRequestNull;
    check(mpi_.iallgatherv(kMpiInPlace, 0, kMpiByte, data, n.data(), at.data(), kMpiByte, comm_, &request),
          "MPI_Iallgatherv");
    wait(request, "MPI_Iallgatherv");
  }

  void all_to_all(const void* send, const std::vector<std::size_t>& send_counts, void* recv,
                  const std::vector<std::size_t>& recv_counts) override {
    const Timing timing(*this);
    usable();
    const std::vector<int> sn = ints(send_counts, "all_to_all"), rn = ints(recv_counts, "all_to_all");
    const std::vector<int> sat = offsets(sn), rat = offsets(rn);
    MpiRequest request = kMpiRequestNull;
    check(mpi_.ialltoallv(send, sn.data(), sat.data(), kMpiByte, recv, rn.data(), rat.data(), kMpiByte, comm_,
                          &request),
          "MPI_Ialltoallv");
    wait(request, "MPI_Ialltoallv");
  }

 private:
  void usable() const {
    if (!broken_.empty()) throw ExchangeError(broken_);
  }

  void check(int code, const char* what) {
    if (code == kMpiSuccess) return;
    char text[kMpiMaxErrorString + 1] = {};
    int length = 0;
    if (mpi_.error_string(code, text, &length) != kMpiSuccess) std::snprintf(text, sizeof text, "error %d", code);
    broken_ = "rank " + std::to_string(rank_) + ": " + what + " failed: " + text;
    throw ExchangeError(broken_);
  }

  std::vector<int> ints(const std::vector<std::size_t>& counts, const char* what) const {
    if (counts.size() != std::size_t(size_))
      throw ExchangeError(std::string(what) + ": expected " + std::to_string(size_) + " counts, got " +
                          std::to_string(counts.size()) + ".");
    std::vector<int> n;
    std::size_t total = 0;
    for (std::size_t c : counts) {
      total += c;
      n.push_back(int(c));
    }
    if (total > std::size_t(INT_MAX))
      throw ExchangeError(std::string(what) + ": " + std::to_string(total) + " bytes exceed MPI's int counts.");
    return n;
  }

  static std::vector<int> offsets(const std::vector<int>& counts) {
    std::vector<int> at(counts.size(), 0);
    if (!counts.empty()) std::partial_sum(counts.begin(), counts.end() - 1, at.begin() + 1);
    return at;
  }

  // Polls the request until it completes, Ctrl-C is pressed (Interrupted) or the timeout passes. Polling
  // (instead of MPI_Wait) is what lets a stuck or dead peer end in an error rather than a hang. MPICH moves a
  // large message a piece per call, so the poll never sleeps (as MPI_Wait, it keeps its core busy); it yields
  // the core to any other thread that is ready to run.
  void wait(MpiRequest& request, const char* what) {
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout());
    for (;;) {
      int done = 0;
      check(mpi_.test(&request, &done, kMpiStatusIgnore), "MPI_Test");
      if (done) return;
      const auto now = Clock::now();
      try {
        interruption_point();
      } catch (const Interrupted&) {
        broken_ = "rank " + std::to_string(rank_) + " was interrupted during " + what +
                  "; the exchange cannot be resumed.";
        throw;
      }
      if (now >= deadline) {
        broken_ = "rank " + std::to_string(rank_) + " of " + std::to_string(size_) + " waited " +
                  seconds_text(timeout().count()) + " s in " + what +
                  " for the other ranks (one is stuck, failed or gone)";
        throw ExchangeTimeout(broken_);
      }
      std::this_thread::yield();
    }
  }

  MpiFunctions mpi_{};
  std::string library_;
  MpiComm comm_ = 0;
  int rank_ = 0, size_ = 1;
  std::string broken_;  // why the communicator failed: an abandoned request may still be pending
};

}  // namespace

std::shared_ptr<Communicator> mpi_communicator(const std::string& library, long long handle) {
  return std::make_shared<MpiCommunicator>(library, handle);
}

}  // namespace densenn
