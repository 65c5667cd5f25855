"""Recreatex (Gantner/Syx) WebShop connector: culture events, persons and culture reservations over SOAP."""
