import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import standalone from 'ajv/dist/standalone/index.js';
import { describe, expect, it } from 'vitest';
import { rootSchema, schemaPath, schemaErrors, VALIDATOR_OPTIONS } from '../../../src/spec/schema-validator.js';

const GENERATED = fileURLToPath(new URL('../../../src/spec/generated/qvd-schema-validate.ts', import.meta.url));

/** The source of src/spec/generated/qvd-schema-validate.ts for the current schema. */
function generateValidatorSource(): string {
  const schema = JSON.parse(readFileSync(schemaPath(), 'utf8')) as object;
  const ajv = new Ajv2020({ ...VALIDATOR_OPTIONS, code: { ...VALIDATOR_OPTIONS.code } });
  // A CommonJS module: its default import is module.exports, whose `default` is the function.
  const code = standalone.default(ajv, ajv.compile(schema));
  return [
    '// @ts-nocheck',
    '/* eslint-disable */',
    '// GENERATED from schemas/qvd.schema.json by ajv standalone: do not edit.',
    '// Regenerate: QVD_UPDATE_GENERATED=1 npx vitest run test/unit/spec/schema-validator.test.ts',
    code,
    '',
  ].join('\n');
}

describe('generated schema validator', () => {
  it('is up to date with schemas/qvd.schema.json', () => {
    const expected = generateValidatorSource();
    if (process.env['QVD_UPDATE_GENERATED'] === '1') writeFileSync(GENERATED, expected);
    expect(readFileSync(GENERATED, 'utf8') === expected, 'stale: run QVD_UPDATE_GENERATED=1 npx vitest run test/unit/spec/schema-validator.test.ts').toBe(true);
  });

  it('accepts a minimal document and rejects an empty one', () => {
    expect(schemaErrors({ version: 1, nodes: [{ name: 'a', address: '10.0.0.1' }], images: [] })).toEqual([]);
    expect(schemaErrors({}).map((e) => e.keyword)).toContain('required');
  });

  it('describes every property', () => {
    const missing: string[] = [];
    type SchemaNode = { properties?: Record<string, SchemaNode & { description?: string }>; items?: SchemaNode; $defs?: Record<string, SchemaNode> };
    const walk = (node: SchemaNode | undefined, where: string): void => {
      if (node === undefined) return;
      for (const [name, schema] of Object.entries(node.properties ?? {})) {
        if (typeof schema.description !== 'string') missing.push(`${where}.${name}`);
        walk(schema, `${where}.${name}`);
      }
      walk(node.items, `${where}[]`);
      for (const [name, schema] of Object.entries(node.$defs ?? {})) walk(schema, `#/$defs/${name}`);
    };
    walk(rootSchema() as SchemaNode, '#');
    expect(missing).toEqual([]);
  });
});
