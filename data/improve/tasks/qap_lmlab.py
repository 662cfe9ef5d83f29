def algorithm(flow, distance, placement_cost):
    # Seed solution: facility i goes to location i.
    return list(range(len(flow)))
