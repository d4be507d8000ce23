import { readXml, XmlSyntaxError } from './xml-reader.js';

/**
 * A parsed XML element in one uniform shape: every child element is an array
 * (so one disk and two disks read the same), attributes are `@name`, text is
 * `#text` (see xml-reader.ts). Small accessors below keep the parsers free of
 * shape checks.
 */
export interface XmlElement {
  readonly [key: string]: unknown;
}

export class XmlParseError extends Error {}

/** Parses a document and returns its root element, checking it is `rootName`. */
export function parseXml(xml: string, rootName: string): XmlElement {
  let document: Record<string, unknown>;
  try {
    document = readXml(xml);
  } catch (error) {
    if (error instanceof XmlSyntaxError) throw new XmlParseError(`invalid XML (${error.message})`);
    throw error;
  }
  const root = first(document[rootName]);
  if (root === undefined) {
    const found = Object.keys(document);
    throw new XmlParseError(`expected a <${rootName}> document, found <${found.join('>, <') || 'nothing'}>`);
  }
  return root;
}

function first(value: unknown): XmlElement | undefined {
  if (Array.isArray(value)) return value[0] as XmlElement | undefined;
  return undefined;
}

export function child(element: XmlElement | undefined, name: string): XmlElement | undefined {
  return element === undefined ? undefined : first(element[name]);
}

export function children(element: XmlElement | undefined, name: string): readonly XmlElement[] {
  const value = element?.[name];
  return Array.isArray(value) ? (value as XmlElement[]) : [];
}

export function attr(element: XmlElement | undefined, name: string): string | undefined {
  const value = element?.[`@${name}`];
  return typeof value === 'string' ? value : undefined;
}

export function text(element: XmlElement | undefined): string | undefined {
  const value = element?.['#text'];
  return typeof value === 'string' ? value : undefined;
}

/** Text of a child element, e.g. childText(domain, 'name'). */
export function childText(element: XmlElement | undefined, name: string): string | undefined {
  return text(child(element, name));
}

/** The names of an element's child elements, in no particular order. */
export function childNames(element: XmlElement): string[] {
  return Object.keys(element).filter((k) => !k.startsWith('@') && k !== '#text');
}
