"""Runs test cases in a child process, so that a case which crashes the interpreter (segfault, abort,
os._exit) or hangs fails that one test instead of taking the whole pytest run down.

``Worker(path)`` starts one child (a fresh interpreter, never a fork of pytest: forking a process that holds
OpenMP or other thread pools can deadlock), which imports the module at `path` once. ``worker.call(name,
arg)`` runs ``module.name(arg)`` there and returns ``(ok, message)``: ``(True, '')`` when it returned,
``(False, traceback)`` when it raised (assertion failures included), and ``(False, report)`` when the child
died or ran past the time limit (the report gives the exit code or signal and the tail of its stderr). A
dead or hung child is replaced by a fresh one at the next call.

Run as a script, this file is the child: it reads one JSON request per line on stdin and writes one JSON
reply per line on a private copy of stdout (the case's own prints go to stderr)."""
import faulthandler
import importlib.util
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import traceback

STDERR_TAIL = 3000  # bytes of the child's stderr quoted when it dies


class Worker:
    def __init__(self, module_path, start_timeout=120.0, call_timeout=60.0):
        self.module_path = os.fspath(module_path)
        self.start_timeout = start_timeout
        self.call_timeout = call_timeout
        self.starts = 0  # how many children were started (one, unless some died)
        self._process = None

    def call(self, name, arg=None, timeout=None):
        """Runs ``module.name(arg)`` in the child; ``(ok, message)``."""
        if self._process is None:
            problem = self._start()
            if problem:
                return False, problem
        timeout = self.call_timeout if timeout is None else timeout
        try:
            self._process.stdin.write(json.dumps({"call": name, "arg": arg}) + "\n")
            self._process.stdin.flush()
        except BrokenPipeError:  # it died after its last reply
            return False, self._died(f"{name}({arg!r})", hung=False)
        reply = self._reply(timeout)
        if not isinstance(reply, dict):
            return False, self._died(f"{name}({arg!r})", hung=reply == "timeout", timeout=timeout)
        return reply["ok"], reply["message"]

    def close(self):
        if self._process is not None:
            try:
                self._process.stdin.close()  # the child's loop ends at the end of its input
                self._process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
            self._stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ internals
    def _start(self):
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), self.module_path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True, bufsize=1)
        self.starts += 1
        self._replies = queue.Queue()
        threading.Thread(target=self._read, args=(self._process.stdout, self._replies), daemon=True).start()
        reply = self._reply(self.start_timeout)
        if isinstance(reply, dict) and reply["ok"]:
            return None
        if isinstance(reply, dict):  # the import raised
            self._stop()
            return f"the worker could not start: {reply['message']}"
        return "the worker could not start: " + self._died("the import", reply == "timeout", self.start_timeout)

    @staticmethod
    def _read(stream, replies):
        for line in stream:
            replies.put(json.loads(line))
        replies.put("end of file")  # the child is gone, or going

    def _reply(self, timeout):
        """The next reply (a dict), "end of file" or "timeout"."""
        try:
            return self._replies.get(timeout=timeout)
        except queue.Empty:
            return "timeout"

    def _died(self, what, hung, timeout=None):
        """The report on a child that died (or hung, and is killed) while running `what`."""
        if not hung:
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                hung, timeout = True, 30  # it closed its output but does not exit
        if hung:
            self._process.kill()
        code = self._process.wait()
        if hung:
            how = f"hung: no reply after {timeout:g} s (killed)"
        elif code < 0:
            try:
                how = f"killed by signal {signal.Signals(-code).name} (exit code {code})"
            except ValueError:
                how = f"killed by signal {-code}"
        else:
            how = f"exited with code {code}"
        self._stderr.seek(max(0, self._stderr.seek(0, os.SEEK_END) - STDERR_TAIL))
        tail = self._stderr.read().decode("utf-8", errors="replace")
        self._stop()
        return f"the worker process {how} while running {what}; its stderr ends with:\n{tail}"

    def _stop(self):
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        for stream in (self._process.stdin, self._process.stdout, self._stderr):
            try:
                stream.close()
            except OSError:
                pass
        self._process = None


def _child(module_path):
    faulthandler.enable()  # a crash writes the Python stack to stderr, which the report quotes
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # the cases' prints (and C-level writes to fd 1) go to stderr, not into the replies
    sys.stdout = sys.stderr
    try:
        sys.path.insert(0, os.path.dirname(os.path.abspath(module_path)))
        spec = importlib.util.spec_from_file_location("_isolated_cases", module_path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except BaseException:
        replies.write(json.dumps({"ok": False, "message": traceback.format_exc()}) + "\n")
        return
    replies.write(json.dumps({"ok": True, "message": ""}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        try:
            getattr(module, request["call"])(request["arg"])
            reply = {"ok": True, "message": ""}
        except BaseException:  # assertion failures, pytest.fail, SystemExit, ...
            reply = {"ok": False, "message": traceback.format_exc()}
        sys.stderr.flush()
        replies.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    _child(sys.argv[1])
