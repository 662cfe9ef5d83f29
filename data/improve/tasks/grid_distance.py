def algorithm(t, dist):
    # Seed solution: answer with t itself (grid_dist(t, t) counts only t's own
    # changes between neighbours, so it is right only by chance).
    return t
