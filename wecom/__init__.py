"""The WeCom integration: HTTP client, callback crypto and the sandbox.

Independent of our other apps: nothing here imports staff, campaigns or analytics.
"""
