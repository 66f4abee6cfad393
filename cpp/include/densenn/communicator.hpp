// The communicator: moves bytes between the processes (ranks) of a
// data-parallel group. Sequential uses it once per training step to gather
// the batch's predictions and to sum the flat gradient buffer in a fixed order
// (docs/distributed.md); the arithmetic stays in the core, so every
// implementation gives the same numbers.
//
// Every rank calls the same collectives in the same order. A collective waits
// at most timeout() for the others (and polls interruption_point() meanwhile),
// then throws ExchangeTimeout; after a failed collective the group is broken
// and every later one throws ExchangeError at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace densenn {

struct ExchangeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ExchangeTimeout : ExchangeError {
  using ExchangeError::ExchangeError;
};

// "0.5", "300": a timeout as messages show it.
std::string seconds_text(double seconds);

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // What it runs over, for messages ("MPI (MPICH ...)", "local group").
  virtual std::string description() const = 0;

  // data holds every rank's block end to end in rank order, rank q's of counts[q] bytes; this rank's block is
  // already in place. On return every block is.
  virtual void all_gather(void* data, const std::vector<std::size_t>& counts) = 0;
  // send holds one block per rank in rank order (send_counts[q] bytes for rank q); recv receives from each rank
  // q, in rank order, the block q addressed to this rank (recv_counts[q] bytes).
  virtual void all_to_all(const void* send, const std::vector<std::size_t>& send_counts, void* recv,
                          const std::vector<std::size_t>& recv_counts) = 0;

  std::chrono::duration<double> timeout() const { return timeout_; }
  void set_timeout(std::chrono::duration<double> timeout) { timeout_ = timeout; }
  // Time spent in the collectives so far (waiting for the other ranks included): the exchange's share of a step.
  double seconds() const { return seconds_; }
  void set_seconds(double seconds) { seconds_ = seconds; }

 protected:
  // Adds the time from its construction to its end to seconds(): one per collective.
  class Timing {
   public:
    explicit Timing(Communicator& c) : c_(c), start_(std::chrono::steady_clock::now()) {}
    ~Timing() { c_.seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }
    Timing(const Timing&) = delete;
    Timing& operator=(const Timing&) = delete;

   private:
    Communicator& c_;
    std::chrono::steady_clock::time_point start_;
  };

 private:
  std::chrono::duration<double> timeout_ = std::chrono::seconds(300);
  double seconds_ = 0;
};

// N ranks in one process (one Sequential per thread), exchanging through shared memory: the simulated group
// the tests compare with one process's block split, and a reference for the MPI communicator.
std::vector<std::shared_ptr<Communicator>> local_group(int size);

// The ranks of an MPI communicator, calling the MPI library already loaded in this process by mpi4py: library
// is the path of mpi4py's extension module (or of the MPI library), handle the communicator's C handle
// (MPI._handleof). Needs the MPICH binary interface
// (MPICH, Intel MPI, MVAPICH, Cray MPICH); throws ExchangeError naming the library otherwise.
std::shared_ptr<Communicator> mpi_communicator(const std::string& library, long long handle);

}  // namespace densenn
