"""The demo alliance's own apps: three member platforms and one brand, each a small
FastAPI app built only on the SDK (``sdk``), started beside the gateway by
``accord demo up`` (``make run``). See ``examples/README.md``."""
