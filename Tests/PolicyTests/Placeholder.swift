// Placeholder; remove once the module has tests.
