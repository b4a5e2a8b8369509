"""The REST API under /api/v1: everything the pages do, as JSON."""
