"""evalgate: the regression gate for machine-learning and LLM changes."""

__version__ = "0.1.0"
