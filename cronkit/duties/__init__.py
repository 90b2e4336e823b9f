"""The duties the block's `cronkit check` lines run: catch-up, missed slots, the check itself."""
