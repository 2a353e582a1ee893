"""Profile attributes platforms push, the unified views brands read of them, and the
access log of every read."""
