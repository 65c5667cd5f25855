"""Tixly CRM API v3 connector (Digitaal Podium box office)."""
