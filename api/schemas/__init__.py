"""Request (``…Create``) and response (``…Public``) schemas of the HTTP API, kept apart from the stored records."""
