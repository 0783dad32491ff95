// Placeholder; remove once the target has tests.
