"""Kunstenpunt API v1 connector: Flemish performing-arts performances and organisations."""
