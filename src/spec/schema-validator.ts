import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AnySchemaObject, ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import { packageRoot } from '../package-root.js';
import { validate as generatedValidate } from './generated/qvd-schema-validate.js';

export const schemaPath = (): string => join(packageRoot(), 'schemas', 'qvd.schema.json');

/**
 * How the validator is generated from the schema. allErrors so every mistake
 * of a file is reported in one run; verbose so errors carry the schema node
 * whose title and description word the message; strictRequired off because
 * `then: {required: [key]}` names a property declared by the enclosing
 * object; unicode off because ajv's standalone ESM code would otherwise
 * `require()` its string-length helper (our limits are ASCII-sized anyway).
 */
export const VALIDATOR_OPTIONS = {
  allErrors: true,
  verbose: true,
  strict: true,
  strictRequired: false,
  allowUnionTypes: true,
  unicode: false,
  logger: false,
  code: { source: true, esm: true, lines: false },
} as const;

/**
 * The validator is ajv's standalone code for schemas/qvd.schema.json, kept
 * in src/spec/generated (test/unit/spec/schema-validator.test.ts fails when
 * it is stale and rewrites it with QVD_UPDATE_GENERATED=1). Compiling the
 * schema at run time costs 100-300 ms per process, most of a no-op plan's
 * budget; loading the generated module costs ~15 ms.
 */
const validate = generatedValidate as unknown as ValidateFunction;

let schema: AnySchemaObject | undefined;

/** The schema itself, read on first use (error messages quote its titles and descriptions). */
export function rootSchema(): AnySchemaObject {
  schema ??= JSON.parse(readFileSync(schemaPath(), 'utf8')) as AnySchemaObject;
  return schema;
}

/** Schema errors of a parsed document (empty when it conforms). */
export function schemaErrors(value: unknown): ErrorObject[] {
  return validate(value) ? [] : [...(validate.errors ?? [])];
}
