/**
 * Named prepared statements for the hot paths (the relay's appends, acks and mailbox
 * pages). A statement registered here is sent by the PostgreSQL engine as a named
 * statement (extended protocol: Parse once per connection, then Bind/Execute), so the
 * server skips parsing and, after its first executions, planning. PGlite runs the
 * same text unnamed (one connection in-process: no network round trip to save).
 *
 * Only registered texts are named, so the number of statements a connection keeps is
 * bounded by this module, never by the data.
 */

const NAME_PATTERN = /^[a-z][a-z0-9_]{0,40}$/;
const nameOfText = new Map<string, string>();
const textOfName = new Map<string, string>();

/**
 * Registers `text` under `name` and returns the text unchanged (use it where the SQL
 * string is declared). A name may be registered once; the same pair again is allowed.
 *
 * @example
 * const PENDING_SQL = preparedStatement('mailbox_pending', 'SELECT … WHERE d.device_id = $1');
 * await sql.query(PENDING_SQL, [deviceId]);
 */
export function preparedStatement(name: string, text: string): string {
  if (!NAME_PATTERN.test(name)) throw new Error(`invalid prepared statement name ${name}`);
  const earlier = textOfName.get(name);
  if (earlier !== undefined && earlier !== text) throw new Error(`prepared statement ${name} is registered with another text`);
  textOfName.set(name, text);
  nameOfText.set(text, `parley_${name}`);
  return text;
}

/** The statement name of a registered text (undefined: send it unnamed). */
export function preparedName(text: string): string | undefined {
  return nameOfText.get(text);
}
