"""The plan: a versioned value made by the planner, rendered for people, consumed by apply."""
