/**
 * @module The bench's nginx (Debian package): bench/nginx/nginx.conf rendered into a temporary
 * folder with its own pid file, logs and temp paths, run in the foreground as a child, as
 * test/helpers/nginx.ts does for the integration tests.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { MEDIA_LOCATION } from '../demo/app'
import {
  canConnect,
  findExecutable,
  freePort,
  OutputTail,
  stopProcess,
  track,
  trackFolder,
} from './processes'

/** The template, with {{NAME}} placeholders. */
export const NGINX_TEMPLATE = path.join(__dirname, 'nginx', 'nginx.conf')

/** The nginx binary: NGINX when set, else `nginx` on PATH or in the sbin folders. */
export function findNginx(): string | undefined {
  return findExecutable(...(process.env.NGINX ? [process.env.NGINX] : []), 'nginx')
}

/** A running bench nginx. */
export interface BenchNginx {
  /** nginx serving the media root statically. */
  staticPort: number
  /** nginx in front of "ours", completing X-Accel-Redirect answers. */
  proxyPort: number
  pid: number
  /** The lines logged for requests marked `X-Bench-Verify: 1`. */
  accessLog(): Promise<string>
  stop(): Promise<void>
}

/** Fills in the template's placeholders; throws when one is left. */
export function renderNginxConfig(template: string, values: Record<string, string>): string {
  const text = template.replace(/\{\{([A-Z_]+)\}\}/g, (whole, name: string) => values[name] ?? whole)
  const left = /\{\{[A-Z_]+\}\}/.exec(text)
  if (left) throw new Error(`bench/nginx/nginx.conf: no value for ${left[0]}`)
  return text
}

/** Starts nginx for the media root and the app on `appPort`; ready once its pid file is written and both ports answer. */
export async function startNginx(options: {
  binary: string
  mediaRoot: string
  appPort: number
  workers: string
}): Promise<BenchNginx> {
  const dir = trackFolder(await mkdtemp(path.join(os.tmpdir(), 'downloadview-bench-nginx-')))
  const template = await readFile(NGINX_TEMPLATE, 'utf8')
  let lastError: unknown
  // A free port can be taken between the probe and nginx's bind: try a few.
  for (let attempt = 0; attempt < 5; attempt++) {
    const staticPort = await freePort()
    const proxyPort = await freePort()
    if (staticPort === proxyPort) continue
    const config = path.join(dir, 'nginx.conf')
    await writeFile(
      config,
      renderNginxConfig(template, {
        // As root, nginx would switch its workers to "nobody", who may not read the media root.
        USER: process.getuid?.() === 0 ? 'user root;\n' : '',
        WORKERS: options.workers,
        DIR: dir,
        STATIC_PORT: String(staticPort),
        PROXY_PORT: String(proxyPort),
        APP_PORT: String(options.appPort),
        MEDIA_ROOT: options.mediaRoot,
        MEDIA_LOCATION,
      }),
    )
    const output = new OutputTail()
    // -e: the error log from the very start, before the configuration is read (nginx >= 1.19.5).
    const child = track(
      spawn(options.binary, ['-p', `${dir}/`, '-c', config, '-e', path.join(dir, 'error.log')], {
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    )
    child.stdout?.on('data', (chunk: Buffer) => output.push(chunk))
    child.stderr?.on('data', (chunk: Buffer) => output.push(chunk))
    const errorLog = async () =>
      `${output}${await readFile(path.join(dir, 'error.log'), 'utf8').catch(() => '')}`
    const deadline = Date.now() + 10_000
    let ready = false
    while (!ready && Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
      const pid = (await readFile(path.join(dir, 'nginx.pid'), 'utf8').catch(() => '')).trim()
      ready = pid === String(child.pid) && (await canConnect(staticPort)) && (await canConnect(proxyPort))
      if (!ready) await new Promise((resolve) => setTimeout(resolve, 50))
    }
    if (ready) {
      return {
        staticPort,
        proxyPort,
        pid: child.pid as number,
        accessLog: () => readFile(path.join(dir, 'access.log'), 'utf8').catch(() => ''),
        stop: () => stopProcess(child),
      }
    }
    await stopProcess(child)
    lastError = new Error(`nginx did not start:\n${await errorLog()}`)
  }
  throw lastError
}
