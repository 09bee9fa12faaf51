"""The error every layer raises for a bad config value (the message names the key)."""


class ConfigError(ValueError):
    """A config value that is well-typed but inconsistent; the message names the key."""
