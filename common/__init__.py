"""Domain-free helpers shared by the apps and the WeCom sandbox (database bulk
loading). Imports nothing of ours; see docs/adr/0002-bulk-loading-with-copy.md."""
