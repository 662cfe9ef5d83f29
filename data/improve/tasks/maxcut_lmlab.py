import random


def algorithm(n_nodes, edges):
    # Seed solution: put each node on a random side. edges: [[u, v, weight], ...]
    return [random.randint(0, 1) for _ in range(n_nodes)]
