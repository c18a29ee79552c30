"""How people reach vessels: Tailscale (ephemeral nodes) and the user's SSH config."""
