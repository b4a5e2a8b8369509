"""Lists out of the workspace: XLSX and CSV files of what a list shows, at once or, when long, in the
background with progress."""
