/**
 * @module The SSRF guard of the HTTP view: which destinations it may contact. Addresses are checked
 * after DNS resolution, and the connection goes to the very address that was checked.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { isIPv4, isIPv6, type LookupFunction } from 'node:net'
import { ConfigurationError, DestinationNotAllowedError } from '../errors'

/** Why an address is refused: the special-purpose range it belongs to (RFC 6890 and friends). */
export type RestrictedRange =
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'shared'
  | 'link-local'
  | 'metadata'
  | 'multicast'
  | 'reserved'

/** Options of the guard; {@link HTTPDownloadViewOptions} documents them. */
export interface DestinationGuardOptions {
  allowedHosts?: readonly string[]
  onlyAllowedHosts?: boolean
}

/** How to reach a checked destination: the host to connect to and, for names, a checking lookup. */
export interface Destination {
  /** The host for `http.request`: a name, or an IP literal without brackets. */
  hostname: string
  /** Set for names that are not in the allow-list: resolves, checks every address, connects to them. */
  lookup?: LookupFunction
}

/**
 * An entry of the allow-list: one host, or every subdomain of a domain (`*.example.com`), on one
 * `port`, or, without one, on the scheme's default port and the port of the URL the view was given
 * (see {@link DestinationGuard.allows}).
 */
export type HostPattern = ({ kind: 'host'; host: string } | { kind: 'subdomains'; suffix: string }) & {
  port?: number
}

// Cloud instance metadata services: the classic SSRF prize (credentials, tokens, user data).
const METADATA_V4 = new Set([
  '169.254.169.254', // AWS, GCP, Azure, OpenStack, DigitalOcean...
  '169.254.170.2', // AWS ECS task credentials
  '169.254.170.23', // AWS EKS Pod Identity
  '100.100.100.200', // Alibaba Cloud
  '168.63.129.16', // Azure WireServer: a public address, so it must be listed by name
  '192.0.0.192', // Oracle Cloud
])
const METADATA_V6 = new Set(['fd00:ec2::254', 'fd00:ec2::23'])

// IPv4 special-purpose blocks (RFC 6890, IANA registry): [network, prefix length, range].
const IPV4_BLOCKS: [string, number, RestrictedRange][] = [
  ['0.0.0.0', 8, 'unspecified'], // "this network"; 0.0.0.0 reaches the local host on Linux
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'shared'], // carrier-grade NAT (RFC 6598)
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'], // IETF protocol assignments
  ['192.0.2.0', 24, 'reserved'], // TEST-NET-1
  ['192.88.99.0', 24, 'reserved'], // 6to4 relay anycast (deprecated)
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'reserved'], // benchmarking
  ['198.51.100.0', 24, 'reserved'], // TEST-NET-2
  ['203.0.113.0', 24, 'reserved'], // TEST-NET-3
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'], // future use, and 255.255.255.255 broadcast
]

const V4_MASK = 0xffffffffn

/**
 * The special-purpose range `address` (an IPv4 or IPv6 literal, brackets and zone allowed) belongs
 * to, or `undefined` for a public unicast address. IPv4 embedded in IPv6 (mapped `::ffff:a.b.c.d`,
 * NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) is judged as the IPv4 address it reaches. Anything that is
 * not an IP address is `'reserved'`: the guard fails closed.
 *
 * @example
 * restrictedRange('::ffff:169.254.169.254') // 'metadata'
 * restrictedRange('93.184.215.14') // undefined
 */
export function restrictedRange(address: string): RestrictedRange | undefined {
  const text = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address
  const v4 = parseIPv4(text)
  if (v4 !== undefined) return ipv4Range(v4)
  const v6 = parseIPv6(text)
  return v6 === undefined ? 'reserved' : ipv6Range(v6)
}

function ipv4Range(value: number): RestrictedRange | undefined {
  if (METADATA_V4.has(formatIPv4(value))) return 'metadata'
  for (const [network, prefix, range] of IPV4_BLOCKS) {
    const base = parseIPv4(network) ?? 0
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
    if ((value & mask) >>> 0 === base) return range
  }
  return undefined
}

function ipv6Range(value: bigint): RestrictedRange | undefined {
  const within = (network: string, prefix: number) => {
    const base = parseIPv6(network) ?? 0n
    const shift = BigInt(128 - prefix)
    return value >> shift === base >> shift
  }
  if (value === 0n) return 'unspecified'
  if (value === 1n) return 'loopback'
  // IPv4-mapped, NAT64 and 6to4 addresses reach an IPv4 host: judge that host.
  if (within('::ffff:0:0', 96) || within('64:ff9b::', 96)) return ipv4Range(Number(value & V4_MASK))
  if (within('2002::', 16)) return ipv4Range(Number((value >> 80n) & V4_MASK))
  if (METADATA_V6.has(formatIPv6(value))) return 'metadata'
  if (within('64:ff9b:1::', 48)) return 'private' // local-use NAT64 (RFC 8215)
  if (within('2001::', 23)) return 'reserved' // IETF protocol assignments, Teredo included
  if (within('2001:db8::', 32)) return 'reserved' // documentation
  if (within('fc00::', 7)) return 'private' // unique local addresses
  if (within('fe80::', 10)) return 'link-local'
  if (within('fec0::', 10)) return 'private' // site-local (deprecated)
  if (within('ff00::', 8)) return 'multicast'
  // Only 2000::/3 is allocated for global unicast; the rest is reserved by IANA.
  if (!within('2000::', 3)) return 'reserved'
  return undefined
}

/** The 32-bit value of a dotted-quad IPv4 literal, or `undefined`. */
function parseIPv4(text: string): number | undefined {
  if (!isIPv4(text)) return undefined
  return text.split('.').reduce((value, part) => ((value << 8) | Number(part)) >>> 0, 0)
}

function formatIPv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 0xff).join('.')
}

/** The 128-bit value of an IPv6 literal (a zone index is ignored), or `undefined`. */
function parseIPv6(input: string): bigint | undefined {
  const zone = input.indexOf('%')
  let text = zone === -1 ? input : input.slice(0, zone)
  if (!isIPv6(text)) return undefined
  // A trailing dotted quad (::ffff:1.2.3.4) becomes two hexadecimal groups.
  const lastColon = text.lastIndexOf(':')
  const tail = parseIPv4(text.slice(lastColon + 1))
  if (tail !== undefined) {
    text = `${text.slice(0, lastColon + 1)}${(tail >>> 16).toString(16)}:${(tail & 0xffff).toString(16)}`
  }
  const [head = '', rest] = text.split('::')
  const groups = (part: string) => (part === '' ? [] : part.split(':'))
  const left = groups(head)
  const right = rest === undefined ? [] : groups(rest)
  const missing = 8 - left.length - right.length
  const all = [...left, ...Array<string>(rest === undefined ? 0 : missing).fill('0'), ...right]
  if (all.length !== 8) return undefined
  return all.reduce((value, group) => (value << 16n) | BigInt(Number.parseInt(group, 16)), 0n)
}

/** The canonical (RFC 5952) text of a 128-bit IPv6 value. */
function formatIPv6(value: bigint): string {
  const groups = Array.from({ length: 8 }, (_, index) =>
    Number((value >> BigInt(112 - 16 * index)) & 0xffffn),
  )
  // The longest run of two or more zero groups becomes "::".
  let bestStart = -1
  let bestLength = 1
  for (let start = 0; start < 8; ) {
    let end = start
    while (end < 8 && groups[end] === 0) end++
    if (end - start > bestLength) {
      bestStart = start
      bestLength = end - start
    }
    start = end === start ? start + 1 : end
  }
  const hex = groups.map((group) => group.toString(16))
  if (bestStart === -1) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`
}

/**
 * The host of `url` as the allow-list compares it: lower case, no brackets around IPv6, no trailing
 * dot, IP literals in canonical form (the URL parser already turned `0x7f.1` into `127.0.0.1`).
 */
export function normalizeHost(hostname: string): string {
  let host = hostname.toLowerCase()
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1)
  if (host.endsWith('.')) host = host.slice(0, -1)
  const v6 = parseIPv6(host)
  return v6 === undefined ? host : formatIPv6(v6)
}

/**
 * An allow-list entry split into its host and the text after its port colon, if any: `host:port`,
 * `[v6]:port`. An IPv6 address without brackets has no port (`::1:8080` is an address).
 */
export function splitHostPort(entry: string): { host: string; port?: string } {
  if (entry.startsWith('[')) {
    const close = entry.indexOf(']')
    if (close !== -1 && entry[close + 1] === ':')
      return { host: entry.slice(0, close + 1), port: entry.slice(close + 2) }
    return { host: entry }
  }
  const colon = entry.indexOf(':')
  if (colon === -1 || entry.indexOf(':', colon + 1) !== -1) return { host: entry }
  return { host: entry.slice(0, colon), port: entry.slice(colon + 1) }
}

/** A TCP port written in decimal (1 to 65535), or `undefined`. */
export function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined
  const port = Number(text)
  return port >= 1 && port <= 65535 ? port : undefined
}

/**
 * Parses one allow-list entry: a host name (`files.example.com`), every subdomain of a domain
 * (`*.example.com`, which does not match `example.com` itself), or an IP literal (`10.0.0.5`,
 * `::1`, `[::1]`), each with an optional port (`files.example.com:8443`, `[::1]:8080`).
 * `undefined` for anything else: a scheme, a path, a bare `*`, a port out of range.
 */
export function parseHostPattern(entry: string): HostPattern | undefined {
  if (typeof entry !== 'string') return undefined
  const { host: hostText, port: portText } = splitHostPort(entry)
  if (portText === undefined) return parseHost(hostText)
  const port = parsePort(portText)
  const pattern = port === undefined ? undefined : parseHost(hostText)
  return pattern && { ...pattern, port }
}

/** An entry's host part: a name, `*.domain` or an IP literal. */
function parseHost(entry: string): HostPattern | undefined {
  const wildcard = entry.startsWith('*.')
  const text = wildcard ? entry.slice(2) : entry
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text
  if (isIPv6(bare) && !bare.includes('%')) {
    return wildcard ? undefined : { kind: 'host', host: normalizeHost(bare) }
  }
  // Host names only: letters, digits, dots, hyphens, underscores, and non-ASCII (IDN).
  if (!/^[\p{L}\p{N}._-]+$/u.test(text) || text.startsWith('.') || text.includes('..')) return undefined
  let host: string
  try {
    host = normalizeHost(new URL(`http://${text}/`).hostname)
  } catch {
    return undefined
  }
  if (host === '') return undefined
  if (!wildcard) return { kind: 'host', host }
  // "*.10.0.0.1" is not a domain.
  if (isIPv4(host)) return undefined
  return { kind: 'subdomains', suffix: `.${host}` }
}

/**
 * Whether the normalized `host` on `port` matches one of `patterns`. An entry that names a port
 * matches that port only; one without matches the ports in `implicitPorts`.
 */
export function matchesHost(
  patterns: readonly HostPattern[],
  host: string,
  port: number,
  implicitPorts: readonly number[],
): boolean {
  return patterns.some(
    (pattern) =>
      (pattern.port === undefined ? implicitPorts.includes(port) : pattern.port === port) &&
      hostMatches(pattern, host),
  )
}

function hostMatches(pattern: HostPattern, host: string): boolean {
  return pattern.kind === 'host'
    ? pattern.host === host
    : host.endsWith(pattern.suffix) && host.length > pattern.suffix.length
}

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443 }

/** The port a URL connects to: its own, or its scheme's default. */
function portOf(url: URL): number {
  return url.port === '' ? (DEFAULT_PORTS[url.protocol] ?? 0) : Number(url.port)
}

/**
 * Decides whether the HTTP view may contact a URL. A host in the allow-list, on a port the list
 * allows for it, is trusted whatever it resolves to; any other host is refused when
 * `onlyAllowedHosts` is set, and otherwise allowed only if every address it resolves to is public.
 * Checked again for every redirect hop.
 *
 * @example
 * const guard = new DestinationGuard({ allowedHosts: ['*.example.com'] }, 'HTTPDownloadView')
 * http.request({ ...guard.check(new URL(url)), path: '/' })
 */
export class DestinationGuard {
  readonly patterns: readonly HostPattern[]
  readonly onlyAllowedHosts: boolean

  constructor(options: DestinationGuardOptions, owner: string) {
    const allowed = options.allowedHosts ?? []
    if (!Array.isArray(allowed))
      throw new ConfigurationError(`${owner}: option "allowedHosts" must be an array of host names`)
    this.patterns = allowed.map((entry: unknown) => {
      const pattern = typeof entry === 'string' ? parseHostPattern(entry) : undefined
      if (!pattern) {
        const port = typeof entry === 'string' ? splitHostPort(entry).port : undefined
        throw new ConfigurationError(
          `${owner}: option "allowedHosts" has ${JSON.stringify(entry)}, ${
            port !== undefined && /^\d*$/.test(port)
              ? 'whose port is not a number from 1 to 65535'
              : 'which is not a host name, "*.domain" or an IP address, with an optional ":port"'
          }`,
        )
      }
      return pattern
    })
    const only = options.onlyAllowedHosts ?? false
    if (typeof only !== 'boolean')
      throw new ConfigurationError(`${owner}: option "onlyAllowedHosts" must be a boolean`)
    if (only && this.patterns.length === 0)
      throw new ConfigurationError(`${owner}: option "onlyAllowedHosts" needs a non-empty "allowedHosts"`)
    this.onlyAllowedHosts = only
  }

  /**
   * Whether the host and port of `url` are in the allow-list. An entry without a port allows the
   * scheme's default port and the port of `given`, the URL the view itself was given (its `url`
   * option or what `getUrl()` returned), of which `url` may be a redirect.
   */
  allows(url: URL, given: URL = url): boolean {
    // Why the port counts: a trusted host runs other services on other ports (an admin API, a
    // database, the metadata proxy), and a redirect from a trusted upstream must not reach them.
    const implicit = [DEFAULT_PORTS[url.protocol] ?? 0, portOf(given)]
    return matchesHost(this.patterns, normalizeHost(url.hostname), portOf(url), implicit)
  }

  /**
   * Checks `url` before a connection: the scheme, the allow-list (see {@link allows} for `given`),
   * and an IP literal's range. For a name outside the allow-list, the returned `lookup` checks the
   * resolved addresses. Throws `DestinationNotAllowedError`.
   */
  check(url: URL, given: URL = url): Destination {
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new DestinationNotAllowedError(`Refused ${url.protocol} URL: only http and https are fetched`)
    const host = normalizeHost(url.hostname)
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
    if (this.allows(url, given)) return { hostname }
    // A host listed for other ports only is treated like any other host on this one.
    const otherPort = this.patterns.some((pattern) => hostMatches(pattern, host))
      ? `Refused host ${url.host}: allowedHosts lists ${host}, but not on port ${portOf(url)}`
      : undefined
    if (this.onlyAllowedHosts)
      throw new DestinationNotAllowedError(otherPort ?? `Refused host ${url.host}: it is not in allowedHosts`)
    // Node does not call `lookup` for an IP literal: check it here.
    if (isIPv4(host) || isIPv6(host)) {
      const range = restrictedRange(host)
      if (range)
        throw otherPort
          ? new DestinationNotAllowedError(`${otherPort} (a ${range} address)`)
          : refusal(host, host, range)
      return { hostname }
    }
    return { hostname, lookup: checkedLookup(host) }
  }
}

function refusal(host: string, address: string, range: RestrictedRange): DestinationNotAllowedError {
  const where = host === address ? `${host} is` : `${host} resolves to ${address},`
  return new DestinationNotAllowedError(
    `Refused host ${host}: ${where} a ${range} address (list the host in allowedHosts to allow it)`,
  )
}

/**
 * A `lookup` for `http.request` that resolves `host` once, refuses it if any address is restricted,
 * and hands the checked addresses to the socket: a second resolution (DNS rebinding) never happens.
 */
function checkedLookup(host: string): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) {
        callback(error, '', 0)
        return
      }
      for (const { address } of addresses) {
        const range = restrictedRange(address)
        if (range) {
          callback(refusal(host, address, range), '', 0)
          return
        }
      }
      const [first] = addresses
      if (!first) {
        const empty = Object.assign(new Error(`${host} resolves to no address`), { code: 'ENOTFOUND' })
        callback(empty, '', 0)
        return
      }
      if (options.all) callback(null, addresses)
      else callback(null, first.address, first.family)
    })
  }
}
