/** @module Progress rendering with a fake clock and a fake stream: the terminal bar and plain lines. */
import {
  createProgress,
  formatCount,
  formatDuration,
  formatElapsed,
  type ProgressOptions,
  renderBar,
  silentProgress,
} from '../../../src/cli/progress'

/** A stream that records what is written, and a clock that moves only when told. */
function fakes(isTTY: boolean) {
  const writes: string[] = []
  let time = 1_000_000
  return {
    writes,
    stream: { isTTY, write: (text: string) => writes.push(text) },
    now: () => time,
    advance: (ms: number) => {
      time += ms
    },
  }
}

const progressOn = (fake: ReturnType<typeof fakes>, options: Partial<ProgressOptions> = {}) =>
  createProgress({ stream: fake.stream, now: fake.now, unit: 'rows', ...options })

describe('createProgress() on a terminal', () => {
  it('draws the bar at once, in place', () => {
    const fake = fakes(true)
    progressOn(fake, { total: 5000, width: 10 })
    expect(fake.writes).toEqual(['\r[..........]  0/5,000 rows  - rows/s  ETA --:--\x1b[K'])
  })

  it('shows rows done / total, the rate and the ETA', () => {
    const fake = fakes(true)
    const progress = progressOn(fake, { total: 5000, width: 10 })
    fake.advance(1000)
    progress.tick(812)
    fake.advance(500)
    progress.tick(422)
    expect(fake.writes.at(-1)).toBe('\r[##........]  1,234/5,000 rows  823 rows/s  ETA 0:05\x1b[K')
  })

  it('puts the title first', () => {
    const fake = fakes(true)
    progressOn(fake, { total: 10, title: 'Document', width: 4 })
    expect(fake.writes[0]).toBe('\rDocument  [....]  0/10 rows  - rows/s  ETA --:--\x1b[K')
  })

  it('redraws at most once per redrawInterval', () => {
    const fake = fakes(true)
    const progress = progressOn(fake, { total: 100, redrawInterval: 100 })
    for (let i = 0; i < 10; i++) {
      fake.advance(30)
      progress.tick()
    }
    // Drawn at 0, then at 120, 240 (every fourth tick of 30 ms).
    expect(fake.writes).toHaveLength(3)
  })

  it('shows neither bar nor ETA without a total', () => {
    const fake = fakes(true)
    const progress = progressOn(fake, { unit: 'files' })
    fake.advance(2000)
    progress.tick(3000)
    expect(fake.writes.at(-1)).toBe('\r3,000 files  1,500 files/s\x1b[K')
  })

  it('ends with the elapsed time and a newline', () => {
    const fake = fakes(true)
    const progress = progressOn(fake, { total: 4, width: 4 })
    fake.advance(2000)
    progress.tick(4)
    progress.done()
    expect(fake.writes.slice(-2)).toEqual(['\r[####]  4/4 rows  2 rows/s  in 2.0s\x1b[K', '\n'])
  })

  it('clears the bar for a line printed above it, then draws it again', () => {
    const fake = fakes(true)
    const progress = progressOn(fake, { total: 4, width: 4 })
    fake.writes.length = 0
    progress.above(() => fake.writes.push('a line\n'))
    expect(fake.writes).toEqual(['\r\x1b[K', 'a line\n', '\r[....]  0/4 rows  - rows/s  ETA --:--\x1b[K'])
  })

  it('ignores ticks and a second done() once done', () => {
    const fake = fakes(true)
    const progress = progressOn(fake, { total: 4 })
    progress.done()
    const count = fake.writes.length
    progress.tick()
    progress.done()
    progress.above(() => fake.writes.push('after\n'))
    expect(fake.writes.slice(count)).toEqual(['after\n'])
  })
})

describe('createProgress() on a pipe or a log', () => {
  it('writes nothing at the start', () => {
    const fake = fakes(false)
    progressOn(fake, { total: 100 })
    expect(fake.writes).toEqual([])
  })

  it('writes a line when the interval has passed', () => {
    const fake = fakes(false)
    const progress = progressOn(fake, { total: 1000, interval: 5000, title: 'Document' })
    fake.advance(4000)
    progress.tick(50)
    expect(fake.writes).toEqual([])
    fake.advance(1000)
    progress.tick(10)
    expect(fake.writes).toEqual(['Document  60/1,000 rows (6%)  12 rows/s  ETA 1:19\n'])
  })

  it('writes a line at each further tenth, however fast', () => {
    const fake = fakes(false)
    const progress = progressOn(fake, { total: 100, interval: 60_000 })
    for (let i = 0; i < 35; i++) {
      fake.advance(10)
      progress.tick()
    }
    expect(fake.writes.map((line) => line.split('  ')[0])).toEqual([
      '10/100 rows (10%)',
      '20/100 rows (20%)',
      '30/100 rows (30%)',
    ])
  })

  it('writes one line for a tick that jumps several tenths', () => {
    const fake = fakes(false)
    const progress = progressOn(fake, { total: 100, interval: 60_000 })
    fake.advance(10)
    progress.tick(45)
    expect(fake.writes).toHaveLength(1)
  })

  it('writes only time-based lines without a total', () => {
    const fake = fakes(false)
    const progress = progressOn(fake, { unit: 'files', interval: 1000 })
    fake.advance(500)
    progress.tick(10)
    fake.advance(500)
    progress.tick(10)
    expect(fake.writes).toEqual(['20 files  20 files/s\n'])
  })

  it('ends with one final line, also when the total was reached', () => {
    const fake = fakes(false)
    const progress = progressOn(fake, { total: 5000, interval: 60_000 })
    fake.advance(6200)
    progress.tick(5000)
    progress.done()
    progress.done()
    expect(fake.writes).toEqual(['5,000/5,000 rows in 6.2s  806 rows/s\n'])
  })

  it('lets lines through above it untouched', () => {
    const fake = fakes(false)
    const progress = progressOn(fake, { total: 5 })
    progress.above(() => fake.writes.push('a line\n'))
    expect(fake.writes).toEqual(['a line\n'])
  })

  it('uses no carriage return or escape sequence', () => {
    const fake = fakes(false)
    const progress = progressOn(fake, { total: 10, interval: 1 })
    for (let i = 0; i < 10; i++) {
      fake.advance(5)
      progress.tick()
    }
    progress.done()
    const text = fake.writes.join('')
    expect(text).not.toContain('\r')
    expect(text).not.toContain('\x1b')
  })
})

describe('silentProgress', () => {
  it('writes nothing and still runs what is printed above it', () => {
    const printed: string[] = []
    silentProgress.tick(5)
    silentProgress.above(() => printed.push('line'))
    silentProgress.done()
    expect(printed).toEqual(['line'])
  })
})

describe('renderBar()', () => {
  it.each([
    [0, 10, '[..........]'],
    [1234, 5000, '[##........]'],
    [5, 10, '[#####.....]'],
    [10, 10, '[##########]'],
    [12, 10, '[##########]'],
    [0, 0, '[##########]'],
  ])('draws %i of %i as %s', (done, total, bar) => {
    expect(renderBar(done, total, 10)).toBe(bar)
  })
})

describe('formatCount(), formatDuration() and formatElapsed()', () => {
  it('groups thousands', () => {
    expect(formatCount(1234567)).toBe('1,234,567')
  })

  it.each([
    [0, '0:00'],
    [5, '0:05'],
    [754, '12:34'],
    [3723, '1:02:03'],
  ])('writes %i seconds as %s', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text)
  })

  it('writes short runs in seconds and long ones as a duration', () => {
    expect(formatElapsed(0.04)).toBe('0.0s')
    expect(formatElapsed(6.25)).toBe('6.3s')
    expect(formatElapsed(65)).toBe('1:05')
  })
})
