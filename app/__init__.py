"""The host half of Raindrop's deploy: release bundle, host steps, Pulumi wiring and the local sandbox."""
