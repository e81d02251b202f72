"""Renderers of a Plan: text for terminals, JSON for machines (and saved plans), Markdown for PR comments."""
