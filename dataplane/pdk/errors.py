"""The error a PDK call raises (a plugin in kong-pdk's Lua style gets it as the call's second
value instead)."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    _Base = Exception
else:
    try:
        # kong-pdk plugins run without Lua style catch ``PDKException``: PDKError is one
        from kong_pdk.exception import PDKException as _Base
    except ImportError:
        _Base = Exception


class PDKError(_Base):
    """A PDK call that cannot do what it was asked; the message says why."""
