import { CORE_SCHEMA, type Type } from 'js-yaml';
import { MAX_NESTING_DEPTH } from './limits.js';

/**
 * A parser for the plain subset of YAML that qvd.yaml files are written in:
 * block mappings and sequences, one-line scalars and flow collections, and
 * block scalars. js-yaml spends ~130 ms on a 10,000-VM spec; this reads it
 * several times faster. Whatever it is not sure about ("bail") is left to
 * js-yaml, so for every text it accepts the result is the one js-yaml's
 * `load(text, { schema: CORE_SCHEMA })` returns, and it never accepts a text
 * js-yaml refuses. It mirrors js-yaml's own loader (lib/loader.js) rather
 * than the YAML spec where the two disagree.
 */

export type SubsetParse = { readonly ok: true; readonly value: unknown };

/** Thrown to abandon the fast path; never escapes this module. */
class Bail {}
const BAIL = new Bail();

// The very list js-yaml resolves plain scalars with (null, bool, int, float),
// so numbers come out identical by construction. It is internal to js-yaml:
// without it every number-like scalar bails.
const implicitTypes: readonly Type[] | undefined = (() => {
  const list = (CORE_SCHEMA as unknown as { compiledImplicit?: unknown }).compiledImplicit;
  return Array.isArray(list) ? (list as Type[]) : undefined;
})();

// Below the maxDepth qvd gives js-yaml, which also counts the scalars inside
// the deepest collection: deeper documents get js-yaml's error.
const MAX_COLLECTION_DEPTH = MAX_NESTING_DEPTH - 4;

const LF = 0x0a;
const SPACE = 0x20;
const HASH = 0x23;
const COLON = 0x3a;
const DASH = 0x2d;
const SQUOTE = 0x27;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

// Controls, DEL, C1, U+2028/9 (js-yaml warns about them), surrogates (a lone
// one is an error there), BOMs and non-characters: none is worth an exact
// replica, and tabs have indentation rules of their own.
const OUTSIDE_SUBSET_CHARS = /[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd]/;

// Sticky patterns for the shapes nearly every line of a spec has. They run as
// native code from the first line on, where a character loop would crawl
// through a fresh process's interpreter (the CLI is always a fresh process);
// lines they do not match take the general, character-by-character path.
// A plain scalar that is unambiguous: no indicator first, no `:` or `#` inside.
const PLAIN_FIRST = "[^\\s#:'\"[\\]{}&*!|>%@`?,-]";
// They only test, without captures, so that they allocate nothing: the
// garbage collector is a good part of a cold parse.
/** `key: plain value` or `key:` and the line break; no comment, no trailing spaces. */
const SIMPLE_ENTRY = new RegExp(`[A-Za-z_][\\w./-]*:(?: +${PLAIN_FIRST}(?:[^\\n#:]*[^ \\n#:])?)?\\n`, 'y');
/** A key like SIMPLE_ENTRY's, whatever its value. */
const SIMPLE_KEY = /[A-Za-z_][\w./-]*:(?=[ \n])/y;
/** A sequence entry's plain scalar (after `- `) and the line break. */
const SIMPLE_ITEM = new RegExp(`${PLAIN_FIRST}(?:[^\\n#:]*[^ \\n#:])?\\n`, 'y');
/** A plain scalar in a flow collection and the spaces after it, up to `,` `]` `}` or a `:` that separates. */
// (Its last character is not a space, so the trailing ` *` cannot make it backtrack quadratically.)
const FLOW_PLAIN = new RegExp(`${PLAIN_FIRST}(?:[^\\n#:,[\\]{}]*[^ \\n#:,[\\]{}])? *(?=[,\\]}]|:[ ,[\\]{}])`, 'y');
/** A key like SIMPLE_KEY's in a flow mapping, up to its `:`. */
const FLOW_KEY = /[A-Za-z_][\w./-]*:(?=[ ,[\]{}])/y;
const DOUBLE_QUOTED = /"[^"\\\n]*"/y;
const SINGLE_QUOTED = /'[^'\n]*'(?!')/y;

const isFlowIndicator = (c: number): boolean => c === 0x2c || c === 0x5b || c === 0x5d || c === 0x7b || c === 0x7d;

/** Characters that start something other than a plain scalar (or might: `?`, `:`, `-`). */
function isIndicator(c: number): boolean {
  switch (c) {
    case 0x2c: // ,
    case 0x5b: // [
    case 0x5d: // ]
    case 0x7b: // {
    case 0x7d: // }
    case HASH:
    case 0x26: // &
    case 0x2a: // *
    case 0x21: // !
    case 0x7c: // |
    case 0x3e: // >
    case SQUOTE:
    case DQUOTE:
    case 0x25: // %
    case 0x40: // @
    case 0x60: // `
    case 0x3f: // ?
    case COLON:
      return true;
    default:
      return false;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lc = c | 0x20;
  if (lc >= 0x61 && lc <= 0x66) return lc - 0x61 + 10;
  return -1;
}

function simpleEscape(c: number): string | undefined {
  switch (c) {
    case 0x30: return '\x00';
    case 0x61: return '\x07';
    case 0x62: return '\x08';
    case 0x74: return '\x09';
    case 0x6e: return '\x0a';
    case 0x76: return '\x0b';
    case 0x66: return '\x0c';
    case 0x72: return '\x0d';
    case 0x65: return '\x1b';
    case 0x20: return ' ';
    case 0x22: return '"';
    case 0x2f: return '/';
    case 0x5c: return '\\';
    case 0x4e: return '\x85';
    case 0x5f: return '\xa0';
    case 0x4c: return '\u2028';
    case 0x50: return '\u2029';
    default: return undefined;
  }
}

/** A plain scalar's value under the core schema. */
function resolvePlain(raw: string): unknown {
  const c = raw.charCodeAt(0);
  const n = raw.length;
  if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a)) {
    // Letters never start a number; only these six words are not strings.
    if (n === 4) {
      if (raw === 'null' || raw === 'Null' || raw === 'NULL') return null;
      if (raw === 'true' || raw === 'True' || raw === 'TRUE') return true;
    } else if (n === 5 && (raw === 'false' || raw === 'False' || raw === 'FALSE')) return false;
    return raw;
  }
  if (c === 0x7e) return n === 1 ? null : raw; // ~
  if (c >= 0x30 && c <= 0x39) {
    // Common case: a short decimal without a leading zero, well inside 2^53.
    if (n <= 15 && (c !== 0x30 || n === 1)) {
      let digits = true;
      for (let i = 1; i < n; i++) {
        const d = raw.charCodeAt(i);
        if (d < 0x30 || d > 0x39) {
          digits = false;
          break;
        }
      }
      if (digits) return Number(raw);
    }
  } else if (c !== 0x2d && c !== 0x2b && c !== 0x2e) {
    return raw; // no implicit type matches anything else
  }
  if (implicitTypes === undefined) throw BAIL;
  for (const type of implicitTypes) if (type.resolve(raw)) return type.construct(raw);
  return raw;
}

class SubsetParser {
  private readonly text: string;
  private readonly len: number;
  /** Offset of the first non-space character of the current content line, -1 at the end. */
  private cur = -1;
  /** Its indentation. */
  private ind = 0;
  /** Where its line starts. */
  private lineStart = 0;
  private depth = 0;
  private readonly keyCache: string[] = new Array<string>(256).fill('');

  constructor(text: string) {
    this.text = text;
    this.len = text.length;
  }

  parseDocument(): unknown {
    this.nextContent(0, true);
    if (this.cur === -1 || this.ind !== 0) throw BAIL; // empty documents and indented roots: rare, fiddly
    const value = this.blockNode();
    if (this.cur !== -1) throw BAIL;
    return value;
  }

  /**
   * Moves to the next line with content at or after `from` (a line start),
   * skipping blank and comment-only lines, as js-yaml's skipSeparationSpace does.
   */
  private nextContent(from: number, atStart = false): void {
    const text = this.text;
    const len = this.len;
    let ls = from;
    while (ls < len) {
      let i = ls;
      let c = text.charCodeAt(i);
      while (c === SPACE) c = text.charCodeAt(++i);
      if (c === LF) {
        ls = i + 1;
        continue;
      }
      if (i >= len) break;
      if (c === HASH) {
        const eol = text.indexOf('\n', i);
        ls = eol === -1 ? len : eol + 1;
        continue;
      }
      if (i === ls && (c === DASH || c === 0x2e) && text.charCodeAt(i + 1) === c && text.charCodeAt(i + 2) === c) {
        const after = text.charCodeAt(i + 3);
        if (after === SPACE || after === LF || i + 3 >= len) {
          // A document marker: only one leading `---` on a line of its own is in the subset.
          if (!atStart || c !== DASH) throw BAIL;
          atStart = false;
          ls = this.endOfLine(i + 3);
          continue;
        }
        // js-yaml takes `---` at the very start as a marker whatever follows it.
        if (atStart && c === DASH) throw BAIL;
      }
      this.cur = i;
      this.ind = i - ls;
      this.lineStart = ls;
      return;
    }
    this.cur = -1;
    this.ind = 0;
  }

  /** After a node on a line: only spaces and a comment may follow. Returns the next line's start. */
  private endOfLine(at: number): number {
    const text = this.text;
    let i = at;
    let c = text.charCodeAt(i);
    while (c === SPACE) c = text.charCodeAt(++i);
    if (i >= this.len) return this.len;
    if (c === HASH) {
      if (text.charCodeAt(i - 1) !== SPACE) throw BAIL; // `]#x`: js-yaml's reading differs by context
      const eol = text.indexOf('\n', i);
      return eol === -1 ? this.len : eol + 1;
    }
    if (c !== LF) throw BAIL;
    return i + 1;
  }

  private enter(): void {
    if (++this.depth > MAX_COLLECTION_DEPTH) throw BAIL;
  }

  private isSequenceEntry(at: number): boolean {
    if (this.text.charCodeAt(at) !== DASH) return false;
    const next = this.text.charCodeAt(at + 1);
    return next === SPACE || next === LF || at + 1 >= this.len;
  }

  /** A block collection starting at the current content line. */
  private blockNode(): unknown {
    return this.isSequenceEntry(this.cur) ? this.blockSequence(this.ind) : this.blockMapping(this.ind, this.cur);
  }

  private blockSequence(indent: number): unknown[] {
    this.enter();
    const text = this.text;
    const result: unknown[] = [];
    while (this.cur !== -1 && this.ind === indent && this.isSequenceEntry(this.cur)) {
      let p = this.cur + 1;
      while (text.charCodeAt(p) === SPACE) p++;
      const c = text.charCodeAt(p);
      if (p >= this.len || c === LF || c === HASH) {
        this.nextContent(this.endOfLine(p));
        if (this.cur !== -1 && this.ind < indent && this.isSequenceEntry(this.cur)) {
          throw BAIL; // js-yaml takes that less indented `-` for an entry of this sequence
        }
        result.push(this.cur !== -1 && this.ind > indent ? this.blockNode() : null);
      } else if (this.isSequenceEntry(p)) {
        throw BAIL; // `- - x`
      } else {
        SIMPLE_ENTRY.lastIndex = p;
        if (SIMPLE_ENTRY.test(text)) {
          result.push(this.blockMapping(p - this.lineStart, p, SIMPLE_ENTRY.lastIndex));
          if (this.cur !== -1 && this.ind > indent) throw BAIL;
          continue;
        }
        SIMPLE_ITEM.lastIndex = p;
        if (SIMPLE_ITEM.test(text)) {
          const next = SIMPLE_ITEM.lastIndex;
          result.push(resolvePlain(text.slice(p, next - 1)));
          this.nextContent(next);
        } else {
          result.push(this.inlineNode(p, indent, true));
        }
      }
      if (this.cur !== -1 && this.ind > indent) throw BAIL;
    }
    this.depth--;
    return result;
  }

  /**
   * A block mapping whose keys sit at column `indent`; its first key is at
   * `first`, which is mid-line for a mapping that starts a sequence entry.
   */
  private blockMapping(indent: number, first: number, firstSimpleEnd = -1): Record<string, unknown> {
    this.enter();
    const text = this.text;
    const result: Record<string, unknown> = {};
    let p = first;
    // Where SIMPLE_ENTRY's match of the entry at `p` ends, when the caller already ran it.
    let simpleEnd = firstSimpleEnd;
    for (;;) {
      if (simpleEnd === -1) {
        SIMPLE_ENTRY.lastIndex = p;
        if (SIMPLE_ENTRY.test(text)) simpleEnd = SIMPLE_ENTRY.lastIndex;
      }
      if (simpleEnd !== -1) {
        const next = simpleEnd;
        simpleEnd = -1;
        const colon = text.indexOf(':', p);
        const key = this.simpleKey(p, colon);
        if (key === '__proto__' || Object.hasOwn(result, key)) throw BAIL;
        let v = colon + 1;
        while (text.charCodeAt(v) === SPACE) v++;
        const plain = v < next - 1 ? text.slice(v, next - 1) : undefined;
        this.nextContent(next);
        if (plain === undefined) {
          result[key] = this.valueBelow(indent);
        } else {
          result[key] = resolvePlain(plain);
          if (this.cur !== -1 && this.ind > indent) throw BAIL;
        }
      } else {
        this.generalEntry(result, indent, p);
      }
      if (this.cur === -1 || this.ind < indent) break;
      if (this.ind > indent) throw BAIL;
      p = this.cur;
    }
    this.depth--;
    return result;
  }

  /**
   * The key SIMPLE_KEY matched at `start`. The same few keys repeat on every
   * entry of a long list: reusing one string for each saves allocating and
   * internalizing tens of thousands.
   */
  private simpleKey(start: number, colon: number): string {
    const len = colon - start;
    const slot = (this.text.charCodeAt(start) * 31 + this.text.charCodeAt(colon - 1) * 7 + len) & 255;
    const cached = this.keyCache[slot]!;
    if (cached.length === len && this.text.startsWith(cached, start)) return cached;
    const raw = this.text.slice(start, colon);
    // `True: x` has the key "true": such keys differ from their text and are not cached.
    const key = len === 4 || len === 5 ? String(resolvePlain(raw)) : raw;
    if (key === raw) this.keyCache[slot] = raw;
    return key;
  }

  /** A mapping entry at `p` that SIMPLE_ENTRY does not match. */
  private generalEntry(result: Record<string, unknown>, indent: number, p: number): void {
    const text = this.text;
    const c = text.charCodeAt(p);
    let key: string;
    let colon: number;
    SIMPLE_KEY.lastIndex = p;
    if (SIMPLE_KEY.test(text)) {
      colon = SIMPLE_KEY.lastIndex - 1;
      key = this.simpleKey(p, colon);
    } else if (c === SQUOTE || c === DQUOTE) {
      key = this.quoted(p);
      colon = this.pos;
      while (text.charCodeAt(colon) === SPACE) colon++;
      if (text.charCodeAt(colon) !== COLON) throw BAIL;
    } else {
      if (isIndicator(c) || (c === DASH && this.isSequenceEntry(p))) throw BAIL;
      colon = this.plainEnd(p, true);
      if (text.charCodeAt(colon) !== COLON) throw BAIL; // a scalar where a key belongs
      let end = colon;
      while (text.charCodeAt(end - 1) === SPACE) end--;
      const raw = text.slice(p, end);
      if (raw === '<<') throw BAIL; // a merge key elsewhere; keep it out of the subset
      key = String(resolvePlain(raw));
    }
    const after = text.charCodeAt(colon + 1);
    if (after !== SPACE && after !== LF && colon + 1 < this.len) throw BAIL;
    if (key === '__proto__' || Object.hasOwn(result, key)) throw BAIL;
    let v = colon + 1;
    while (text.charCodeAt(v) === SPACE) v++;
    const vc = text.charCodeAt(v);
    let value: unknown;
    if (v >= this.len || vc === LF || vc === HASH) {
      this.nextContent(this.endOfLine(v));
      value = this.valueBelow(indent);
    } else {
      value = this.inlineNode(v, indent, false);
    }
    result[key] = value;
  }

  /** The value of a key with nothing after its colon: on the lines below, or null. */
  private valueBelow(indent: number): unknown {
    if (this.cur === -1) return null;
    if (this.ind > indent) return this.blockNode();
    // Legal YAML: `key:` followed by `- item` at the key's own indentation.
    if (this.ind === indent && this.isSequenceEntry(this.cur)) return this.blockSequence(indent);
    return null;
  }

  /** End of the current quoted scalar or flow collection. */
  private pos = 0;

  /**
   * A node that starts mid-line at `at`, inside a collection at `indent`. In a
   * sequence entry it may be the first key of a mapping. Leaves the parser on
   * the next content line.
   */
  private inlineNode(at: number, indent: number, inSequence: boolean): unknown {
    const text = this.text;
    const c = text.charCodeAt(at);
    let value: unknown;
    if (c === 0x5b || c === 0x7b) {
      value = this.flowCollection(at);
      let q = this.pos;
      while (text.charCodeAt(q) === SPACE) q++;
      if (text.charCodeAt(q) === COLON) throw BAIL; // a collection as a key
      this.nextContent(this.endOfLine(this.pos));
    } else if (c === SQUOTE || c === DQUOTE) {
      value = this.quoted(at);
      let q = this.pos;
      while (text.charCodeAt(q) === SPACE) q++;
      if (text.charCodeAt(q) === COLON) {
        if (!inSequence) throw BAIL; // `a: "b": c`
        return this.blockMapping(at - this.lineStart, at);
      }
      this.nextContent(this.endOfLine(this.pos));
    } else if (c === 0x7c || c === 0x3e) {
      value = this.blockScalar(at, indent);
    } else {
      if (isIndicator(c) || (c === DASH && this.isSequenceEntry(at))) throw BAIL;
      const end = this.plainEnd(at, inSequence);
      if (text.charCodeAt(end) === COLON) {
        if (!inSequence) throw BAIL; // `a: b: c` is an error in js-yaml
        return this.blockMapping(at - this.lineStart, at);
      }
      let e = end;
      while (text.charCodeAt(e - 1) === SPACE) e--;
      value = resolvePlain(text.slice(at, e));
      this.nextContent(this.endOfLine(end));
    }
    // Deeper lines would continue a plain scalar or be an indentation error.
    if (this.cur !== -1 && this.ind > indent) throw BAIL;
    return value;
  }

  /**
   * Where a one-line plain scalar in block context ends: at a `:` that makes
   * it a key, at ` #`, or at the end of the line. A key must end at a colon.
   */
  private plainEnd(at: number, mayBeKey: boolean): number {
    const text = this.text;
    const len = this.len;
    let i = at + 1;
    for (; i < len; i++) {
      const c = text.charCodeAt(i);
      if (c === LF) break;
      if (c === COLON) {
        const next = text.charCodeAt(i + 1);
        if (next === SPACE || next === LF || i + 1 >= len) {
          if (!mayBeKey) throw BAIL;
          return i;
        }
      } else if (c === HASH && text.charCodeAt(i - 1) === SPACE) {
        break;
      }
    }
    return i;
  }

  private quoted(at: number): string {
    const text = this.text;
    const quote = text.charCodeAt(at);
    const simple = quote === DQUOTE ? DOUBLE_QUOTED : SINGLE_QUOTED;
    simple.lastIndex = at;
    if (simple.test(text)) {
      this.pos = simple.lastIndex;
      return text.slice(at + 1, this.pos - 1);
    }
    let out = '';
    let start = at + 1;
    let i = start;
    for (;;) {
      if (i >= this.len) throw BAIL;
      const c = text.charCodeAt(i);
      if (c === LF) throw BAIL; // multi-line quoted scalars fold lines: not in the subset
      if (c === quote) {
        if (quote === SQUOTE && text.charCodeAt(i + 1) === SQUOTE) {
          out += text.slice(start, i + 1);
          i += 2;
          start = i;
          continue;
        }
        this.pos = i + 1;
        return out + text.slice(start, i);
      }
      if (c === BACKSLASH && quote === DQUOTE) {
        out += text.slice(start, i);
        const e = text.charCodeAt(i + 1);
        const simple = simpleEscape(e);
        if (simple !== undefined) {
          out += simple;
          i += 2;
        } else {
          const width = e === 0x78 ? 2 : e === 0x75 ? 4 : e === 0x55 ? 8 : 0;
          if (width === 0) throw BAIL;
          let code = 0;
          for (let k = 2; k < 2 + width; k++) {
            const h = hexValue(text.charCodeAt(i + k));
            if (h < 0) throw BAIL;
            code = code * 16 + h;
          }
          if (code > 0x10ffff) throw BAIL;
          out += String.fromCodePoint(code);
          i += 2 + width;
        }
        start = i;
        continue;
      }
      i++;
    }
  }

  /** A flow collection that closes on the line it opens; sets `pos` after it. */
  private flowCollection(at: number): unknown {
    this.enter();
    const value = this.text.charCodeAt(at) === 0x7b ? this.flowMapping(at + 1) : this.flowSequence(at + 1);
    this.depth--;
    return value;
  }

  private flowMapping(from: number): Record<string, unknown> {
    const text = this.text;
    const result: Record<string, unknown> = {};
    let p = from;
    for (;;) {
      while (text.charCodeAt(p) === SPACE) p++;
      if (text.charCodeAt(p) === 0x7d) break;
      let key: string;
      FLOW_KEY.lastIndex = p;
      if (FLOW_KEY.test(text)) {
        const colon = FLOW_KEY.lastIndex - 1;
        key = this.simpleKey(p, colon);
        p = colon;
      } else {
        key = String(this.flowNode(p, true));
        p = this.pos;
        while (text.charCodeAt(p) === SPACE) p++;
      }
      let value: unknown = null;
      if (text.charCodeAt(p) === COLON) {
        p++;
        while (text.charCodeAt(p) === SPACE) p++;
        const c = text.charCodeAt(p);
        if (c !== 0x2c && c !== 0x7d) {
          value = this.flowNode(p, false);
          p = this.pos;
          while (text.charCodeAt(p) === SPACE) p++;
        }
      }
      if (key === '__proto__' || Object.hasOwn(result, key)) throw BAIL;
      result[key] = value;
      const c = text.charCodeAt(p);
      if (c === 0x2c) {
        p++;
        continue;
      }
      if (c === 0x7d) break;
      throw BAIL; // a missing comma, a line break, a comment
    }
    this.pos = p + 1;
    return result;
  }

  private flowSequence(from: number): unknown[] {
    const text = this.text;
    const result: unknown[] = [];
    let p = from;
    for (;;) {
      while (text.charCodeAt(p) === SPACE) p++;
      if (text.charCodeAt(p) === 0x5d) break;
      result.push(this.flowNode(p, false));
      p = this.pos;
      while (text.charCodeAt(p) === SPACE) p++;
      const c = text.charCodeAt(p);
      if (c === 0x2c) {
        p++;
        continue;
      }
      if (c === 0x5d) break;
      throw BAIL; // a pair in a sequence, a missing comma, a line break, a comment
    }
    this.pos = p + 1;
    return result;
  }

  /** An entry of a flow collection; sets `pos` after it. Keys must be scalars. */
  private flowNode(at: number, isKey: boolean): unknown {
    const text = this.text;
    const c = text.charCodeAt(at);
    if (c === 0x5b || c === 0x7b) {
      if (isKey) throw BAIL;
      return this.flowCollection(at);
    }
    if (c === SQUOTE || c === DQUOTE) return this.quoted(at);
    if (isIndicator(c) || c === LF || c === SPACE) throw BAIL; // line breaks inside: not in the subset
    if (c === DASH) {
      const next = text.charCodeAt(at + 1);
      if (next === SPACE || next === LF || isFlowIndicator(next)) throw BAIL;
    }
    FLOW_PLAIN.lastIndex = at;
    if (FLOW_PLAIN.test(text)) {
      let e = FLOW_PLAIN.lastIndex;
      this.pos = e;
      while (text.charCodeAt(e - 1) === SPACE) e--;
      return resolvePlain(text.slice(at, e));
    }
    const len = this.len;
    let i = at + 1;
    for (; i < len; i++) {
      const ch = text.charCodeAt(i);
      if (ch === LF) throw BAIL;
      if (isFlowIndicator(ch)) break;
      if (ch === COLON) {
        const next = text.charCodeAt(i + 1);
        if (next === SPACE || next === LF || isFlowIndicator(next)) break;
      } else if (ch === HASH && text.charCodeAt(i - 1) === SPACE) {
        throw BAIL;
      }
    }
    if (i >= len) throw BAIL;
    this.pos = i;
    let e = i;
    while (text.charCodeAt(e - 1) === SPACE) e--;
    return resolvePlain(text.slice(at, e));
  }

  /**
   * `|` and `>` scalars, a transcription of js-yaml's readBlockScalar (minus
   * explicit indentation indicators) so quirks come out the same. Leaves the
   * parser on the next content line.
   */
  private blockScalar(at: number, parentIndent: number): string {
    const text = this.text;
    const folding = text.charCodeAt(at) === 0x3e;
    let p = at + 1;
    let c = text.charCodeAt(p);
    let keep = false;
    let strip = false;
    if (c === 0x2b) keep = true;
    else if (c === DASH) strip = true;
    if (keep || strip) c = text.charCodeAt(++p);
    if (c === SPACE) {
      while (c === SPACE) c = text.charCodeAt(++p);
      if (c === HASH) {
        const eol = text.indexOf('\n', p);
        p = eol === -1 ? this.len : eol;
        c = text.charCodeAt(p);
      }
    }
    // The text always ends with a line break (see parseYamlSubset), so this is one.
    if (c !== LF) throw BAIL;
    let textIndent = parentIndent + 1;
    let detectedIndent = false;
    let emptyLines = 0;
    let didReadContent = false;
    let atMoreIndented = false;
    let result = '';
    let lineIndent = 0;
    for (;;) {
      p++; // the line break
      lineIndent = 0;
      c = text.charCodeAt(p);
      while ((!detectedIndent || lineIndent < textIndent) && c === SPACE) {
        lineIndent++;
        c = text.charCodeAt(++p);
      }
      if (!detectedIndent && lineIndent > textIndent) textIndent = lineIndent;
      if (c === LF) {
        emptyLines++;
        continue;
      }
      if (lineIndent < textIndent) {
        if (keep) result += '\n'.repeat(didReadContent ? 1 + emptyLines : emptyLines);
        else if (!strip && didReadContent) result += '\n';
        break;
      }
      if (folding) {
        if (c === SPACE) {
          atMoreIndented = true;
          result += '\n'.repeat(didReadContent ? 1 + emptyLines : emptyLines);
        } else if (atMoreIndented) {
          atMoreIndented = false;
          result += '\n'.repeat(emptyLines + 1);
        } else if (emptyLines === 0) {
          if (didReadContent) result += ' ';
        } else {
          result += '\n'.repeat(emptyLines);
        }
      } else {
        result += '\n'.repeat(didReadContent ? 1 + emptyLines : emptyLines);
      }
      didReadContent = true;
      detectedIndent = true;
      emptyLines = 0;
      const start = p;
      const eol = text.indexOf('\n', p);
      p = eol === -1 ? this.len : eol;
      result += text.slice(start, p);
    }
    this.nextContent(p - lineIndent);
    return result;
  }
}

/**
 * The document `text` holds, when it is written in the subset; undefined
 * when js-yaml has to read it (anything else, including every error).
 */
export function parseYamlSubset(input: string): SubsetParse | undefined {
  let text = input;
  if (text.length === 0) return undefined;
  if (text.includes('\r')) {
    if (/\r(?!\n)/.test(text)) return undefined; // CR-only breaks: js-yaml reads them, rarely worth it
    text = text.replaceAll('\r\n', '\n');
  }
  if (OUTSIDE_SUBSET_CHARS.test(text)) return undefined;
  // js-yaml reads a missing final line break as present; block scalars see the difference.
  if (text.charCodeAt(text.length - 1) !== LF) text += '\n';
  try {
    return { ok: true, value: new SubsetParser(text).parseDocument() };
  } catch (error) {
    if (error === BAIL) return undefined;
    throw error;
  }
}
