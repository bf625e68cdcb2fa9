/**
 * @module Resident memory of a server process from /proc/<pid>/status: VmRSS sampled every 100 ms
 * during a run, and VmHWM (the kernel's own peak, reset through /proc/<pid>/clear_refs).
 */
import { readFile, writeFile } from 'node:fs/promises'

const KIB = 1024

/** VmRSS and VmHWM of `pid`, in bytes (`undefined` when /proc has no such process). */
export async function readMemory(pid: number): Promise<{ rss: number; hwm: number } | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined)
  if (!status) return undefined
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN)
  return { rss: field('VmRSS') * KIB, hwm: field('VmHWM') * KIB }
}

/** What a sampler saw. */
export interface RssPeak {
  /** VmRSS when the sampler started, in bytes. */
  start: number
  /** The largest of the sampled VmRSS values and VmHWM (when it could be reset), in bytes. */
  peak: number
  samples: number
}

/** Samples the memory of `pid` from start() to stop(). */
export class RssSampler {
  private timer: NodeJS.Timeout | undefined
  private max = 0
  private start = Number.NaN
  private samples = 0
  private hwmReset = false
  private reading: Promise<void> = Promise.resolve()

  constructor(
    readonly pid: number,
    readonly intervalMs = 100,
  ) {}

  /** Resets VmHWM (`echo 5 > clear_refs`) and takes a first sample. */
  async begin(): Promise<void> {
    this.hwmReset = await writeFile(`/proc/${this.pid}/clear_refs`, '5').then(
      () => true,
      () => false,
    )
    await this.sample()
    this.start = this.max
    this.timer = setInterval(() => {
      this.reading = this.reading.then(() => this.sample())
    }, this.intervalMs)
  }

  /** Stops sampling and returns the peak. */
  async end(): Promise<RssPeak> {
    clearInterval(this.timer)
    await this.reading
    await this.sample()
    const memory = this.hwmReset ? await readMemory(this.pid) : undefined
    const peak = Math.max(this.max, memory && Number.isFinite(memory.hwm) ? memory.hwm : 0)
    return { start: this.start, peak, samples: this.samples }
  }

  private async sample(): Promise<void> {
    const memory = await readMemory(this.pid)
    if (!memory || !Number.isFinite(memory.rss)) return
    this.samples++
    this.max = Math.max(this.max, memory.rss)
  }
}
