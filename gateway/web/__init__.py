"""The person's pages: the sign-in chooser, the consent screen (and, later, the consent center)."""
