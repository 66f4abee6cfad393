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
#include <exception>

namespace densenn {

struct Interrupted : std::exception {
  const char* what() const noexcept override { return "interrupted"; }
};

class InterruptCheck {
 public:
  using Clock = std::chrono::steady_clock;
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
