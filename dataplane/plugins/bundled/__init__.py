"""Gantry's bundled plugins, one module each, in Kong's plugin shape (``Plugin``, ``Schema``,
``priority``, ``version``); their behaviour follows Kong's own plugin of the same name."""
