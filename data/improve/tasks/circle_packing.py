import math


def algorithm(n):
    # Seed solution: equal circles on a k x k grid (k = ceil(sqrt(n))), filled
    # row by row; returns n [x, y, r] triples.
    k = math.ceil(math.sqrt(n))
    r = 0.5 / k
    return [[(i % k) * 2 * r + r, (i // k) * 2 * r + r, r] for i in range(n)]
