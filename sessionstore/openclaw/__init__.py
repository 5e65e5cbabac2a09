"""OpenClaw compatibility: merge rules and, later, state directories and transcripts."""
