"""Settings: ``base`` is the embedded default (SQLite, filesystem broker, local
memory cache) and reads every knob from the environment; ``production`` hardens
it and requires the secrets."""
