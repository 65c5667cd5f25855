"""Yesplan (planning tool): events over a moving date window, optional custom data per event."""
