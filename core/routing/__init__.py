"""core/routing."""
