"""claudeai models: OpenAI chat completions translated to Anthropic's Messages API and back."""
