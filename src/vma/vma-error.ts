import type { VmaErrorCode } from './vma-api.js';

/** An RPC failure the caller should see as such (mapped to an HTTP status by the server). */
export class VmaError extends Error {
  constructor(
    readonly code: VmaErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'VmaError';
  }
}
