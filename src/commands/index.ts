import Apply from './apply.js';
import Connect from './connect.js';
import Destroy from './destroy.js';
import Plan from './plan.js';
import Serve from './serve.js';
import StateUnlock from './state/unlock.js';
import Status from './status.js';
import Validate from './validate.js';

/** oclif's explicit command table: no directory scan at start-up. */
export const commands = {
  validate: Validate,
  plan: Plan,
  apply: Apply,
  destroy: Destroy,
  connect: Connect,
  status: Status,
  serve: Serve,
  'state:unlock': StateUnlock,
};
