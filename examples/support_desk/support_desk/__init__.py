"""An example Signoff tool pack: a support desk. See `support_desk.pack` and the README beside it."""
