"""A plugin for precedence tests: sets X-Tag upstream to its config's tag, so a test sees which
config of the plugin a request ran with."""

from dataplane.schema import Field
from dataplane.schema.fields import record

priority = 800
version = "1.0.0"
Schema = record(("tag", Field("string", required=True)), required=True)


class Plugin:
    def __init__(self, config):
        self.tag = config["tag"]

    def access(self, kong):
        kong.service.request.set_header("X-Tag", self.tag)
