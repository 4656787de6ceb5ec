"""What becomes of a finished task's branch: its diff against the base, and delivery (push, pull request, merge)."""
