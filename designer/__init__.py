"""tierwise designer: the web app (designer UI, entry forms, REST API) and the `tierwise` command line.

The web app itself is assembled by `designer.app.create_app`; importing this
package does not import Flask, so the engine commands start fast.
"""
