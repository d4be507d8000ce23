import { describe, expect, it } from 'vitest';
import { readXml } from '../../../src/drivers/libvirt/xml-reader.js';

describe('readXml', () => {
  it('reads elements as arrays, attributes as @name and text as #text', () => {
    const doc = readXml(`<?xml version="1.0"?>
<!-- written by hand -->
<domain type='qemu'>
  <name>vm1</name>
  <devices>
    <disk type="volume"><source pool='p' volume='a.qcow2'/></disk>
    <disk type="volume"><source pool='p' volume='b.qcow2'/></disk>
  </devices>
  <metadata><qvd:vm xmlns:qvd="https://qvd.dev/xmlns/vm/1" name="alice"/></metadata>
</domain>`);
    expect(doc).toEqual({
      domain: [
        {
          '@type': 'qemu',
          name: [{ '#text': 'vm1' }],
          devices: [
            {
              disk: [
                { '@type': 'volume', source: [{ '@pool': 'p', '@volume': 'a.qcow2', '#text': '' }] },
                { '@type': 'volume', source: [{ '@pool': 'p', '@volume': 'b.qcow2', '#text': '' }] },
              ],
            },
          ],
          metadata: [{ 'qvd:vm': [{ '@xmlns:qvd': 'https://qvd.dev/xmlns/vm/1', '@name': 'alice', '#text': '' }] }],
        },
      ],
    });
  });

  it('decodes entities and character references, keeps CDATA as is, trims text', () => {
    const doc = readXml(`<a x="1 &amp; 2" y='&#39;q&#x41;&quot;'><b>  t &lt;x&gt; </b><c><![CDATA[raw <x> &amp;]]></c><d></d></a>`);
    expect(doc).toEqual({ a: [{ '@x': '1 & 2', '@y': `'qA"`, b: [{ '#text': 't <x>' }], c: [{ '#text': 'raw <x> &amp;' }], d: [{ '#text': '' }] }] });
  });

  it.each([
    ['a tag closed by another', '<domain><name>x</domain>', /line 1: <\/domain> does not close <name>/],
    ['an element left open', '<domain><name>x</name>\n', /<domain> is not closed/],
    ['broken markup', '<domain><name x=1>x</name></domain>', /malformed markup/],
    ['an attribute value with <', `<a b='<'/>`, /malformed markup/],
    ['a DTD', '<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>', /malformed markup/],
    ['an unknown entity', '<a>&nbsp;</a>', /unknown entity &nbsp;/],
    ['a bare ampersand', '<a>fish & chips</a>', /a bare &/],
    ['text outside the root', '<a/>\ntrailing', /line 2: text outside the root element/],
    ['a stray end tag', '</a>', /<\/a> does not close anything/],
  ])('refuses %s', (_what, xml, message) => {
    expect(() => readXml(xml)).toThrow(message);
  });
});
