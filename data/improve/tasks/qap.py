import math
import random

import numpy as np


def algorithm(F, D, P):
    # Seed solution: simulated annealing over swaps of two facilities' locations,
    # lowering the objective sum_ij F[i,j] D[a[i],a[j]] - 0.5 sum_i P[i,a[i]];
    # 500 steps, temperature from 1.0 down by 1% a step.
    n = len(F)

    def objective(a):
        return float((F * D[np.ix_(a, a)]).sum() - 0.5 * P[np.arange(n), a].sum())

    current = list(range(n))
    current_value = objective(current)
    best, best_value = current[:], current_value
    temperature = 1.0
    for _ in range(500):
        temperature *= 0.99
        i, j = random.sample(range(n), 2)
        candidate = current[:]
        candidate[i], candidate[j] = candidate[j], candidate[i]
        value = objective(candidate)
        if value < current_value or random.random() < math.exp((current_value - value) / temperature):
            current, current_value = candidate, value
            if value < best_value:
                best, best_value = candidate[:], value
    return best
