"""core/tasks."""
