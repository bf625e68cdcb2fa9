/**
 * @module Names and strings written into Postgres SQL that cannot take parameters (LISTEN, CREATE
 * TRIGGER's arguments), quoted so that no character in them can end the quote.
 */

/** A quoted identifier: `"a ""b"""` for `a "b"`. (TypeORM's `driver.escape` does not double quotes.) */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/**
 * A quoted string constant, as an escape string (`E'…'`), whose meaning no setting changes
 * (`standard_conforming_strings`): `\` and `'` doubled.
 */
export function quoteLiteral(text: string): string {
  return `E'${text.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`
}

/** `"schema"."name"`, or `"name"` without a schema. */
export function qualifiedName(schema: string | undefined, name: string): string {
  return schema ? `${quoteIdentifier(schema)}.${quoteIdentifier(name)}` : quoteIdentifier(name)
}
