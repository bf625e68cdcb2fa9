/**
 * @module Progress on stderr: one redrawn bar on a terminal, plain periodic lines anywhere else
 * (CI logs, pipes), so a long run never looks hung and a log never fills with carriage returns.
 */

/** Where progress goes: `process.stderr`, or a fake in tests. */
export interface ProgressStream {
  write(text: string): unknown
  /** A terminal gets the redrawn bar. */
  isTTY?: boolean
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  stream: ProgressStream
  /** What is being counted, plural: `rows`, `files`. */
  unit: string
  /** Shown before the numbers: `Document`, `orphans in default`. */
  title?: string
  /** How many there are, from a `COUNT(*)`; `undefined` when unknown (no bar, no ETA). */
  total?: number
  /**
   * The clock, in milliseconds.
   * @default Date.now
   */
  now?: () => number
  /**
   * Plain lines: at most one per this many milliseconds, plus one at every further tenth of the total.
   * @default 10000
   */
  interval?: number
  /**
   * Terminal: redraw at most once per this many milliseconds.
   * @default 100
   */
  redrawInterval?: number
  /**
   * Terminal: the width of the bar in characters.
   * @default 20
   */
  width?: number
}

/** A running count. */
export interface Progress {
  /** Counts `count` more done (1 by default). */
  tick(count?: number): void
  /** Runs `write` (which prints a line elsewhere) with the bar out of the way, then redraws it. */
  above(write: () => void): void
  /** Prints the final state; further calls do nothing. */
  done(): void
}

/** A Progress that shows nothing: for `--quiet`. */
export const silentProgress: Progress = {
  tick: () => undefined,
  above: (write) => write(),
  done: () => undefined,
}

/**
 * The renderer for `options.stream`: a redrawn bar when it is a terminal, plain lines otherwise.
 *
 * @example
 * const progress = createProgress({ stream: process.stderr, unit: 'rows', total: 5000 })
 * progress.tick(500)
 * progress.done()
 */
export function createProgress(options: ProgressOptions): Progress {
  return options.stream.isTTY ? new TerminalProgress(options) : new PlainProgress(options)
}

/** Shared counting: done, elapsed time, rate and ETA. */
abstract class Counter implements Progress {
  protected count = 0
  protected finished = false
  protected readonly started: number
  protected readonly now: () => number

  constructor(protected readonly options: ProgressOptions) {
    this.now = options.now ?? Date.now
    this.started = this.now()
  }

  tick(count = 1): void {
    if (this.finished) return
    this.count += count
    this.update()
  }

  above(write: () => void): void {
    write()
  }

  done(): void {
    if (this.finished) return
    this.finished = true
    this.finish()
  }

  protected abstract update(): void
  protected abstract finish(): void

  protected get elapsedSeconds(): number {
    return Math.max(0, this.now() - this.started) / 1000
  }

  /** Units per second since the start; `undefined` before any time has passed. */
  protected get rate(): number | undefined {
    const seconds = this.elapsedSeconds
    return seconds > 0 ? this.count / seconds : undefined
  }

  /** `812 rows/s`, or `- rows/s` while there is nothing to divide. */
  protected rateText(): string {
    const rate = this.rate
    return `${rate === undefined ? '-' : formatCount(Math.round(rate))} ${this.options.unit}/s`
  }

  /** `ETA 0:05`, `ETA --:--` while unknown, or `''` without a total. */
  protected etaText(): string {
    const { total } = this.options
    if (total === undefined) return ''
    const rate = this.rate
    if (rate === undefined || rate === 0) return 'ETA --:--'
    // Rounded up, so that an ETA never says 0:00 while work remains.
    return `ETA ${formatDuration(Math.ceil(Math.max(0, total - this.count) / rate))}`
  }

  protected countText(): string {
    const { total, unit } = this.options
    return total === undefined
      ? `${formatCount(this.count)} ${unit}`
      : `${formatCount(this.count)}/${formatCount(total)} ${unit}`
  }

  protected titled(text: string): string {
    return this.options.title ? `${this.options.title}  ${text}` : text
  }
}

/** `\r[#####.....] 1,234/5,000 rows  812 rows/s  ETA 0:05`, redrawn in place; a newline when done. */
class TerminalProgress extends Counter {
  private lastDraw = Number.NEGATIVE_INFINITY
  private drawn = false

  constructor(options: ProgressOptions) {
    super(options)
    this.draw()
  }

  override above(write: () => void): void {
    if (this.drawn && !this.finished) this.options.stream.write('\r\x1b[K')
    write()
    if (!this.finished) this.draw()
  }

  protected update(): void {
    if (this.now() - this.lastDraw >= (this.options.redrawInterval ?? 100)) this.draw()
  }

  protected finish(): void {
    this.draw()
    this.options.stream.write('\n')
  }

  private draw(): void {
    this.lastDraw = this.now()
    this.drawn = true
    this.options.stream.write(`\r${this.line()}\x1b[K`)
  }

  private line(): string {
    const { total } = this.options
    const parts = [this.countText(), this.rateText()]
    if (total !== undefined) parts.unshift(renderBar(this.count, total, this.options.width ?? 20))
    const eta = this.finished ? `in ${formatElapsed(this.elapsedSeconds)}` : this.etaText()
    if (eta) parts.push(eta)
    return this.titled(parts.join('  '))
  }
}

/** `Document  1,234/5,000 rows (24%)  812 rows/s  ETA 0:05`, one line now and then, and a last one. */
class PlainProgress extends Counter {
  private lastLine: number
  private lastTenth = 0

  constructor(options: ProgressOptions) {
    super(options)
    this.lastLine = this.started
  }

  protected update(): void {
    const { total } = this.options
    const tenth = total ? Math.floor((10 * this.count) / total) : 0
    const due = this.now() - this.lastLine >= (this.options.interval ?? 10_000)
    // The last tenth is the final line's to report.
    if (due || (tenth > this.lastTenth && this.count < (total ?? 0))) {
      this.lastTenth = tenth
      this.lastLine = this.now()
      const percent = total ? ` (${Math.floor((100 * this.count) / total)}%)` : ''
      const eta = this.etaText()
      this.write(`${this.countText()}${percent}  ${this.rateText()}${eta ? `  ${eta}` : ''}`)
    }
  }

  protected finish(): void {
    this.write(`${this.countText()} in ${formatElapsed(this.elapsedSeconds)}  ${this.rateText()}`)
  }

  private write(text: string): void {
    this.options.stream.write(`${this.titled(text)}\n`)
  }
}

/** `[#####...............]`: `done` of `total` in `width` characters, never more than full. */
export function renderBar(done: number, total: number, width: number): string {
  const ratio = total > 0 ? Math.min(1, Math.max(0, done / total)) : 1
  const filled = Math.floor(ratio * width)
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`
}

/** `1,234,567`. */
export function formatCount(value: number): string {
  return value.toLocaleString('en-US')
}

/** Seconds as `0:05`, `12:34` or `1:02:03`. */
export function formatDuration(seconds: number): string {
  const total = Math.round(Math.max(0, seconds))
  const hours = Math.floor(total / 3600)
  const minutes = Math.floor((total % 3600) / 60)
  const rest = String(total % 60).padStart(2, '0')
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${rest}` : `${minutes}:${rest}`
}

/** How long a finished run took: `0.4s`, `12.0s`, then `1:05` from a minute on. */
export function formatElapsed(seconds: number): string {
  return seconds < 60 ? `${seconds.toFixed(1)}s` : formatDuration(seconds)
}
