"""Development aids that run on this machine only (never part of the service).

`anthropic_double` is a local stand-in for Anthropic's Messages API, so the real SDK path can be
exercised over real HTTP without a key or a network.
"""
