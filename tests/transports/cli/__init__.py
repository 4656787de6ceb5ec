"""Tests of the `orch` command line (orch.transports.cli), module by module."""
