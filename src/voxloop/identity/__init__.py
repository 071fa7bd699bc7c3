"""One customer across channels: identity resolution, manual rules, the customer file."""

from voxloop.identity.resolve import ResolveOptions, ResolveResult, resolve

__all__ = ["ResolveOptions", "ResolveResult", "resolve"]
