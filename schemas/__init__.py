"""JSON Schemas of the tierwise bundle format (draft 2020-12), shipped as package data."""
