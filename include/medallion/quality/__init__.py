"""Quality gates: Great Expectations suites with our severity semantics, run where data lives."""
