"""The OpenID Provider: Authlib's server core behind a thin Starlette adapter."""
