import { describe, expect, it } from 'vitest';
import { decideHomeAction, isMounted } from '../../../src/vma/provision-home.js';
import { parsePasswd, pickUid } from '../../../src/vma/provision-user.js';
import { unixLogin } from '../../../src/vma/unix-login.js';

describe('home disk', () => {
  it('formats only a disk on which blkid finds nothing', () => {
    expect(decideHomeAction(2, '')).toEqual({ kind: 'format' });
    expect(decideHomeAction(0, 'DEVNAME=/dev/vdb\nUUID=1\nTYPE=ext4\nUSAGE=filesystem\n')).toEqual({ kind: 'mount', fsType: 'ext4' });
    expect(decideHomeAction(0, 'DEVNAME=/dev/vdb\nPTUUID=x\nPTTYPE=gpt\n')).toMatchObject({ kind: 'refuse', reason: expect.stringContaining('gpt partition table') });
    expect(decideHomeAction(0, 'TYPE=linux_raid_member\nUSAGE=raid\n')).toMatchObject({ kind: 'refuse' });
    expect(decideHomeAction(4, '')).toMatchObject({ kind: 'refuse' });
  });

  it('sees an existing mount', () => {
    const mounts = '/dev/vda / ext4 rw 0 0\n/dev/vdb /home ext4 rw,nosuid,nodev 0 0\n';
    expect(isMounted(mounts, '/home')).toBe(true);
    expect(isMounted(mounts, '/home/x')).toBe(false);
  });
});

describe('accounts', () => {
  const passwd = 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\ncarol:x:1000:1000::/home/carol:/bin/sh\n';

  it('maps QVD logins to Unix names', () => {
    expect(unixLogin('Alice@acme')).toBe('alice');
    expect(unixLogin('bob#t1')).toBe('bob');
    expect(unixLogin('john.doe')).toBe('john_doe');
    expect(unixLogin('42')).toBe('u42');
    expect(unixLogin('x'.repeat(40))).toHaveLength(32);
  });

  it('reuses the owner of an existing home, else the first free uid from 1000', () => {
    const entries = parsePasswd(passwd);
    expect(entries.map((e) => e.name)).toEqual(['root', 'nobody', 'carol']);
    expect(pickUid(entries, 1005)).toBe(1005);
    expect(pickUid(entries, 1000)).toBe(1001);
    expect(pickUid(entries, 0)).toBe(1001);
    expect(pickUid(entries, undefined)).toBe(1001);
    expect(pickUid([], undefined)).toBe(1000);
  });
});
