// The same work as an Ansible playbook with community.libvirt: virt_net and
// virt_pool (present + active + autostart), `copy` of the image files,
// `command: qemu-img create` with `creates:` for the overlays and home disks,
// a pool refresh when a volume was made, and `virt: command=define` with
// qvd's own domain XML. Ansible's defaults otherwise (SSH with ControlPersist,
// no pipelining unless asked), except gather_facts: false.
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { timed, type Timed } from './exec.js';
import type { BenchNode } from './testnode.js';
import { poolXml, type Workload } from './workload.js';

export const INSTALL_HINT = 'DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y ansible python3-libvirt python3-lxml';

/** Why Ansible cannot run here, or undefined when it can. */
export function ansibleMissing(): string | undefined {
  if (spawnSync('ansible-playbook', ['--version'], { stdio: 'ignore' }).status !== 0) return 'ansible-playbook not on PATH';
  const col = spawnSync('ansible-galaxy', ['collection', 'list', 'community.libvirt'], { encoding: 'utf8' });
  if (col.status !== 0 || !/community\.libvirt\s+\d/.test(col.stdout ?? '')) return 'the community.libvirt collection is not installed';
  // The modules run on the node with /usr/bin/python3: it needs the libvirt and lxml bindings (the test nodes share the host's /usr).
  if (spawnSync('/usr/bin/python3', ['-c', 'import libvirt, lxml'], { stdio: 'ignore' }).status !== 0) return 'python3-libvirt / python3-lxml missing for /usr/bin/python3';
  return undefined;
}

const yamlString = (s: string): string => JSON.stringify(s);

export async function writePlaybook(dir: string, n: BenchNode, w: Workload, pipelining: boolean): Promise<void> {
  await mkdir(join(dir, 'files/dom'), { recursive: true });
  await mkdir(join(dir, 'tmp'), { recursive: true });
  await writeFile(join(dir, 'files/net.xml'), w.network.xml);
  await writeFile(join(dir, 'files/pool.xml'), poolXml(w));
  for (const d of w.domains) await writeFile(join(dir, `files/dom/${d.name}.xml`), d.xml);
  await writeFile(
    join(dir, 'inventory.ini'),
    `[node]\n${n.name} ansible_host=${n.address} ansible_port=${n.sshPort} ansible_user=${n.sshUser} ansible_ssh_private_key_file=${n.privateKey} ansible_python_interpreter=/usr/bin/python3 ansible_ssh_common_args='-F /dev/null -o UserKnownHostsFile=${n.knownHosts} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes'\n`,
  );
  await writeFile(
    join(dir, 'ansible.cfg'),
    `[defaults]
inventory = ${join(dir, 'inventory.ini')}
host_key_checking = True
local_tmp = ${join(dir, 'tmp')}
remote_tmp = /tmp/.qvd-bench-ansible-${n.name}
retry_files_enabled = False
interpreter_python = /usr/bin/python3

[ssh_connection]
pipelining = ${pipelining ? 'True' : 'False'}
`,
  );
  const vms = w.domains.map((d) => `      - { name: ${yamlString(d.name)}, root: ${yamlString(d.root.volume)}, backing: ${yamlString(d.root.backing)}, home: ${yamlString(d.home.volume)}, home_bytes: ${d.home.bytes} }`);
  const images = w.images.map((i) => `      - { src: ${yamlString(i.source)}, volume: ${yamlString(i.volume)} }`);
  await writeFile(
    join(dir, 'site.yml'),
    `- hosts: node
  gather_facts: false
  vars:
    storage: ${yamlString(w.storageDir)}
    pool: ${yamlString(w.pool)}
    net: ${yamlString(w.network.name)}
    images:
${images.join('\n')}
    vms:
${vms.join('\n')}
  tasks:
    - name: network defined
      community.libvirt.virt_net: { name: "{{ net }}", state: present, xml: "{{ lookup('file', 'files/net.xml') }}" }
    - name: network active
      community.libvirt.virt_net: { name: "{{ net }}", state: active }
    - name: network autostart
      community.libvirt.virt_net: { name: "{{ net }}", autostart: true }
    - name: storage dir
      ansible.builtin.file: { path: "{{ storage }}", state: directory, mode: "0755" }
    - name: pool defined
      community.libvirt.virt_pool: { name: "{{ pool }}", state: present, xml: "{{ lookup('file', 'files/pool.xml') }}" }
    - name: pool active
      community.libvirt.virt_pool: { name: "{{ pool }}", state: active }
    - name: pool autostart
      community.libvirt.virt_pool: { name: "{{ pool }}", autostart: true }
    - name: image files
      ansible.builtin.copy: { src: "{{ item.src }}", dest: "{{ storage }}/{{ item.volume }}", mode: "0644" }
      loop: "{{ images }}"
    - name: root overlays
      ansible.builtin.command:
        cmd: qemu-img create -q -f qcow2 -F qcow2 -b {{ storage }}/{{ item.backing }} {{ storage }}/{{ item.root }}
        creates: "{{ storage }}/{{ item.root }}"
      loop: "{{ vms }}"
      register: roots
    - name: home disks
      ansible.builtin.command:
        cmd: qemu-img create -q -f qcow2 {{ storage }}/{{ item.home }} {{ item.home_bytes }}
        creates: "{{ storage }}/{{ item.home }}"
      loop: "{{ vms }}"
      register: homes
    - name: pool refresh
      community.libvirt.virt_pool: { name: "{{ pool }}", command: refresh }
      when: roots is changed or homes is changed
    - name: domains defined
      community.libvirt.virt: { command: define, xml: "{{ lookup('file', 'files/dom/' + item.name + '.xml') }}" }
      loop: "{{ vms }}"
`,
  );
}

export interface PlaybookRun extends Timed {
  readonly changed: number;
  readonly failed: number;
}

/** One run; `controlPathDir` fresh per run so that no ControlPersist master of an earlier run is reused. */
export async function runPlaybook(dir: string, controlPathDir: string): Promise<PlaybookRun> {
  const r = await timed('ansible-playbook', ['site.yml'], {
    cwd: dir,
    env: { ANSIBLE_CONFIG: join(dir, 'ansible.cfg'), ANSIBLE_HOME: join(dir, 'home'), ANSIBLE_SSH_CONTROL_PATH_DIR: controlPathDir, ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0' },
  });
  const recap = /ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/.exec(r.stdout);
  if (r.code !== 0 || recap === null || recap[3] !== '0' || recap[4] !== '0') throw new Error(`ansible-playbook failed (exit ${String(r.code)}):\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`);
  return { ...r, changed: Number(recap[2]), failed: Number(recap[4]) };
}
