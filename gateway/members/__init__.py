"""The member registry: platforms and brands, their contacts, URIs, keys and purposes."""
