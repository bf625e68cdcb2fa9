/**
 * SIGTERM and Ctrl-C stop all of `npm start`: the real command, run in a process group of its own,
 * with an embedded Postgres in a temporary data directory (EMBEDDED_PG_DATA_DIR). Once it serves
 * `/`, or while it starts, a signal must leave no process behind: none in npm's process group (npm,
 * node, the postmaster) and none working in the data directory (postgres's other processes, which
 * each lead a session of their own), and the Postgres port must refuse connections.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, readlink, realpath, rm } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { freePort } from '../../demo/embedded-postgres'

const REPOSITORY = path.resolve(__dirname, '..', '..')

/** How long `npm start` may take to listen: initdb, the Postgres start, migrations and seed. */
const START_TIMEOUT = 90_000

/** How long every process may take to be gone after the signal: the demo's 10 s bound, and some. */
const GONE_WITHIN = 15_000

/** One `npm start`. */
interface NpmStart {
  child: ChildProcess
  /** npm's pid, which is also its process group's id (`detached`). */
  pgid: number
  /** The temporary directory: the Postgres data directory and the media are in it. */
  dir: string
  pgPort: number
  /** Everything it wrote so far, stdout and stderr. */
  output(): string
  /** npm's exit. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Every `npm start` so far, for afterAll to clean up after. */
const started: { pgid: number; dir: string }[] = []

/** What the demo prints once it listens, with its URL (`http://127.0.0.1:<port>`). */
const LISTENING = /demo listening on (http:\/\/127\.0\.0\.1:\d+)\//

/** What the demo prints before it starts the embedded Postgres. */
const STARTING_POSTGRES = /starting the embedded PostgreSQL/

/** Runs `npm start` in a process group of its own; resolves once its output matches `until`. */
async function npmStart(until: RegExp): Promise<{ run: NpmStart; match: RegExpExecArray }> {
  const dir = await realpath(await mkdtemp(path.join(os.tmpdir(), 'downloadview-signals-')))
  const pgPort = await freePort()
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: '0',
    EMBEDDED_PG_DATA_DIR: path.join(dir, 'postgres'),
    EMBEDDED_PG_PORT: String(pgPort),
    MEDIA_ROOT: path.join(dir, 'media'),
  }
  delete env.DATABASE_URL // the jest global setup's server: the demo must start its own
  delete env.STORAGE
  const child = spawn('npm', ['start'], {
    cwd: REPOSITORY,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  if (child.pid === undefined) throw new Error('npm start has no pid')
  const pgid = child.pid
  started.push({ pgid, dir })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  let output = ''
  const collect = (chunk: Buffer) => {
    output += chunk.toString()
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`npm start did not print ${until} within ${START_TIMEOUT} ms:\n${output}`))
    }, START_TIMEOUT)
    const onData = () => {
      const found = until.exec(output)
      if (!found) return
      clearTimeout(timer)
      child.stdout?.off('data', onData)
      resolve(found)
    }
    child.stdout?.on('data', onData)
    void exited.then(({ code, signal }) => {
      clearTimeout(timer)
      reject(new Error(`npm start exited (${code ?? signal}) while starting:\n${output}`))
    })
  })
  return { run: { child, pgid, dir, pgPort, output: () => output, exited }, match }
}

/** A process that has not exited; zombies have, they only wait for their parent to reap them. */
interface LiveProcess {
  pid: number
  pgid: number
  /** Its working directory; undefined when it cannot be read. */
  cwd: string | undefined
  command: string
}

/** Every live process, from /proc. */
async function liveProcesses(): Promise<LiveProcess[]> {
  const found: LiveProcess[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces and parentheses.
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8')
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (state === 'Z') continue
      const command = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).replaceAll('\0', ' ').trim()
      const cwd = await readlink(`/proc/${entry}/cwd`).catch(() => undefined)
      found.push({ pid: Number(entry), pgid: Number(pgrp), cwd, command })
    } catch {
      // It exited while we read it.
    }
  }
  return found
}

/**
 * The live processes of `npm start`: those in its process group (npm, sh, node, the postmaster),
 * and those working in its directory, as every postgres process does in its data directory (the
 * postmaster's children each lead a session, and group, of their own).
 */
async function processesOf(run: { pgid: number; dir: string }): Promise<LiveProcess[]> {
  const inDir = (cwd: string | undefined) =>
    cwd !== undefined && (cwd === run.dir || cwd.startsWith(`${run.dir}/`))
  return (await liveProcesses()).filter((p) => p.pgid === run.pgid || inDir(p.cwd))
}

/** The processes of `run` still there after `timeout` ms, as "pid command"; none as soon as they are gone. */
async function leftAfter(run: NpmStart, timeout: number): Promise<string[]> {
  const deadline = Date.now() + timeout
  for (;;) {
    const left = await processesOf(run)
    if (left.length === 0 || Date.now() > deadline) return left.map((p) => `${p.pid} ${p.command}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** Checks that `run` serves `/` at `url`, and runs npm, node and postgres: what the signal must stop. */
async function expectRunning(run: NpmStart, url: string): Promise<void> {
  const response = await fetch(`${url}/`)
  await response.arrayBuffer()
  expect(response.status).toBe(200)
  const commands = (await processesOf(run)).map((p) => p.command)
  expect(commands).toContainEqual(expect.stringMatching(/^npm start/))
  expect(commands).toContainEqual(expect.stringMatching(/node .*demo\/main\.ts/))
  expect(commands).toContainEqual(expect.stringMatching(/postgres -D .*\/postgres -p /))
  expect(await accepts(run.pgPort)).toBe(true)
}

afterAll(async () => {
  // Whatever a failed test left running: the group, then postgres's processes; then the files.
  for (const run of started) {
    // A process group id is not reused while the group has a member: this one is still npm's.
    if ((await processesOf(run)).some((p) => p.pgid === run.pgid))
      try {
        process.kill(-run.pgid, 'SIGKILL')
      } catch {
        // Its last member exited just now.
      }
    for (const left of await processesOf(run)) {
      try {
        process.kill(left.pid, 'SIGKILL')
      } catch {
        // Gone already.
      }
    }
    await rm(run.dir, { recursive: true, force: true })
  }
}, 30_000)

describe('npm start', () => {
  describe('when npm alone gets SIGTERM', () => {
    it('stops node and the embedded Postgres, and exits with 0', async () => {
      const { run, match } = await npmStart(LISTENING)
      await expectRunning(run, match[1] ?? '')

      process.kill(run.pgid, 'SIGTERM')

      expect(await leftAfter(run, GONE_WITHIN)).toEqual([])
      expect(await accepts(run.pgPort)).toBe(false)
      expect(await run.exited).toEqual({ code: 0, signal: null })
      expect(run.output().match(/SIGTERM: shutting down/g)).toHaveLength(1)
    }, 150_000)
  })

  describe('when the whole process group gets SIGINT (Ctrl-C in a terminal)', () => {
    it('stops node and the embedded Postgres, and exits with 0', async () => {
      const { run, match } = await npmStart(LISTENING)
      await expectRunning(run, match[1] ?? '')

      process.kill(-run.pgid, 'SIGINT')

      expect(await leftAfter(run, GONE_WITHIN)).toEqual([])
      expect(await accepts(run.pgPort)).toBe(false)
      expect(await run.exited).toEqual({ code: 0, signal: null })
      // npm forwards the SIGINT that node got from the terminal too: one shutdown, not a forced exit.
      expect(run.output().match(/SIGINT: shutting down/g)).toHaveLength(1)
      expect(run.output()).not.toMatch(/exiting now|exiting without waiting/)
    }, 150_000)
  })

  describe('when npm gets SIGTERM while the demo starts its embedded Postgres', () => {
    it('stops what it started, never listens, and exits with 0', async () => {
      const { run } = await npmStart(STARTING_POSTGRES)

      process.kill(run.pgid, 'SIGTERM')

      expect(await leftAfter(run, GONE_WITHIN)).toEqual([])
      expect(await accepts(run.pgPort)).toBe(false)
      expect(await run.exited).toEqual({ code: 0, signal: null })
      expect(run.output().match(/SIGTERM: shutting down/g)).toHaveLength(1)
      expect(run.output()).not.toMatch(LISTENING)
    }, 150_000)
  })
})
