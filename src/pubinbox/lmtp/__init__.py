"""LMTP delivery for pubinbox serve --lmtp."""
