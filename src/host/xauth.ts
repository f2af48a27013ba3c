/**
 * X authority files, as pure functions: read the records, keep the cookies of one display,
 * write them back. A jail gets an Xauthority holding only the cookie of the display it may
 * use, so a program cannot authenticate to the caller's other X servers even where their
 * sockets are reachable (an abstract socket, with --net).
 *
 * The format (Xau's): records of a big-endian u16 family, then four counted strings, each a
 * big-endian u16 length and its bytes: address, display number, authorization name, data.
 */

/** Family of a record for one host, by name (the address is the host name). */
export const FAMILY_LOCAL = 256;
/** Family of a record that matches any address: what the jail's copy uses. */
export const FAMILY_WILD = 65535;

export interface XauthRecord {
  family: number;
  address: Buffer;
  /** The display number, as decimal text ('' matches any display). */
  display: string;
  name: string;
  data: Buffer;
}

/** The records of an Xauthority file; a truncated last record is dropped, as Xau does. */
export const parseXauthority = (file: Buffer): XauthRecord[] => {
  const records: XauthRecord[] = [];
  let at = 0;
  const counted = (): Buffer | undefined => {
    if (at + 2 > file.length) return undefined;
    const length = file.readUInt16BE(at);
    if (at + 2 + length > file.length) return undefined;
    const bytes = file.subarray(at + 2, at + 2 + length);
    at += 2 + length;
    return bytes;
  };
  // Stryker disable next-line EqualityOperator: two bytes alone are a family without its strings, dropped either way.
  while (at + 2 <= file.length) {
    const family = file.readUInt16BE(at);
    at += 2;
    const fields = [counted(), counted(), counted(), counted()];
    if (fields.includes(undefined)) break;
    const [address, display, name, data] = fields as [Buffer, Buffer, Buffer, Buffer];
    records.push({family, address: Buffer.from(address), display: display.toString('latin1'), name: name.toString('latin1'), data: Buffer.from(data)});
  }
  return records;
};

const countedBytes = (bytes: Buffer): Buffer => {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(bytes.length);
  return Buffer.concat([length, bytes]);
};

export const serializeXauthority = (records: readonly XauthRecord[]): Buffer =>
  Buffer.concat(records.flatMap(record => {
    const family = Buffer.alloc(2);
    family.writeUInt16BE(record.family);
    return [family, ...[record.address, Buffer.from(record.display, 'latin1'), Buffer.from(record.name, 'latin1'), record.data].map(countedBytes)];
  }));

/**
 * The cookies Xlib would offer for local display `display` on host `hostname`: records for
 * that display (or any) whose address is this host's or any. Each becomes a record for any
 * address, since the jail's host name need not be the host's; the first per authorization
 * name is kept, the one Xlib would use.
 */
export const displayCookies = (records: readonly XauthRecord[], display: number, hostname: string): XauthRecord[] => {
  const seen = new Set<string>();
  const kept: XauthRecord[] = [];
  for (const record of records) {
    const forDisplay = record.display === '' || record.display === String(display);
    const forHost = record.family === FAMILY_WILD || (record.family === FAMILY_LOCAL && record.address.toString('latin1') === hostname);
    if (!forDisplay || !forHost || seen.has(record.name)) continue;
    seen.add(record.name);
    kept.push({family: FAMILY_WILD, address: Buffer.alloc(0), display: String(display), name: record.name, data: record.data});
  }
  return kept;
};

/** The display number of a local X display (`:0`, `:1.0`, `unix:2`), or undefined for any other. */
export const localDisplay = (display: string): number | undefined => {
  const match = /^(?:unix)?:(\d+)(?:\.\d+)?$/.exec(display);
  return match === null ? undefined : Number(match[1]);
};
