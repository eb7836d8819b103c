"""The shipped configuration. Installed as the package data `watcher.defaults` so that
`watcher demo` finds the shipped watches on any install."""
