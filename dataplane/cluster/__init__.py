"""The data plane's side of the control-plane link (hybrid mode)."""
