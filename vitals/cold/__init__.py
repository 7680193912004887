"""The cold store: object backends, keys, raw pulls, the point catalogue, day files."""
