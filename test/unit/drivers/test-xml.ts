/**
 * Domain and network XML in the conventions the core renders, for driver
 * tests (the core has its own renderer; these stay deliberately literal).
 */
export interface TestDomain {
  readonly name: string;
  readonly vm?: string;
  readonly type?: 'qemu' | 'kvm';
  readonly memoryMiB?: number;
  readonly vcpus?: number;
  readonly pool: string;
  readonly disks: readonly { readonly volume: string; readonly target: string }[];
  readonly nics: readonly { readonly mac: string; readonly network: string }[];
  readonly kernel?: string;
  readonly initrd?: string;
  readonly cmdline?: string;
  readonly serialLog?: string;
}

export function domainXml(d: TestDomain): string {
  const boot = d.kernel === undefined ? '' : `
    <kernel>${d.kernel}</kernel>${d.initrd === undefined ? '' : `
    <initrd>${d.initrd}</initrd>`}${d.cmdline === undefined ? '' : `
    <cmdline>${d.cmdline}</cmdline>`}`;
  return `<domain type='${d.type ?? 'qemu'}'>
  <name>${d.name}</name>${d.vm === undefined ? '' : `
  <metadata>
    <qvd:vm xmlns:qvd="https://qvd.dev/xmlns/vm/1" name="${d.vm}"/>
  </metadata>`}
  <memory unit='MiB'>${d.memoryMiB ?? 128}</memory>
  <vcpu>${d.vcpus ?? 1}</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>${boot}
  </os>
  <features><acpi/></features>
  <devices>${d.disks.map((disk) => `
    <disk type='volume' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source pool='${d.pool}' volume='${disk.volume}'/>
      <target dev='${disk.target}' bus='virtio'/>
    </disk>`).join('')}${d.nics.map((nic) => `
    <interface type='network'>
      <mac address='${nic.mac}'/>
      <source network='${nic.network}'/>
      <model type='virtio'/>
    </interface>`).join('')}${d.serialLog === undefined ? '' : `
    <serial type='file'>
      <source path='${d.serialLog}'/>
    </serial>`}
  </devices>
</domain>
`;
}

export interface TestNetwork {
  readonly name: string;
  readonly bridge: string;
  readonly gateway: string;
  readonly prefix: number;
  readonly rangeStart: string;
  readonly rangeEnd: string;
  readonly hosts: readonly { readonly mac: string; readonly ip: string; readonly name?: string }[];
}

export function networkXml(n: TestNetwork): string {
  return `<network>
  <name>${n.name}</name>
  <bridge name='${n.bridge}'/>
  <ip address='${n.gateway}' prefix='${n.prefix}'>
    <dhcp>
      <range start='${n.rangeStart}' end='${n.rangeEnd}'/>${n.hosts.map((h) => `
      <host mac='${h.mac}' ip='${h.ip}'${h.name === undefined ? '' : ` name='${h.name}'`}/>`).join('')}
    </dhcp>
  </ip>
</network>
`;
}
