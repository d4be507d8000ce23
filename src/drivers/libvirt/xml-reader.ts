/**
 * A small strict XML reader for what libvirt prints (and what qvd renders):
 * elements, attributes, text, the five predefined entities and character
 * references, comments, CDATA, the XML declaration. No DTD (refused, so no
 * entity expansion), no namespaces beyond keeping `prefix:name` as the name.
 * Observe reads hundreds of documents per node; a general-purpose parser
 * spent more time warming up and checking than this spends reading.
 *
 * The result is a tree in one uniform shape: every child element is an array
 * under its name (one disk and two disks read the same), attributes are
 * `@name`, trimmed text is `#text` (present on leaves, and wherever there is
 * text besides child elements).
 */

export interface XmlNode {
  [key: string]: unknown;
}

export class XmlSyntaxError extends Error {}

// One piece of markup at the cursor: a start/end/empty tag, a comment, a processing instruction or CDATA.
const markup = /<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[A-Za-z_][\w.:-]*\s*=\s*(?:'[^'<]*'|"[^"<]*"))*)\s*(\/?)>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!\[CDATA\[([\s\S]*?)\]\]>/y;
const attribute = /([A-Za-z_][\w.:-]*)\s*=\s*(?:'([^']*)'|"([^"]*)")/g;
const reference = /&(?:#x([0-9A-Fa-f]+)|#([0-9]+)|([A-Za-z]+));/g;
const bareAmpersand = /&(?!#x[0-9A-Fa-f]+;|#[0-9]+;|[A-Za-z]+;)/;
const predefined: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

interface Open {
  readonly name: string;
  readonly node: XmlNode;
  text: string;
  hasChildren: boolean;
}

/** The document as a tree whose top level holds the root element(s) under their names. */
export function readXml(xml: string): XmlNode {
  const document: XmlNode = {};
  const stack: Open[] = [{ name: '', node: document, text: '', hasChildren: false }];
  let at = 0;
  while (at < xml.length) {
    const lt = xml.indexOf('<', at);
    const top = stack[stack.length - 1] as Open;
    if (lt !== at) {
      const end = lt === -1 ? xml.length : lt;
      // Indentation between tags is most of the text there is: skip it without making strings.
      let first = at;
      while (first < end && isSpace(xml.charCodeAt(first))) first++;
      if (first < end) {
        if (stack.length === 1) throw syntaxError(xml, first, 'text outside the root element');
        top.text += decode(xml.slice(at, end), xml, at);
      }
      if (lt === -1) break;
    }
    markup.lastIndex = lt;
    const m = markup.exec(xml);
    if (m === null) throw syntaxError(xml, lt, `malformed markup ${JSON.stringify(xml.slice(lt, lt + 20))}`);
    at = markup.lastIndex;
    const name = m[2];
    if (name === undefined) {
      if (m[5] !== undefined) top.text += m[5];
      continue;
    }
    if (m[1] === '/') {
      if (stack.length === 1 || top.name !== name) throw syntaxError(xml, lt, `</${name}> does not close ${stack.length === 1 ? 'anything' : `<${top.name}>`}`);
      stack.pop();
      finish(top);
      continue;
    }
    const node: XmlNode = {};
    const attributes = m[3];
    if (attributes !== undefined && attributes !== '') {
      attribute.lastIndex = 0;
      for (let a = attribute.exec(attributes); a !== null; a = attribute.exec(attributes)) node[`@${a[1] ?? ''}`] = decode(a[2] ?? a[3] ?? '', xml, lt);
    }
    top.hasChildren = true;
    const siblings = top.node[name];
    if (Array.isArray(siblings)) siblings.push(node);
    else top.node[name] = [node];
    if (m[4] === '/') node['#text'] = '';
    else stack.push({ name, node, text: '', hasChildren: false });
  }
  if (stack.length > 1) throw syntaxError(xml, xml.length, `<${(stack[stack.length - 1] as Open).name}> is not closed`);
  return document;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 9 || c === 13;
}

function finish(open: Open): void {
  const text = open.text.trim();
  if (text !== '' || !open.hasChildren) open.node['#text'] = text;
}

function decode(text: string, xml: string, at: number): string {
  if (!text.includes('&')) return text;
  if (bareAmpersand.test(text)) throw syntaxError(xml, at, 'a bare & (write &amp;)');
  return text.replace(reference, (whole, hex: string | undefined, dec: string | undefined, named: string | undefined) => {
    if (named !== undefined) {
      const value = predefined[named];
      if (value === undefined) throw syntaxError(xml, at, `unknown entity ${whole}`);
      return value;
    }
    const code = hex !== undefined ? parseInt(hex, 16) : Number(dec);
    if (!(code > 0 && code <= 0x10ffff)) throw syntaxError(xml, at, `invalid character reference ${whole}`);
    return String.fromCodePoint(code);
  });
}

function syntaxError(xml: string, at: number, what: string): XmlSyntaxError {
  let line = 1;
  for (let i = xml.indexOf('\n'); i !== -1 && i < at; i = xml.indexOf('\n', i + 1)) line++;
  return new XmlSyntaxError(`line ${line}: ${what}`);
}
