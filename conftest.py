"""Repository-level pytest configuration.

The conformance plugin is normally registered through its ``pytest11`` entry point (after
``pip install -e .``); this makes it available from a plain checkout too.  The entry point's
name is the module's name, so pytest never registers it twice.
"""

pytest_plugins = ["conformance.plugin.hooks"]
