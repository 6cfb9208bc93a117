"""`rillet serve`: a web page that runs a workflow and shows every token as it arrives."""

from rillet.web.server import WebServer, serve, workflow_summary

__all__ = ["WebServer", "serve", "workflow_summary"]
