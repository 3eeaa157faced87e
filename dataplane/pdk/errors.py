"""The error a PDK call raises (a plugin in kong-pdk's Lua style gets it as the call's second
value instead)."""


class PDKError(Exception):
    """A PDK call that cannot do what it was asked; the message says why."""
