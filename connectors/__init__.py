"""Built-in vendor connectors (each registers through the podium.connectors entry-point group)."""
