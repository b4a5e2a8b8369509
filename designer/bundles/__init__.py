"""The workspace bundle: published versions, compiled once per process, and publishing."""
