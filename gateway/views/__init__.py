"""What members read of a person: the access log (unified views for brands arrive later
and append to it too)."""
