# lmlab improve: runs a candidate solution on task instances inside the
# sandbox. The host keeps the answers; this program only sees the inputs.
#
# stdin:  {"code": str, "entry": "algorithm", "instances": [[arg, ...], ...],
#          "numpy_args": [indices of args to pass as numpy arrays],
#          "time_limit": seconds per instance, "seed": int, "marker": str}
# stdout: the marker, then one JSON line {"results": [{"output", "seconds", "error"}]}
import json
import os
import signal
import sys
import time

# The clocks and the alarm handler as they are before the candidate loads:
# the runner measures with these references, and a candidate that replaces
# the module's functions (to look fast) is reported as tampering.
CLOCKS = {name: getattr(time, name) for name in
          ("perf_counter", "perf_counter_ns", "time", "time_ns", "monotonic", "monotonic_ns", "process_time")}
perf_counter = time.perf_counter

request = json.loads(sys.stdin.read())
# The candidate's prints go to stderr; only this program writes the result.
result_fd = os.dup(1)
os.dup2(2, 1)
sys.stdout = sys.stderr


def to_plain(x, depth=0):
    """Outputs to JSON, keeping their shape (numpy arrays become nested lists)."""
    if depth > 6:
        return None
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, (list, tuple)):
        return [to_plain(v, depth + 1) for v in x]
    if isinstance(x, (bool, int, float, str)) or x is None:
        return x
    return repr(x)[:200]


results = []
namespace = {"__name__": "solution"}
try:
    exec(compile(request["code"], "solution.py", "exec"), namespace)
    entry = namespace[request["entry"]]
except BaseException as e:  # a syntax error or a missing function: every instance fails
    entry = None
    load_error = type(e).__name__ + ": " + str(e)[:300]

import random

numpy_args = set(request.get("numpy_args", []))
try:
    import numpy as np
except ImportError:
    np = None


class SlowInstance(BaseException):
    pass


def on_alarm(signum, frame):
    raise SlowInstance()


signal.signal(signal.SIGALRM, on_alarm)


def tampering():
    """What the candidate changed in the time measurement, or None."""
    for name, clock in CLOCKS.items():
        if getattr(time, name, None) is not clock:
            return "time." + name + " replaced"
    if signal.getsignal(signal.SIGALRM) is not on_alarm:
        return "the SIGALRM handler replaced"
    return None


timed_out = False
tampered = None
for index, args in enumerate(request["instances"]):
    # Seeded per instance, so a randomised candidate scores the same twice.
    random.seed(request["seed"] + index)
    if np is not None:
        np.random.seed((request["seed"] + index) % 2**32)
    if entry is None:
        results.append({"output": None, "seconds": 0.0, "error": load_error})
        continue
    if timed_out:  # as in the paper's utilities, one slow instance ends the evaluation
        results.append({"output": None, "seconds": 0.0, "error": "skipped after a slow instance"})
        continue
    tampered = tampered or tampering()  # loading the module may have done it
    if tampered:
        results.append({"output": None, "seconds": 0.0, "error": None, "tampered": tampered})
        continue
    call_args = [np.array(a) if i in numpy_args else a for i, a in enumerate(args)]
    start = perf_counter()
    # An alarm interrupts a hung instance; the host's wall clock backs it up.
    signal.setitimer(signal.ITIMER_REAL, request["time_limit"] * 1.5 + 0.05)
    try:
        out = entry(*call_args)
        signal.setitimer(signal.ITIMER_REAL, 0)
        results.append({"output": to_plain(out), "seconds": perf_counter() - start, "error": None})
    except BaseException as e:
        signal.setitimer(signal.ITIMER_REAL, 0)
        seconds = perf_counter() - start
        if isinstance(e, SlowInstance) or seconds > request["time_limit"]:
            timed_out = True
            results.append({"output": None, "seconds": seconds, "error": None})
        else:
            results.append({"output": None, "seconds": seconds, "error": type(e).__name__ + ": " + str(e)[:300]})
    if results[-1]["seconds"] > request["time_limit"]:
        timed_out = True
    tampered = tampering()
    if tampered:
        results[-1]["tampered"] = tampered

payload = request["marker"] + "\n" + json.dumps({"results": results}, allow_nan=True) + "\n"
os.write(result_fd, payload.encode())
