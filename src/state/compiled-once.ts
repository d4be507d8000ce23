import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';

/**
 * A query built and compiled by kysely the first time, then run with new
 * values: building and compiling cost several times what SQLite takes to
 * run the query, on reads serve makes on every connect. Only for queries
 * whose SQL does not depend on the values (no IN lists, no optional clauses);
 * the values must come in the order they appear in the SQL, and their count
 * is checked against the compiled query's.
 */
export class CompiledOnce<Row> {
  #compiled: CompiledQuery<Row> | undefined;

  constructor(private readonly build: (example: readonly unknown[]) => Compilable<Row>) {}

  run<DB>(db: Kysely<DB>, values: readonly unknown[]): Promise<QueryResult<Row>> {
    const compiled = this.#compiled ?? this.#compile(values);
    return db.executeQuery<Row>({ ...compiled, parameters: values });
  }

  #compile(values: readonly unknown[]): CompiledQuery<Row> {
    const compiled = this.build(values).compile();
    if (compiled.parameters.length !== values.length) throw new Error(`compiled query has ${compiled.parameters.length} parameters, not ${values.length}: ${compiled.sql}`);
    this.#compiled = compiled;
    return compiled;
  }
}
