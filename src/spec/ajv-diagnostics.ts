import type { AnySchemaObject, ErrorObject } from 'ajv/dist/2020.js';
import type { Diagnostic } from './diagnostic.js';
import { closestMatch } from './did-you-mean.js';
import { formatPath, pathFromJsonPointer } from './spec-path.js';

/**
 * Turns ajv's raw errors into one readable diagnostic per mistake. Raw errors
 * repeat themselves: a misspelt key is both "unknown property" and "missing
 * required property"; an `if`/`then` adds a wrapper error; a bad map key comes
 * as `pattern` plus `propertyNames`. The schema is written to avoid oneOf
 * (whose failures explode into one error per branch), and what remains is
 * grouped here.
 */

const TYPE_WORDS: Readonly<Record<string, string>> = {
  string: 'a string',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
  null: 'empty',
};

/** How a found value is named in a message. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return value.length > 60 ? `${JSON.stringify(value.slice(0, 57))}...` : JSON.stringify(value);
  return String(value);
}

/** The schema node at an ajv schemaPath (`#/$defs/node/properties/name`). */
function schemaAt(root: AnySchemaObject, pointer: string): AnySchemaObject | undefined {
  let node: unknown = root;
  for (const raw of pointer.replace(/^#\/?/, '').split('/')) {
    if (raw === '') continue;
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return typeof node === 'object' && node !== null ? (node as AnySchemaObject) : undefined;
}

/** The object schema a `required` error belongs to (its `then` wrapper stripped). */
function ownerObjectSchema(root: AnySchemaObject, schemaPath: string): AnySchemaObject | undefined {
  return schemaAt(root, schemaPath.replace(/\/required$/, '').replace(/\/then$/, ''));
}

const propertyNamesOf = (schema: AnySchemaObject | undefined): string[] =>
  schema !== undefined && typeof schema['properties'] === 'object' && schema['properties'] !== null
    ? Object.keys(schema['properties'] as object)
    : [];

function propertyDescription(schema: AnySchemaObject | undefined, property: string): string | undefined {
  const properties = schema?.['properties'] as Record<string, AnySchemaObject> | undefined;
  const description = properties?.[property]?.['description'];
  return typeof description === 'string' ? description : undefined;
}

function titleOf(error: ErrorObject): string | undefined {
  const title = error.parentSchema?.['title'];
  return typeof title === 'string' ? title : undefined;
}

function valueMessage(error: ErrorObject): string {
  const found = describeValue(error.data);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'type': {
      const title = titleOf(error);
      const expected = title ?? String(params['type']).split(',').map((t) => TYPE_WORDS[t] ?? t).join(' or ');
      return `must be ${expected} (found ${found})`;
    }
    case 'pattern':
      return `must be ${titleOf(error) ?? `text matching ${String(params['pattern'])}`} (got ${found})`;
    case 'enum': {
      const allowed = (params['allowedValues'] as unknown[]).map(String);
      const hint = typeof error.data === 'string' ? closestMatch(error.data, allowed) : undefined;
      return `must be one of ${allowed.join(', ')} (got ${found})${hint === undefined ? '' : ` (did you mean ${JSON.stringify(hint)}?)`}`;
    }
    case 'const':
      return `must be ${JSON.stringify(params['allowedValue'])} (got ${found})`;
    case 'minimum':
      return `must be at least ${String(params['limit'])} (got ${found})`;
    case 'maximum':
      return `must be at most ${String(params['limit'])} (got ${found})`;
    case 'minLength':
      return Number(params['limit']) === 1 ? 'must not be empty' : `must be at least ${String(params['limit'])} characters long`;
    case 'maxLength':
      return `must be at most ${String(params['limit'])} characters long`;
    case 'minItems':
      return `must have at least ${String(params['limit'])} ${Number(params['limit']) === 1 ? 'entry' : 'entries'}`;
    case 'minProperties':
    case 'maxProperties': {
      const names = propertyNamesOf(error.parentSchema);
      const schema = error.parentSchema;
      if (schema?.['minProperties'] === 1 && schema['maxProperties'] === 1 && names.length > 0) {
        return `must set exactly one of ${names.join(', ')}`;
      }
      return error.message ?? 'has the wrong number of properties';
    }
    default:
      return error.message ?? `fails ${error.keyword}`;
  }
}

/** Converts ajv errors (from `schemaErrors`) to diagnostics. */
export function ajvErrorsToDiagnostics(errors: readonly ErrorObject[], rootSchema: AnySchemaObject): Diagnostic[] {
  // Errors of keywords that only wrap others, and the branches of failed
  // oneOf/anyOf (replaced by the wrapper's own message).
  const wrappers = errors.filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf').map((e) => `${e.schemaPath}/`);
  const relevant = errors.filter(
    (e) => e.keyword !== 'if' && e.keyword !== 'propertyNames' && !wrappers.some((w) => e.schemaPath.startsWith(w)),
  );

  const typeErrorAt = new Set(relevant.filter((e) => e.keyword === 'type').map((e) => e.instancePath));
  const byPath = new Map<string, ErrorObject[]>();
  for (const error of relevant) {
    // A value of the wrong type makes its other errors noise.
    if (typeErrorAt.has(error.instancePath) && error.keyword !== 'type') continue;
    const list = byPath.get(error.instancePath);
    if (list === undefined) byPath.set(error.instancePath, [error]);
    else list.push(error);
  }

  const diagnostics: Diagnostic[] = [];
  const seen = new Set<string>();
  const push = (d: Diagnostic): void => {
    const key = `${JSON.stringify(d.path)}\0${d.summary}`;
    if (seen.has(key)) return;
    seen.add(key);
    diagnostics.push(d);
  };

  for (const [pointer, group] of byPath) {
    const path = pathFromJsonPointer(pointer);
    const where = formatPath(path);
    const missing = group.filter((e) => e.keyword === 'required');
    const unknown = group.filter((e) => e.keyword === 'additionalProperties');
    const typoFor = new Set<string>();

    for (const error of unknown) {
      const property = String((error.params as Record<string, unknown>)['additionalProperty']);
      const allowed = propertyNamesOf(error.parentSchema);
      const present = typeof error.data === 'object' && error.data !== null ? Object.keys(error.data) : [];
      const missingNames = missing.map((m) => String((m.params as Record<string, unknown>)['missingProperty']));
      // A misspelt required key: name the key the user meant, and drop "missing" for it.
      const suggestion = closestMatch(property, missingNames) ?? closestMatch(property, allowed.filter((a) => !present.includes(a)));
      if (suggestion !== undefined && missingNames.includes(suggestion)) typoFor.add(suggestion);
      push({
        severity: 'error',
        summary: `${where}: unknown property ${JSON.stringify(property)}${suggestion === undefined ? '' : ` (did you mean ${JSON.stringify(suggestion)}?)`}`,
        detail: `Allowed here: ${allowed.join(', ')}.`,
        path: [...path, property],
        pathTarget: 'key',
      });
    }

    for (const error of missing) {
      const property = String((error.params as Record<string, unknown>)['missingProperty']);
      if (typoFor.has(property)) continue;
      const owner = ownerObjectSchema(rootSchema, error.schemaPath);
      const description = propertyDescription(owner, property);
      const d: Diagnostic = { severity: 'error', summary: `${where}: missing required property ${JSON.stringify(property)}`, path };
      push(description === undefined ? d : { ...d, detail: `${property}: ${description}` });
    }

    for (const error of group) {
      if (error.keyword === 'required' || error.keyword === 'additionalProperties') continue;
      if (error.propertyName !== undefined) {
        // A map key that fails propertyNames: point at the key itself.
        const key = error.propertyName;
        push({
          severity: 'error',
          summary: `${where}: invalid key ${describeValue(key)}: must be ${titleOf(error) ?? 'a valid key'}`,
          path: [...path, key],
          pathTarget: 'key',
        });
        continue;
      }
      if (pointer === '' && error.keyword === 'type') {
        push({
          severity: 'error',
          summary: `the document must be a mapping (found ${describeValue(error.data)})`,
          detail: 'qvd.yaml is a mapping with the keys version, settings, nodes, images, users and vms.',
          path,
        });
        continue;
      }
      const summary = `${where}: ${valueMessage(error)}`;
      // `sha256: 0123...` or `tag: 2024.1` unquoted are numbers to YAML: say so, the value shown is not what was typed.
      const misread =
        error.keyword === 'type' &&
        String((error.params as Record<string, unknown>)['type']).includes('string') &&
        (typeof error.data === 'number' || typeof error.data === 'boolean');
      push(
        misread
          ? { severity: 'error', summary, detail: `YAML read this value as ${typeof error.data === 'number' ? 'a number' : 'true/false'}: put it in quotes to make it text.`, path }
          : { severity: 'error', summary, path },
      );
    }
  }
  return diagnostics;
}
