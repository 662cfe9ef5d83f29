import random


def algorithm(formula):
    # Seed solution: a plain random walk (Papadimitriou's algorithm). Start
    # from a random assignment; while some clause is unsatisfied, pick one at
    # random and flip one of its variables at random, for at most 100 steps.
    # Returns the assignment indexed by variable (index 0 unused).
    n = max(abs(lit) for clause in formula for lit in clause)
    value = [False] + [random.random() < 0.5 for _ in range(n)]
    for _ in range(100):
        unsatisfied = [c for c in formula if not any(value[abs(l)] == (l > 0) for l in c)]
        if not unsatisfied:
            break
        lit = random.choice(random.choice(unsatisfied))
        value[abs(lit)] = not value[abs(lit)]
    return value
