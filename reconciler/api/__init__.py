"""Talking to the QuantConnect API v2: auth, transport, retries and response parsing."""
