"""A progress bar whose text matches Keras 3's `keras.utils.Progbar`.

Deliberate differences from Keras 3.15 (keras/src/utils/progbar.py):
- Keras treats every POSIX process as a dynamic display ("posix" in sys.modules), so log files get
  backspaces, carriage returns and ANSI codes. Here only a TTY, a Jupyter/Colab kernel or PyCharm is dynamic.
- Keras' non-dynamic mode writes a fresh line every `interval`; here it writes only the final line, so a
  log file gets one line per epoch. ANSI colours are used only on a dynamic display.
- Every metric is shown as given: densenn passes running means already.
"""
import math
import os
import sys
import time

_BOLD, _GREEN, _WHITE, _RESET = "\x1b[1m", "\x1b[32m", "\x1b[37m", "\x1b[0m"


def _is_dynamic(file):
    try:
        if file.isatty():
            return True
    except (AttributeError, ValueError):  # no isatty, or a closed file
        pass
    # Notebooks (Jupyter, Colab) and PyCharm render \r in the output they capture from stdout/stderr.
    shown = file is sys.stdout or file is sys.stderr
    return shown and ("ipykernel" in sys.modules or "PYCHARM_HOSTED" in os.environ)


def _format_value(v, use_abs=True):
    try:
        v = float(v)
    except TypeError:  # an array: Keras shows its mean
        import numpy as np
        v = float(np.mean(v))
    # Keras' verbose=1 tests abs(v) > 1e-3, its verbose=2 line tests v > 1e-3 (so negatives get %.4e there).
    return f"{v:.4f}" if (abs(v) if use_abs else v) > 1e-3 else f"{v:.4e}"


def _format_time(seconds, unit_name):
    if seconds >= 1 or seconds == 0:
        return f" {seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f" {seconds * 1e3:.0f}ms/{unit_name}"
    return f" {seconds * 1e6:.0f}us/{unit_name}"


def _format_eta(eta):
    if eta > 3600:
        return "%d:%02d:%02d" % (eta // 3600, (eta % 3600) // 60, eta % 60)
    if eta > 60:
        return "%d:%02d" % (eta // 60, eta % 60)
    return "%ds" % eta


class Progbar:
    """Displays a progress bar.

    Same arguments, in the same order, as `keras.utils.Progbar`, plus `file` (default: sys.stdout at write time).
    `stateful_metrics` is accepted for compatibility; every value is displayed as given.
    """

    _now = staticmethod(time.monotonic)  # tests replace this to control time

    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None, unit_name="step",
                 file=None):
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stateful_metrics = set(stateful_metrics or ())
        self.file = file
        self._dynamic_display = _is_dynamic(file if file is not None else sys.stdout)
        self._values = {}  # name -> latest value, in first-seen order
        self._seen_so_far = 0
        self._start = self._now()
        self._last_update = -math.inf
        self._time_after_first_step = None
        self._prev_total_width = 0

    def update(self, current, values=None, finalize=None):
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        if isinstance(values, dict):
            values = values.items()
        for k, v in values or ():
            self._values[k] = v
        self._seen_so_far = current
        now = self._now()
        time_per_unit = self._estimate_step_duration(current, now)

        if self.verbose == 1:
            # Throttle (and off a live display wait for the last step) before building any text: per-batch
            # calls then stay cheap.
            if not finalize and (now - self._last_update < self.interval or not self._dynamic_display):
                return
            self._write(self._line(current, finalize, now, time_per_unit))
        elif self.verbose == 2 and finalize and self._has_target():
            info = f"{self._count(current)} - {now - self._start:.0f}s -"
            info += _format_time(time_per_unit, self.unit_name)
            info += "".join(f" - {k}: {_format_value(v, use_abs=False)}" for k, v in self._values.items())
            self._write(info + "\n")
        self._last_update = now

    def add(self, n, values=None):
        self.update(self._seen_so_far + n, values)

    def _has_target(self):
        return self.target is not None and self.target > 0

    def _count(self, current):
        return f"%{int(math.log10(self.target)) + 1}d/%d" % (current, self.target)

    def _line(self, current, finalize, now, time_per_unit):
        style = (lambda code, s: f"{code}{s}{_RESET}") if self._dynamic_display else (lambda code, s: s)
        if self._has_target():
            filled = int(self.width * current / self.target)
            bar = [(_BOLD, self._count(current)), (None, " "), (_GREEN, "━" * filled),
                   (_WHITE, "━" * (self.width - filled))]
        else:
            bar = [(None, "%7d/Unknown" % current)]
        if self._has_target() and not finalize:
            clock = _format_eta(time_per_unit * (self.target - current))
        else:
            clock = f"{now - self._start:.0f}s"  # elapsed time once the epoch is done
        tail = _format_time(time_per_unit, self.unit_name)
        tail += "".join(f" - {k}: {_format_value(v)}" for k, v in self._values.items())
        parts = bar + [(None, " "), (_BOLD, clock), (None, tail)]

        # Keras leaves out the green part when it is empty but always writes the grey one.
        text = "".join(s if code is None else style(code, s) for code, s in parts if s or code == _WHITE)
        width = sum(len(s) for _, s in parts)
        if self._dynamic_display:
            # Keras backs up over the previous line, returns the carriage, and blanks what is left of it.
            text = "\b" * self._prev_total_width + "\r" + text + " " * max(self._prev_total_width - width, 0)
        self._prev_total_width = width
        return text + ("\n" if finalize else "")

    def _write(self, text):
        out = self.file if self.file is not None else sys.stdout
        out.write(text)
        out.flush()

    def _estimate_step_duration(self, current, now):
        # Like Keras, leave the first (compiling, warming up) step out of the estimate once there are more.
        if not current:
            return 0
        if self._time_after_first_step is not None and current > 1:
            per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return per_unit
