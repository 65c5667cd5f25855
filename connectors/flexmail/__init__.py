"""Flexmail REST API v1 connector: a Belgian mailing tool's contacts, their interests and list membership."""
