# The keep-best seed improver (`--seed-improver keep-best`, lmlab's earlier I0):
# one batched model call for budget - 1 rewrites at temperature 0.7; the
# initial solution is kept unless a rewrite beats it. extract_code is provided
# by the runner.


def improve_algorithm(initial_solution, utility, language_model):
    """Returns a better version of initial_solution according to utility."""
    role = ("You are a researcher and programmer who writes fast, correct Python "
            "and finds clever algorithmic improvements.")
    request = (
        "Here is a program to improve:\n```python\n" + initial_solution + "\n```\n"
        "It is scored by this function:\n```python\n" + utility.str + "\n```\n"
        "First state one idea in a sentence, then give the whole improved program "
        "in a single ```python code block. Prefer a new, substantial improvement "
        "over small tweaks.")
    n = max(1, min(language_model.max_responses_per_call, utility.budget - 1))
    replies = language_model.batch_prompt(role, [request] * n, temperature=0.7)
    best, best_score = initial_solution, run_utility(utility, initial_solution)
    for reply in replies:
        candidate = extract_code(reply)
        if not candidate:
            continue
        score = run_utility(utility, candidate)
        if score > best_score:
            best, best_score = candidate, score
    return best


def run_utility(utility, code, use_sandbox=True):
    """Scores code with the utility; a failure counts as 0. Keep use_sandbox=True."""
    try:
        return utility(code, use_sandbox=use_sandbox)
    except Exception:
        return 0.0
