/**
 * How users and images are named across the spec, the resolved state and the
 * store: one place, so `alice` and `alice@default` can never become two keys.
 */

export const DEFAULT_TENANT = 'default';
export const DEFAULT_TAG = 'default';

/** `login` in the default tenant, else `login@tenant`. */
export function userKey(login: string, tenant: string | undefined): string {
  return tenant === undefined || tenant === DEFAULT_TENANT ? login : `${login}@${tenant}`;
}

/** A VM's `user` field (`login` or `login@tenant`) as the key of the user it names. */
export function userKeyFromRef(ref: string): string {
  const at = ref.indexOf('@');
  return at < 0 ? ref : userKey(ref.slice(0, at), ref.slice(at + 1));
}

/** Always `name:tag`, so that references with and without the default tag meet. */
export function imageKey(name: string, tag: string | undefined): string {
  return `${name}:${tag ?? DEFAULT_TAG}`;
}

/** A VM's `image` field (`name` or `name:tag`) as an image key. */
export function imageKeyFromRef(ref: string): string {
  return ref.includes(':') ? ref : imageKey(ref, undefined);
}

/** imageKeyFromRef, remembered per reference: thousands of VMs share a handful of images. */
export function imageKeysFromRefs(): (ref: string) => string {
  const keys = new Map<string, string>();
  return (ref) => {
    let key = keys.get(ref);
    if (key === undefined) keys.set(ref, (key = imageKeyFromRef(ref)));
    return key;
  };
}
