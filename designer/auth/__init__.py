"""Users, roles, teams, logins, API tokens — and which records each user may see."""
