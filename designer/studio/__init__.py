"""The web designer (设计器): admins build forms, rules and workflows in the browser and publish them.

`views` holds the blueprint (pages and the JSON API), `drafts` the workspace
draft, `roundtrip` comment-keeping YAML edits, `keys` field keys from labels,
`check` the expression editor's helpers, `tester` the rule tester, `effects`
what a publish would set in motion (beside `designer.bundles.impact`),
`versions` history and rollback, and `templates_market` the industry
templates under examples/. The pages' templates and scripts are in
`templates/studio/` and `static/`.
"""
