export interface ClientParams {
  readonly geometry?: string;
  readonly keyboard?: string;
  readonly link?: string;
  readonly fullscreen?: boolean;
}

/**
 * `/qvd/connect_to_vm?id=N&qvd.client.*=...`: the L7R hands the
 * `qvd.client.*` parameters to the VMA's x_start. Values are URL-encoded
 * (a keyboard like `pc105/es` travels as `pc105%2Fes`).
 */
export function connectPath(vmId: number, p: ClientParams, os: string = process.platform === 'darwin' ? 'macosx' : process.platform === 'win32' ? 'windows' : 'linux'): string {
  const q = new URLSearchParams({ id: String(vmId) });
  q.set('qvd.client.os', os);
  q.set('qvd.client.link', p.link ?? 'lan');
  if (p.geometry !== undefined) q.set('qvd.client.geometry', p.geometry);
  if (p.keyboard !== undefined) q.set('qvd.client.keyboard', p.keyboard);
  if (p.fullscreen !== undefined) q.set('qvd.client.fullscreen', p.fullscreen ? '1' : '0');
  return `/qvd/connect_to_vm?${q.toString()}`;
}
