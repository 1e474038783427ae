"""Host steps: pure functions that return scripts. Nothing in this package opens a connection.

One executor layer runs them, either Pulumi's command provider on an ECS host or SSH to a sandbox host,
so both run the very same text.
"""
