"""Agent adapters: one class per agent CLI behind the AgentAdapter ABC."""
