"""``slipway server``: the control plane. :mod:`.app` (routes), :mod:`.ops` (use cases with an Actor),
:mod:`.config` (settings), :mod:`.client` (what the CLI calls when it goes through a server)."""
