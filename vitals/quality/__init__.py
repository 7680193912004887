"""Data quality per point and day: coverage, gaps, stuck sensors, implausible values."""
