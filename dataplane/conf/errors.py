"""The one exception the configuration loader raises."""


class ConfError(Exception):
    """Every problem found in a configuration, reported together.

    Each entry of ``errors`` reads ``<source>: <key>: <problem>``, where the source is
    ``<file>:<line>``, the environment variable's name, ``override`` or ``default``.
    """

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("invalid configuration:\n  " + "\n  ".join(self.errors))
