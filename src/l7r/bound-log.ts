import type { Logger } from 'pino';

type Level = 'debug' | 'info' | 'warn' | 'error';

/**
 * A logger's lines with a few fields added to each, the output of
 * `logger.child(fields)` without making a child: a pino child costs more to
 * make (bindings serialised, levels set up) than the one or two lines a
 * connect writes with it.
 */
export class BoundLog {
  constructor(
    private readonly logger: Logger,
    private readonly fields: Readonly<Record<string, unknown>>,
  ) {}

  debug(fieldsOrMessage: Record<string, unknown> | string, message?: string): void {
    this.write('debug', fieldsOrMessage, message);
  }

  info(fieldsOrMessage: Record<string, unknown> | string, message?: string): void {
    this.write('info', fieldsOrMessage, message);
  }

  warn(fieldsOrMessage: Record<string, unknown> | string, message?: string): void {
    this.write('warn', fieldsOrMessage, message);
  }

  error(fieldsOrMessage: Record<string, unknown> | string, message?: string): void {
    this.write('error', fieldsOrMessage, message);
  }

  private write(level: Level, fieldsOrMessage: Record<string, unknown> | string, message: string | undefined): void {
    if (!this.logger.isLevelEnabled(level)) return;
    if (typeof fieldsOrMessage === 'string') this.logger[level](this.fields, fieldsOrMessage);
    else this.logger[level]({ ...this.fields, ...fieldsOrMessage }, message);
  }
}
