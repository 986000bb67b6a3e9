"""Answer use case and its parts: evidence, budgets, abstention, extractive answers, citations, attribution."""
