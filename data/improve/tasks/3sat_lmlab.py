import random


def algorithm(n_vars, clauses):
    # Seed solution: a random assignment. clauses: [[lit, lit, lit], ...] with
    # literal k > 0 meaning variable k is true and -k meaning it is false.
    return [random.random() < 0.5 for _ in range(n_vars)]
