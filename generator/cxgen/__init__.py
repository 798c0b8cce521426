"""cxgen: generate a firewalled Docker sandbox for AI coding agents, per project."""

__version__ = "0.4.0"
