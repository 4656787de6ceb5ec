"""core/schedule."""
