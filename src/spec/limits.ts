/**
 * Bounds that keep hostile or accidental input from exhausting the process.
 * Each is far above what a real qvd.yaml needs (10,000 VMs is ~1.3 MB).
 */

/** Files above this are refused before they are read into memory. */
export const MAX_SPEC_BYTES = 16 * 1024 * 1024;

/** Deeper YAML nesting is refused (the schema itself needs 5 levels). */
export const MAX_NESTING_DEPTH = 64;

/**
 * Aliases share one object in memory but every walker (ajv, checks) visits it
 * again per reference; this caps the nodes visited beyond the text's own size,
 * which defeats "billion laughs" documents.
 */
export const MAX_EXPANDED_NODES = 1_000_000;

/**
 * `yaml`'s document model costs ~1 s and ~230 MB of heap per megabyte of
 * input (10,000 VMs: ~1.2 MB). Above this size diagnostics keep their path
 * but get no line:column, rather than make describing an error take longer
 * than fixing it, or run out of memory.
 */
export const MAX_POSITION_PASS_BYTES = 2 * 1024 * 1024;

/** The same for the pass that rewords a syntax error: it only needs the text up to the error. */
export const MAX_SYNTAX_PASS_BYTES = 2 * 1024 * 1024;
