# lmlab improve: runs an improver inside the sandbox. The improver reaches the
# language model and the utility only through the host, over JSON lines on
# fds 3 (requests) and 4 (responses); the host counts and enforces every
# budget. The budget numbers below are copies for the improver's planning:
# changing them changes nothing but the improver's own behaviour.
#
# Files: /box/improver.py, /box/initial_solution.py, /box/config.json.
import json
import os
import re
import sys

_requests = os.fdopen(3, "w")
_responses = os.fdopen(4, "r")
sys.stdout = sys.stderr  # the improver's prints are logs


def _call(message):
    _requests.write(json.dumps(message) + "\n")
    _requests.flush()
    line = _responses.readline()
    if not line:
        raise RuntimeError("the host closed the channel")
    reply = json.loads(line)
    if "error" in reply:
        raise RuntimeError(reply["error"])
    return reply["result"]


class LanguageModel:
    def __init__(self, budget, max_responses_per_call):
        self.budget = budget
        self.max_responses_per_call = max_responses_per_call

    def batch_prompt(self, expertise, message_batch, temperature=0.7):
        """One model call: one reply per message (at most max_responses_per_call)."""
        if isinstance(message_batch, str):
            message_batch = [message_batch]
        return _call({"op": "lm", "system": str(expertise), "messages": [str(m) for m in message_batch],
                      "temperature": float(temperature)})

    def prompt(self, expertise, message, temperature=0.7):
        return self.batch_prompt(expertise, [message], temperature)[0]


class Utility:
    def __init__(self, description, budget):
        self.str = description
        self.budget = budget

    def __call__(self, solution, use_sandbox=True):
        """The hidden utility, evaluated by the host: a number in [0, 1]."""
        return _call({"op": "utility", "solution": solution if isinstance(solution, str) else repr(solution),
                      "use_sandbox": use_sandbox is True})


def _looks_like_diff(text):
    return re.search(r"^@@ .*@@", text, re.MULTILINE) is not None


def _apply_diff(diff, current):
    """Applies a unified diff to current; None when it is not one or a hunk
    does not match. Line numbers in the hunk headers are not trusted (small
    models get them wrong): each hunk's old lines are looked for after the
    previous hunk, then anywhere; trailing spaces are ignored."""
    hunks, hunk = [], None
    for line in diff.splitlines():
        if line.startswith("@@"):
            hunk = ([], [])
            hunks.append(hunk)
        elif hunk is None or line.startswith("\\"):  # file headers; "\ No newline at end of file"
            continue
        elif line.startswith("+"):
            hunk[1].append(line[1:])
        elif line.startswith("-"):
            hunk[0].append(line[1:])
        elif line.startswith(" ") or line == "":
            hunk[0].append(line[1:])
            hunk[1].append(line[1:])
        else:
            return None
    lines = current.splitlines()
    at = 0
    for old, new in hunks:
        while old and not old[-1].strip() and new and not new[-1].strip():
            old, new = old[:-1], new[:-1]  # blank lines before the closing fence
        if not old:
            return None  # an insertion without context: nowhere to put it
        key = [l.rstrip() for l in old]

        def find(start):
            for i in range(start, len(lines) - len(old) + 1):
                if [l.rstrip() for l in lines[i:i + len(old)]] == key:
                    return i
            return None

        pos = find(at)
        if pos is None:
            pos = find(0)
        if pos is None:
            return None
        lines[pos:pos + len(old)] = new
        at = pos + len(new)
    return "\n".join(lines) + "\n" if hunks else None


def _extract(text, current):
    """(code, outcome) of a reply; see extract_code."""
    if not isinstance(text, str):
        return "", "none"
    blocks = re.findall(r"^```(\w*)[^\n]*\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    code_blocks = [b for tag, b in blocks if tag.lower() != "diff" and not _looks_like_diff(b)]
    if code_blocks:
        return max(code_blocks, key=len).strip() + "\n", "fenced_block"
    if re.search(r"^def \w+\(", text, re.MULTILINE) and not _looks_like_diff(text):
        try:
            compile(text, "reply", "exec")
            return text.strip() + "\n", "whole_reply"
        except (SyntaxError, ValueError):
            pass
    if isinstance(current, str):
        for diff in [b for tag, b in blocks if tag.lower() == "diff" or _looks_like_diff(b)] + [text]:
            if _looks_like_diff(diff):
                patched = _apply_diff(diff, current)
                if patched is not None:
                    return patched, "diff"
    return "", "none"


def extract_code(text, current=None):
    """The code of a model reply ('' when there is none): the largest fenced
    block, as the paper's helper picks it; failing that, the whole reply when
    it is a Python program defining a function (small local models often
    answer without fences); failing that, a unified diff in the reply applied
    to `current` (by default the code this improver was given to improve).
    Fences count only at the start of a line, so code that builds prompts
    with ``` inside string literals is not cut short. Each call's outcome is
    counted by the host (the round table's extraction column)."""
    code, outcome = _extract(text, initial_solution if current is None else current)
    try:
        _call({"op": "extraction", "outcome": outcome})
    except Exception:
        pass  # counting must never break extraction
    return code


def run(code, use_sandbox=True):
    """Runs Python source and returns the names it defines. The paper's sandbox
    experiment gives improvers this helper: keep use_sandbox=True. (The host
    runs every program in its sandbox whatever the flag says, and counts the
    calls that turn it off.)"""
    if use_sandbox is not True:
        _call({"op": "sandbox_off"})
    names = {"__name__": "run"}
    exec(compile(code, "run.py", "exec"), names)
    return names


config = json.load(open("/box/config.json"))
namespace = {"__name__": "improver", "extract_code": extract_code, "run": run}
initial_solution = open("/box/initial_solution.py").read()
exec(compile(open("/box/improver.py").read(), "improver.py", "exec"), namespace)
improved = namespace["improve_algorithm"](
    initial_solution,
    Utility(config["utility_description"], config["utility_budget"]),
    LanguageModel(config["lm_budget"], config["samples_per_call"]),
)
_call({"op": "result", "type": type(improved).__name__,
       "solution": improved if isinstance(improved, str) else None})
