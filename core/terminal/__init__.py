"""core/terminal."""
