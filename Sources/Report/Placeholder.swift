// Placeholder so the package resolves; remove once the module has sources.
