import { describe, expect, it } from 'vitest';
import { renderNxOptions } from '../../../src/vma/render-nx-options.js';

const cookie = '0123456789abcdef0123456789abcdef';

describe('renderNxOptions', () => {
  it('renders the minimal options nxagent needs to listen on 4100 for one cookie', () => {
    expect(renderNxOptions({ user: 'alice', cookie })).toBe(`nx/nx,link=lan,listen=4100,cookie=${cookie}:100\n`);
  });

  it('puts the client parameters before listen and cookie, in a fixed order', () => {
    expect(renderNxOptions({ user: 'alice', cookie, geometry: '1024x768', keyboard: 'pc105/es', link: 'adsl', fullscreen: true, client: 'linux' })).toBe(
      `nx/nx,link=adsl,geometry=1024x768,keyboard=pc105/es,fullscreen=1,client=linux,listen=4100,cookie=${cookie}:100\n`,
    );
    expect(renderNxOptions({ user: 'alice', cookie, fullscreen: false })).toContain(',fullscreen=0,');
  });

  it('follows another display and port', () => {
    expect(renderNxOptions({ user: 'a', cookie }, 7, 4007)).toBe(`nx/nx,link=lan,listen=4007,cookie=${cookie}:7\n`);
  });
});
