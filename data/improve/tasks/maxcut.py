import numpy as np


def algorithm(adjacency_matrix):
    # Seed solution: one greedy pass. Nodes are placed in order, each on the
    # side opposite the larger weight of its edges to nodes already placed.
    n = len(adjacency_matrix)
    side = [0] * n
    weight_to = np.zeros((2, n))  # weight_to[s, v]: v's edge weight to placed nodes on side s
    for v in range(n):
        s = 1 if weight_to[0, v] > weight_to[1, v] else 0
        side[v] = s
        weight_to[s] += adjacency_matrix[v]
    return side
