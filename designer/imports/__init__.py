"""Data in and out at scale: importing CSV and XLSX files into records, exporting filtered lists.

Imports stream the file a row at a time and save every row through the
store's one save pipeline (validated exactly like forms and the API), each
row in a SAVEPOINT, either in one transaction (all-or-nothing) or in
committed batches that can be resumed. Exports walk a list with the list
page's filters and scope, a page at a time.
"""
