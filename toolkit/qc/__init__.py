"""seqqc's rules: each a pure function over arrays; the runner applies them in order."""
