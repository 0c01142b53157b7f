"""Market data: loading and validating files, venue calendars, the missing-data gate."""
