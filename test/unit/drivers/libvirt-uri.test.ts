import { describe, expect, it } from 'vitest';
import { nodeLocalUri, remoteLibvirtUri } from '../../../src/drivers/libvirt/libvirt-uri.js';
import { withUuid, dhcpHostXml } from '../../../src/drivers/libvirt/xml-edit.js';

describe('libvirt URIs', () => {
  it('derives the node-local URI virsh uses from whatever the spec says', () => {
    expect(nodeLocalUri('qemu:///system')).toBe('qemu:///system');
    expect(nodeLocalUri('qemu:///session')).toBe('qemu:///session');
    expect(nodeLocalUri('qemu+ssh://root@host/system?keyfile=x')).toBe('qemu:///system');
    expect(nodeLocalUri('')).toBe('qemu:///system');
  });

  it('builds a qemu+libssh URI pinned to a known_hosts file', () => {
    expect(remoteLibvirtUri({ localUri: 'qemu:///system', user: 'root', host: '10.0.0.2', port: 22, keyFile: '/k/id ed', knownHostsFile: '/w/kh' }))
      .toBe('qemu+libssh://root@10.0.0.2:22/system?keyfile=%2Fk%2Fid+ed&known_hosts=%2Fw%2Fkh&known_hosts_verify=normal&sshauth=privkey');
    expect(remoteLibvirtUri({ localUri: 'qemu:///system', user: 'root', host: 'fd00::2', port: 2222, knownHostsFile: '/w/kh' }))
      .toBe('qemu+libssh://root@[fd00::2]:2222/system?known_hosts=%2Fw%2Fkh&known_hosts_verify=normal&sshauth=agent');
  });
});

describe('XML edits', () => {
  it('adds the existing uuid right after the root element, unless the XML has one', () => {
    expect(withUuid("<domain type='qemu'><name>x</name></domain>", 'domain', 'u-1')).toBe("<domain type='qemu'><uuid>u-1</uuid><name>x</name></domain>");
    expect(withUuid('<?xml version="1.0"?>\n<network>\n<name>n</name></network>', 'network', 'u-2')).toBe('<?xml version="1.0"?>\n<network><uuid>u-2</uuid>\n<name>n</name></network>');
    expect(withUuid('<domain><uuid>mine</uuid></domain>', 'domain', 'u-1')).toBe('<domain><uuid>mine</uuid></domain>');
  });

  it('renders a DHCP host with escaped attributes', () => {
    expect(dhcpHostXml({ mac: '52:54:00:00:00:01', ip: '10.0.0.1', name: "a'b" })).toBe("<host mac='52:54:00:00:00:01' name='a&apos;b' ip='10.0.0.1'/>");
  });
});
