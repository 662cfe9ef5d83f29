def algorithm(a, b):
    # Seed solution: half the number of positions where the strings differ.
    return sum(x != y for x, y in zip(a, b)) // 2
