"""The embedded default backend: one append-only JSONL file per channel under the data dir, locked with
``flock``, read positions in JSON files, waits woken by inotify. Nothing to run; see docs/storage.md."""
