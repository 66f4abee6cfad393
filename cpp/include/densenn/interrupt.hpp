// Stopping a long computation from outside (Ctrl-C in Python). A thread that
// runs a DataPass or a predict may install a check for as long as an
// InterruptCheck lives; the core calls interruption_point() where stopping is
// safe (between batches, between layers, between the blocks of a large
// product or activation; never inside an optimizer update), which asks the
// check at most once per interval and throws Interrupted when it says stop.
// Without a check installed, an interruption point costs one thread-local
// read. Other threads (OpenMP's team included) never see the check.
#pragma once

#include <chrono>
#include <ctime>
#include <exception>

namespace densenn {

// The checks' clock: where the system has one, the kernel's coarse monotonic clock, whose tick (a few ms) is
// fine enough for intervals of tens of ms and which reads in a quarter of the time (4 ns against 17 on a KVM
// Xeon) of the precise one that std::chrono::steady_clock reads; a one-row predict reads it once per layer.
struct CheckClock {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<CheckClock>;
  static constexpr bool is_steady = true;
  static time_point now() noexcept {
#ifdef CLOCK_MONOTONIC_COARSE
    timespec t;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
    return time_point(std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec));
#else
    return time_point(std::chrono::duration_cast<duration>(std::chrono::steady_clock::now().time_since_epoch()));
#endif
  }
};

struct Interrupted : std::exception {
  const char* what() const noexcept override { return "interrupted"; }
};

class InterruptCheck {
 public:
  using Clock = CheckClock;
  // check(context) runs on the installing thread; true means stop.
  using Function = bool (*)(void* context);

  InterruptCheck(Function check, void* context, Clock::duration interval = std::chrono::milliseconds(50))
      : check_(check), context_(context), interval_(interval), next_(Clock::now() + interval), previous_(current()) {
    current() = this;
  }
  ~InterruptCheck() { current() = previous_; }
  InterruptCheck(const InterruptCheck&) = delete;
  InterruptCheck& operator=(const InterruptCheck&) = delete;

 private:
  friend void interruption_point();
  friend bool interruption_check_installed();
  static InterruptCheck*& current() {
    thread_local InterruptCheck* installed = nullptr;
    return installed;
  }

  Function check_;
  void* context_;
  Clock::duration interval_;
  Clock::time_point next_;
  InterruptCheck* previous_;
};

// Whether the calling thread has a check installed (a wait may then run in slices, asking it between them).
inline bool interruption_check_installed() { return InterruptCheck::current() != nullptr; }

// Throws Interrupted when the calling thread's check (if any, and if its interval has passed) says stop.
inline void interruption_point() {
  InterruptCheck* check = InterruptCheck::current();
  if (!check) return;
  const auto now = InterruptCheck::Clock::now();
  if (now < check->next_) return;
  check->next_ = now + check->interval_;
  if (check->check_(check->context_)) throw Interrupted();
}

}  // namespace densenn
