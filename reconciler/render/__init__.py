"""Renderers for people: a Plan as text for terminals or Markdown for PR comments, and `import`'s YAML.

The plan's JSON form is a codec, not a renderer: it lives with the plan (`plan/codec.py`).
"""
