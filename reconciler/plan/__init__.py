"""Plans: plain data (actions with before/after, reason, cost, status), the pure planner, and the JSON codec."""
