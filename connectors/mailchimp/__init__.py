"""Mailchimp Marketing API v3 connector: the members of a house's audience (list) as contacts."""
