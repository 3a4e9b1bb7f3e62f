"""What makes agents react without a person relaying: hooks, watchers, the auto-review loop and channel
pushes. Only the ``relay`` CLI and ``relay-stdio`` use these, so they live with them, not in ``shared``."""
