"""core/ops."""
