/**
 * Real ZIP readers, to hold archives to what others read: Info-ZIP's `unzip -t`, libarchive's
 * `bsdtar`, and Python's `zipfile` (which also reads an archive over HTTP, with Range requests).
 */
import { spawn } from 'node:child_process'

/** What a tool said. */
export interface ToolResult {
  code: number | null
  output: string
  /** Its standard output, as bytes. */
  stdout: Buffer
}

/**
 * Runs `program` and collects what it writes. Asynchronous: the server under test may be in this
 * very process, and a tool that fetches from it must not find its event loop blocked.
 */
export function run(program: string, args: string[]): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk))
    child.once('error', (error) => reject(new Error(`${program} could not run: ${error.message}`)))
    child.once('close', (code) => {
      const stdout = Buffer.concat(out)
      resolve({ code, stdout, output: `${stdout.toString('utf8')}${Buffer.concat(err).toString('utf8')}` })
    })
  })
}

/** `unzip -t`: tests every member's CRC-32; exit status 0 and "No errors detected" when all is well. */
export function unzipTest(file: string): Promise<ToolResult> {
  return run('unzip', ['-t', file])
}

/** `bsdtar -tf`: the entry names, one a line, as libarchive reads them (from the local headers, in order). */
export async function bsdtarList(file: string): Promise<ToolResult & { names: string[] }> {
  const result = await run('bsdtar', ['-tf', file])
  return {
    ...result,
    names: result.stdout
      .toString('utf8')
      .split('\n')
      .filter((line) => line !== ''),
  }
}

/** `bsdtar -xOf`: one member's bytes, extracted by libarchive (which checks its CRC-32). */
export async function bsdtarExtract(file: string, name: string): Promise<Buffer> {
  const result = await run('bsdtar', ['-xOf', file, name])
  if (result.code !== 0) throw new Error(`bsdtar -xOf failed: ${result.output}`)
  return result.stdout
}

/** One entry as Python's zipfile reads it. */
export interface PythonEntry {
  name: string
  size: number
  compressSize: number
  crc: number
  flags: number
  method: number
  /** `[year, month, day, hour, minute, second]` from the DOS fields. */
  date: number[]
  headerOffset: number
  /** The ZIP64 extra field (0x0001) is in the central header. */
  zip64: boolean
  /** SHA-256 of the bytes zipfile extracted (checked against the CRC-32 as it read them). */
  sha256?: string
  /** SHA-256 of the first `head` bytes, read through the member's local header. */
  headSha256?: string
}

/** What Python's zipfile makes of an archive. */
export interface PythonReport {
  /** `testzip()`: the first member whose CRC-32 fails, or null. */
  testzip: string | null
  entries: PythonEntry[]
  /** A ZIP64 end of central directory record was found. */
  zip64End: boolean
}

const INSPECT = `
import sys, json, zipfile, hashlib, struct
class HTTPFile:
    """A seekable file over HTTP Range requests: zipfile reads what it needs, never the whole archive."""
    def __init__(self, url):
        import urllib.request
        self.url, self.pos, self.urllib = url, 0, urllib.request
        req = self.urllib.Request(url, method='HEAD')
        with self.urllib.urlopen(req) as r: self.size = int(r.headers['Content-Length'])
    def seekable(self): return True
    def tell(self): return self.pos
    def seek(self, offset, whence=0):
        self.pos = offset if whence == 0 else self.pos + offset if whence == 1 else self.size + offset
        return self.pos
    def read(self, n=-1):
        if n is None or n < 0: n = self.size - self.pos
        n = min(n, self.size - self.pos)
        if n <= 0: return b''
        req = self.urllib.Request(self.url, headers={'Range': 'bytes=%d-%d' % (self.pos, self.pos + n - 1)})
        with self.urllib.urlopen(req) as r:
            assert r.status == 206, r.status
            data = r.read()
        assert len(data) == n, (len(data), n)
        self.pos += n
        return data
source, read_data, test, head = sys.argv[1], sys.argv[2] == '1', sys.argv[3] == '1', int(sys.argv[4])
f = HTTPFile(source) if source.startswith('http') else open(source, 'rb')
zf = zipfile.ZipFile(f)
f.seek(-22 - 20, 2)
locator = f.read(4)
out = {'testzip': zf.testzip() if test else None, 'entries': [], 'zip64End': locator == b'PK\\x06\\x07'}
for i in zf.infolist():
    e = {'name': i.filename, 'size': i.file_size, 'compressSize': i.compress_size, 'crc': i.CRC,
         'flags': i.flag_bits, 'method': i.compress_type, 'date': list(i.date_time), 'headerOffset': i.header_offset}
    x, p, z = i.extra, 0, False
    while p + 4 <= len(x):
        tag, ln = struct.unpack('<HH', x[p:p+4])
        if tag == 1: z = True
        p += 4 + ln
    e['zip64'] = z
    if read_data: e['sha256'] = hashlib.sha256(zf.read(i)).hexdigest()
    if head > 0:
        with zf.open(i) as member: e['headSha256'] = hashlib.sha256(member.read(head)).hexdigest()
    out['entries'].append(e)
print(json.dumps(out))
`

/**
 * Python's zipfile on `source`, a file or an `http://` URL (read through Range requests); with
 * `readData`, every member is extracted (its CRC-32 checked) and hashed; with `test`, `testzip()`
 * runs; with `head`, the first `head` bytes of each member are read (through its local header).
 */
export async function pythonZip(
  source: string,
  options: { readData?: boolean; test?: boolean; head?: number } = {},
): Promise<PythonReport> {
  const result = await run('python3', [
    '-c',
    INSPECT,
    source,
    options.readData === false ? '0' : '1',
    options.test === false ? '0' : '1',
    String(options.head ?? 0),
  ])
  if (result.code !== 0) throw new Error(`python3 zipfile failed on ${source}:\n${result.output}`)
  return JSON.parse(result.stdout.toString('utf8')) as PythonReport
}
