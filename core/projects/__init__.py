"""core/projects."""
