"""What keeps data safe at cronkit's edges: secrets redacted, payloads encrypted, text safe for
terminals and JSON parsers, outside input checked, files written whole."""
