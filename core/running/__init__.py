"""core/running."""
