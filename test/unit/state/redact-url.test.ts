import { describe, expect, it } from 'vitest';
import { redactUrl } from '../../../src/state/redact-url.js';

describe('redactUrl', () => {
  it('drops the password from the userinfo', () => {
    expect(redactUrl('postgres://qvd:s3cr%40t@db.example:5432/qvd')).toBe('postgres://qvd@db.example:5432/qvd');
  });

  it('drops a password query parameter, keeping the others', () => {
    expect(redactUrl('postgresql://qvd@db/qvd?sslmode=require&password=hunter2')).toBe(
      'postgresql://qvd@db/qvd?sslmode=require',
    );
  });

  it('leaves a URL without a password alone', () => {
    expect(redactUrl('postgres://qvd@127.0.0.1:5432/qvd')).toBe('postgres://qvd@127.0.0.1:5432/qvd');
  });

  it("drops password= from libpq's key=value form", () => {
    expect(redactUrl('host=db user=qvd password=hunter2 dbname=qvd')).toBe('host=db user=qvd dbname=qvd');
    expect(redactUrl("host=db password = 'a b\\' c' dbname=qvd")).toBe('host=db dbname=qvd');
  });
});
