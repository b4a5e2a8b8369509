"""REST API blueprint (filled in by the API module)."""
from flask import Blueprint

bp = Blueprint("api", __name__)
