"""The Slack side: Block Kit replies, per-channel settings, feedback and its reports, timeline pictures."""
