"""rioagent: a terminal coding agent for Rio-3.5-Open and the Qwen3.5 family."""

__version__ = "0.1.0"
