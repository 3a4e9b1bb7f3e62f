"""The relay's library: configuration, validation, the channel store, read positions and logs.

Nothing here imports from ``relay_stdio`` or ``relay_web``; both front ends build on this package.
"""

__version__ = "0.1.0"
