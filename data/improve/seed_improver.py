# The seed improver I0 of `--seed-improver paper` (the default), with the
# semantics of the STOP paper's seed (microsoft/stop,
# tasks/meta_optimization/seed_algorithm.py): one batched model call asking
# for min(max responses per call, utility budget) rewrites at temperature
# 0.7, and the best of the *new* candidates by the utility, even when every
# one scores below the initial solution. With no code in any reply it
# returns None, which scores 0, as the paper's max() over nothing did.
# The wording of the request is lmlab's. extract_code is provided by the
# runner.


def improve_algorithm(initial_solution, utility, language_model):
    """Asks the language model for rewrites of initial_solution and returns the best one."""
    role = ("You are an expert programmer and computer science researcher who is "
            "especially good at making algorithms better.")
    request = (
        "Improve this program:\n```python\n" + initial_solution + "\n```\n"
        "It is scored by this function:\n```python\n" + utility.str + "\n```\n"
        "Return an improved program. Aim for a new, substantial idea rather than "
        "a small tweak: state the idea first, then give the whole program in one "
        "```python code block.")
    n = max(1, min(language_model.max_responses_per_call, utility.budget))
    replies = language_model.batch_prompt(role, [request] * n, temperature=0.7)
    best, best_score = None, None
    for reply in replies:
        candidate = extract_code(reply)
        if not candidate:
            continue
        try:
            score = utility(candidate, use_sandbox=True)
        except Exception:
            score = 0.0
        if best is None or score > best_score:
            best, best_score = candidate, score
    return best
