"""Ticketmatic (ticketing + CRM) connector: events, contacts and orders over REST API v1."""
