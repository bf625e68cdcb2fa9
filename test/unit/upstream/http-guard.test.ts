import dns, { type LookupAddress } from 'node:dns'
import type { LookupFunction } from 'node:net'
import { ConfigurationError, DestinationNotAllowedError } from '../../../src/errors'
import {
  DestinationGuard,
  type DestinationGuardOptions,
  matchesHost,
  normalizeHost,
  parseHostPattern,
  parsePort,
  restrictedRange,
  splitHostPort,
} from '../../../src/upstream/http-guard'

const guard = (options: DestinationGuardOptions = {}) => new DestinationGuard(options, 'TestView')

/** The DestinationNotAllowedError that `fn` throws; fails on anything else. */
function refusalOf(fn: () => unknown): DestinationNotAllowedError {
  try {
    fn()
  } catch (error) {
    if (error instanceof DestinationNotAllowedError) return error
    throw error
  }
  throw new Error('expected a DestinationNotAllowedError, nothing was thrown')
}

/** What `lookup` calls back with for `hostname`, as a promise. */
function resolveWith(
  lookup: LookupFunction,
  hostname: string,
  options: dns.LookupOptions,
): Promise<{ addresses: string | LookupAddress[]; family?: number }> {
  return new Promise((resolve, reject) => {
    lookup(hostname, options, (error, addresses, family) => {
      if (error) reject(error)
      else resolve({ addresses, family })
    })
  })
}

/** Makes dns.lookup answer `addresses` for every name. */
function fakeDns(addresses: LookupAddress[]): jest.SpyInstance {
  return jest.spyOn(dns, 'lookup').mockImplementation(((
    _hostname: string,
    _options: unknown,
    callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
  ) => {
    callback(null, addresses)
  }) as unknown as typeof dns.lookup)
}

afterEach(() => {
  jest.restoreAllMocks()
})

describe('restrictedRange()', () => {
  describe('with IPv4 addresses', () => {
    it.each([
      ['0.0.0.0', 'unspecified'],
      ['0.1.2.3', 'unspecified'],
      ['127.0.0.1', 'loopback'],
      ['127.255.255.254', 'loopback'],
      ['10.0.0.1', 'private'],
      ['172.16.0.1', 'private'],
      ['172.31.255.255', 'private'],
      ['192.168.1.1', 'private'],
      ['100.64.0.1', 'shared'],
      ['100.127.255.255', 'shared'],
      ['169.254.0.1', 'link-local'],
      ['224.0.0.1', 'multicast'],
      ['239.255.255.250', 'multicast'],
      ['240.0.0.1', 'reserved'],
      ['255.255.255.255', 'reserved'],
      ['192.0.2.1', 'reserved'],
      ['198.18.0.1', 'reserved'],
      ['203.0.113.9', 'reserved'],
    ])('classifies %s as %s', (address, range) => {
      expect(restrictedRange(address)).toBe(range)
    })

    it.each(['8.8.8.8', '1.1.1.1', '93.184.215.14', '172.32.0.1', '100.128.0.1', '11.0.0.1', '169.253.0.1'])(
      'allows the public address %s',
      (address) => {
        expect(restrictedRange(address)).toBeUndefined()
      },
    )
  })

  describe('with cloud metadata addresses', () => {
    it.each([
      '169.254.169.254',
      '169.254.170.2',
      '100.100.100.200',
      '168.63.129.16',
      'fd00:ec2::254',
      'FD00:EC2:0:0:0:0:0:254',
    ])('classifies %s as metadata', (address) => {
      expect(restrictedRange(address)).toBe('metadata')
    })
  })

  describe('with IPv6 addresses', () => {
    it.each([
      ['::', 'unspecified'],
      ['::1', 'loopback'],
      ['0:0:0:0:0:0:0:1', 'loopback'],
      ['[::1]', 'loopback'],
      ['fc00::1', 'private'],
      ['fd12:3456::1', 'private'],
      ['fe80::1', 'link-local'],
      ['fe80::1%eth0', 'link-local'],
      ['febf::1', 'link-local'],
      ['fec0::1', 'private'],
      ['ff02::1', 'multicast'],
      ['2001:db8::1', 'reserved'],
      ['2001::1', 'reserved'],
      ['100::1', 'reserved'],
      ['::127.0.0.1', 'reserved'],
      ['4000::1', 'reserved'],
    ])('classifies %s as %s', (address, range) => {
      expect(restrictedRange(address)).toBe(range)
    })

    it.each(['2606:4700:4700::1111', '2a00:1450:4007:80c::200e', '2001:4860:4860::8888'])(
      'allows the public address %s',
      (address) => {
        expect(restrictedRange(address)).toBeUndefined()
      },
    )
  })

  describe('with IPv4 embedded in IPv6', () => {
    it.each([
      ['::ffff:127.0.0.1', 'loopback'],
      ['::ffff:7f00:1', 'loopback'],
      ['::ffff:10.1.2.3', 'private'],
      ['::ffff:169.254.169.254', 'metadata'],
      ['::ffff:a9fe:a9fe', 'metadata'],
      ['[::ffff:192.168.0.1]', 'private'],
      ['64:ff9b::127.0.0.1', 'loopback'],
      ['64:ff9b::a9fe:a9fe', 'metadata'],
      ['2002:7f00:1::1', 'loopback'],
      ['2002:a9fe:a9fe::', 'metadata'],
    ])('classifies %s as %s', (address, range) => {
      expect(restrictedRange(address)).toBe(range)
    })

    it('allows a mapped public address', () => {
      expect(restrictedRange('::ffff:8.8.8.8')).toBeUndefined()
    })

    it('allows a NAT64 public address', () => {
      expect(restrictedRange('64:ff9b::808:808')).toBeUndefined()
    })
  })

  describe('with something that is not an IP address', () => {
    it.each(['localhost', '', '1.2.3', '::g', '127.0.0.1.'])('fails closed for %j', (text) => {
      expect(restrictedRange(text)).toBe('reserved')
    })
  })
})

describe('normalizeHost()', () => {
  it('lowercases names and drops a trailing dot', () => {
    expect(normalizeHost('Files.Example.COM.')).toBe('files.example.com')
  })

  it('unbrackets and compresses IPv6 literals', () => {
    expect(normalizeHost('[0:0:0:0:0:0:0:1]')).toBe('::1')
  })
})

describe('parseHostPattern()', () => {
  it('reads a host name', () => {
    expect(parseHostPattern('Files.Example.com')).toEqual({ kind: 'host', host: 'files.example.com' })
  })

  it('reads a subdomain wildcard', () => {
    expect(parseHostPattern('*.example.com')).toEqual({ kind: 'subdomains', suffix: '.example.com' })
  })

  it('reads an IPv4 literal', () => {
    expect(parseHostPattern('127.0.0.1')).toEqual({ kind: 'host', host: '127.0.0.1' })
  })

  it('reads a bracketed IPv6 literal in canonical form', () => {
    expect(parseHostPattern('[0::1]')).toEqual({ kind: 'host', host: '::1' })
  })

  it('reads an international name as punycode', () => {
    expect(parseHostPattern('bücher.example')).toEqual({ kind: 'host', host: 'xn--bcher-kva.example' })
  })

  it('reads a host name with a port', () => {
    expect(parseHostPattern('Files.Example.com:8443')).toEqual({
      kind: 'host',
      host: 'files.example.com',
      port: 8443,
    })
  })

  it('reads an IPv4 literal with a port', () => {
    expect(parseHostPattern('127.0.0.1:8080')).toEqual({ kind: 'host', host: '127.0.0.1', port: 8080 })
  })

  it('reads a bracketed IPv6 literal with a port', () => {
    expect(parseHostPattern('[0::1]:8080')).toEqual({ kind: 'host', host: '::1', port: 8080 })
  })

  it('reads a subdomain wildcard with a port', () => {
    expect(parseHostPattern('*.example.com:443')).toEqual({
      kind: 'subdomains',
      suffix: '.example.com',
      port: 443,
    })
  })

  it('reads an unbracketed IPv6 literal as an address, never as an address and a port', () => {
    expect(parseHostPattern('::1:8080')).toEqual({ kind: 'host', host: '::1:8080' })
  })

  it.each([
    '*',
    '*.',
    '',
    'example.com:',
    'example.com:0',
    'example.com:65536',
    'example.com:99999',
    'example.com:8o',
    'example.com:+80',
    'example.com: 80',
    'example.com:80:80',
    '[::1]:',
    '[::1]8080',
    ':8080',
    'http://example.com',
    'example.com/path',
    'user@example.com',
    'exa mple.com',
    '*.10.0.0.1',
    '*.::1',
    '.example.com',
    'a..b',
    'ex*ample.com',
  ])('refuses %j', (entry) => {
    expect(parseHostPattern(entry)).toBeUndefined()
  })
})

describe('splitHostPort()', () => {
  it.each([
    ['example.com', { host: 'example.com' }],
    ['example.com:8080', { host: 'example.com', port: '8080' }],
    ['example.com:', { host: 'example.com', port: '' }],
    ['[::1]', { host: '[::1]' }],
    ['[::1]:8080', { host: '[::1]', port: '8080' }],
    ['::1', { host: '::1' }],
    ['::1:8080', { host: '::1:8080' }],
  ])('splits %j', (entry, split) => {
    expect(splitHostPort(entry)).toEqual(split)
  })
})

describe('parsePort()', () => {
  it.each([
    ['1', 1],
    ['80', 80],
    ['08080', 8080],
    ['65535', 65535],
  ])('reads %j', (text, port) => {
    expect(parsePort(text)).toBe(port)
  })

  it.each(['', '0', '65536', '123456', '-1', '+80', '8o', ' 80', '0x50', '1e3'])('refuses %j', (text) => {
    expect(parsePort(text)).toBeUndefined()
  })
})

describe('matchesHost()', () => {
  const patterns = ['files.example.com', '*.cdn.example.net', '10.0.0.5'].map(
    (entry) => parseHostPattern(entry) ?? { kind: 'host' as const, host: '' },
  )
  const matches = (host: string) => matchesHost(patterns, host, 443, [443])

  it('matches an exact host', () => {
    expect(matches('files.example.com')).toBe(true)
  })

  it('matches a subdomain of a wildcard', () => {
    expect(matches('eu.cdn.example.net')).toBe(true)
  })

  it('matches a deeper subdomain of a wildcard', () => {
    expect(matches('a.b.cdn.example.net')).toBe(true)
  })

  it('does not match the wildcard domain itself', () => {
    expect(matches('cdn.example.net')).toBe(false)
  })

  it('does not match a name that only ends with the same letters', () => {
    expect(matches('evilcdn.example.net')).toBe(false)
  })

  it('does not match a subdomain of an exact host', () => {
    expect(matches('x.files.example.com')).toBe(false)
  })

  it('matches an IP literal', () => {
    expect(matches('10.0.0.5')).toBe(true)
  })

  it('does not match another IP', () => {
    expect(matches('10.0.0.6')).toBe(false)
  })

  describe('with ports', () => {
    const ported = ['files.example.com', 'api.example.com:8443'].map(
      (entry) => parseHostPattern(entry) ?? { kind: 'host' as const, host: '' },
    )

    it('matches an entry without a port on an implicit port', () => {
      expect(matchesHost(ported, 'files.example.com', 9000, [443, 9000])).toBe(true)
    })

    it('does not match an entry without a port on another port', () => {
      expect(matchesHost(ported, 'files.example.com', 8443, [443])).toBe(false)
    })

    it('matches an entry on the port it names', () => {
      expect(matchesHost(ported, 'api.example.com', 8443, [443])).toBe(true)
    })

    it('does not match an entry with a port on an implicit port', () => {
      expect(matchesHost(ported, 'api.example.com', 443, [443])).toBe(false)
    })
  })
})

describe('DestinationGuard', () => {
  describe('when the URL is not http or https', () => {
    it.each(['ftp://example.com/a', 'file:///etc/passwd', 'gopher://example.com/'])('refuses %s', (url) => {
      expect(refusalOf(() => guard().check(new URL(url))).message).toMatch(/only http and https/)
    })
  })

  describe('when the host is a restricted IP literal', () => {
    it('refuses it, naming host and range', () => {
      expect(refusalOf(() => guard().check(new URL('http://127.0.0.1:8080/a'))).message).toBe(
        'Refused host 127.0.0.1: 127.0.0.1 is a loopback address (list the host in allowedHosts to allow it)',
      )
    })

    it('refuses an IPv6 literal', () => {
      expect(refusalOf(() => guard().check(new URL('http://[::1]/'))).message).toMatch(/::1 is a loopback/)
    })

    it('refuses an IPv4-mapped literal', () => {
      expect(refusalOf(() => guard().check(new URL('http://[::ffff:169.254.169.254]/'))).message).toMatch(
        /metadata address/,
      )
    })

    it('refuses a decimal spelling of loopback', () => {
      expect(refusalOf(() => guard().check(new URL('http://2130706433/'))).message).toMatch(/loopback/)
    })

    it('allows it when listed in allowedHosts', () => {
      expect(guard({ allowedHosts: ['127.0.0.1'] }).check(new URL('http://127.0.0.1:8080/'))).toEqual({
        hostname: '127.0.0.1',
      })
    })

    it('allows a listed IPv6 literal, unbracketed for http.request', () => {
      expect(guard({ allowedHosts: ['::1'] }).check(new URL('http://[::1]:8080/'))).toEqual({
        hostname: '::1',
      })
    })
  })

  describe('when a listed host is reached on a port', () => {
    const given = new URL('http://127.0.0.1:8080/file')

    it('allows the port of the URL the view was given, on a redirect too', () => {
      const trusting = guard({ allowedHosts: ['127.0.0.1'] })
      expect(trusting.check(new URL('http://127.0.0.1:8080/other'), given)).toEqual({ hostname: '127.0.0.1' })
    })

    it("allows the scheme's default port", () => {
      const trusting = guard({ allowedHosts: ['127.0.0.1'] })
      expect(trusting.check(new URL('https://127.0.0.1/'), given)).toEqual({ hostname: '127.0.0.1' })
    })

    it('refuses another port of a loopback host, naming host and port', () => {
      const trusting = guard({ allowedHosts: ['127.0.0.1'] })
      expect(refusalOf(() => trusting.check(new URL('http://127.0.0.1:9000/'), given)).message).toBe(
        'Refused host 127.0.0.1:9000: allowedHosts lists 127.0.0.1, but not on port 9000 (a loopback address)',
      )
    })

    it('refuses another port with onlyAllowedHosts, naming host and port', () => {
      const strict = guard({ allowedHosts: ['files.example.com'], onlyAllowedHosts: true })
      const url = new URL('https://files.example.com:8443/')
      expect(refusalOf(() => strict.check(url, new URL('https://files.example.com/'))).message).toBe(
        'Refused host files.example.com:8443: allowedHosts lists files.example.com, but not on port 8443',
      )
    })

    it('checks a listed public host on a port not allowed for it after DNS resolution, as any host', () => {
      const url = new URL('https://files.example.com:8443/')
      expect(
        guard({ allowedHosts: ['files.example.com'] }).check(url, new URL('https://files.example.com/'))
          .lookup,
      ).toEqual(expect.any(Function))
    })

    it('allows a port that an entry names', () => {
      const trusting = guard({ allowedHosts: ['127.0.0.1', '127.0.0.1:9000'] })
      expect(trusting.check(new URL('http://127.0.0.1:9000/'), given)).toEqual({ hostname: '127.0.0.1' })
    })

    it('allows a port named for a bracketed IPv6 entry', () => {
      const trusting = guard({ allowedHosts: ['[::1]:9000'] })
      expect(trusting.check(new URL('http://[::1]:9000/'), given)).toEqual({ hostname: '::1' })
    })

    it('refuses the default port to an entry that names another port', () => {
      const strict = guard({ allowedHosts: ['files.example.com:8443'], onlyAllowedHosts: true })
      const url = new URL('https://files.example.com/')
      expect(refusalOf(() => strict.check(url, new URL('https://files.example.com:8443/'))).message).toMatch(
        /but not on port 443/,
      )
    })
  })

  describe('when the host is a public IP literal', () => {
    it('allows it without a lookup', () => {
      expect(guard().check(new URL('https://8.8.8.8/'))).toEqual({ hostname: '8.8.8.8' })
    })
  })

  describe('when the host is a name outside the allow-list', () => {
    it('returns a checking lookup', () => {
      expect(guard().check(new URL('https://files.example.com/')).lookup).toEqual(expect.any(Function))
    })
  })

  describe('when the host is a listed name', () => {
    it('returns no lookup: a trusted host may resolve anywhere', () => {
      expect(guard({ allowedHosts: ['*.internal'] }).check(new URL('http://files.internal/'))).toEqual({
        hostname: 'files.internal',
      })
    })
  })

  describe('when onlyAllowedHosts is on', () => {
    const strict = () => guard({ allowedHosts: ['files.example.com'], onlyAllowedHosts: true })

    it('refuses a public host that is not listed', () => {
      expect(refusalOf(() => strict().check(new URL('https://8.8.8.8/'))).message).toBe(
        'Refused host 8.8.8.8: it is not in allowedHosts',
      )
    })

    it('allows a listed host', () => {
      expect(strict().check(new URL('https://files.example.com/')).hostname).toBe('files.example.com')
    })
  })

  describe('when onlyAllowedHosts is off', () => {
    it('allows a public host that is not listed', () => {
      expect(guard({ allowedHosts: ['files.example.com'] }).check(new URL('https://8.8.8.8/')).hostname).toBe(
        '8.8.8.8',
      )
    })
  })

  describe('lookup', () => {
    const lookupOf = () => guard().check(new URL('https://files.example.com/')).lookup as LookupFunction

    it('hands every checked address over when asked for all', async () => {
      fakeDns([
        { address: '93.184.215.14', family: 4 },
        { address: '2606:2800:21f:cb07:6820:80da:af6b:8b2c', family: 6 },
      ])
      await expect(resolveWith(lookupOf(), 'files.example.com', { all: true })).resolves.toEqual({
        addresses: [
          { address: '93.184.215.14', family: 4 },
          { address: '2606:2800:21f:cb07:6820:80da:af6b:8b2c', family: 6 },
        ],
        family: undefined,
      })
    })

    it('hands the first address over when asked for one', async () => {
      fakeDns([{ address: '93.184.215.14', family: 4 }])
      await expect(resolveWith(lookupOf(), 'files.example.com', {})).resolves.toEqual({
        addresses: '93.184.215.14',
        family: 4,
      })
    })

    it('refuses a name when any resolved address is restricted, naming host and address', async () => {
      fakeDns([
        { address: '93.184.215.14', family: 4 },
        { address: '10.0.0.7', family: 4 },
      ])
      const error = await resolveWith(lookupOf(), 'files.example.com', { all: true }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(DestinationNotAllowedError)
      expect((error as Error).message).toBe(
        'Refused host files.example.com: files.example.com resolves to 10.0.0.7, a private address (list the host in allowedHosts to allow it)',
      )
    })

    it('refuses a name that resolves to an IPv4-mapped metadata address', async () => {
      fakeDns([{ address: '::ffff:169.254.169.254', family: 6 }])
      const error = await resolveWith(lookupOf(), 'files.example.com', { all: true }).catch((e: unknown) => e)
      expect((error as Error).message).toMatch(/resolves to ::ffff:169\.254\.169\.254, a metadata address/)
    })

    it('refuses a name that resolves to nothing', async () => {
      fakeDns([])
      const error = await resolveWith(lookupOf(), 'files.example.com', { all: true }).catch((e: unknown) => e)
      expect((error as NodeJS.ErrnoException).code).toBe('ENOTFOUND')
    })

    it('refuses localhost, resolved by the system', async () => {
      const lookup = guard().check(new URL('http://localhost/')).lookup as LookupFunction
      const error = await resolveWith(lookup, 'localhost', { all: true }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(DestinationNotAllowedError)
    })
  })

  describe('option validation', () => {
    it('rejects allowedHosts that is not an array, naming the option', () => {
      expect(() => guard({ allowedHosts: 'example.com' as unknown as string[] })).toThrow(
        new ConfigurationError('TestView: option "allowedHosts" must be an array of host names'),
      )
    })

    it('rejects an entry that is not a host, naming the option and the entry', () => {
      expect(() => guard({ allowedHosts: ['example.com/files'] })).toThrow(
        new ConfigurationError(
          'TestView: option "allowedHosts" has "example.com/files", which is not a host name, "*.domain" or an IP address, with an optional ":port"',
        ),
      )
    })

    it.each(['example.com:99999', 'example.com:0', 'example.com:', '[::1]:65536'])(
      'rejects %j, naming the option and the port',
      (entry) => {
        expect(() => guard({ allowedHosts: [entry] })).toThrow(
          new ConfigurationError(
            `TestView: option "allowedHosts" has ${JSON.stringify(entry)}, whose port is not a number from 1 to 65535`,
          ),
        )
      },
    )

    it('rejects a non-boolean onlyAllowedHosts', () => {
      expect(() => guard({ onlyAllowedHosts: 'yes' as unknown as boolean })).toThrow(
        'TestView: option "onlyAllowedHosts" must be a boolean',
      )
    })

    it('rejects onlyAllowedHosts without allowedHosts', () => {
      expect(() => guard({ onlyAllowedHosts: true })).toThrow(
        'TestView: option "onlyAllowedHosts" needs a non-empty "allowedHosts"',
      )
    })
  })
})
