"""Data files shipped with the engine (see README.md here); a package so setuptools installs them as such."""
