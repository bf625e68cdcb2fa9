/** @module `npm run bench -- [flags]`: the flags, their environment variables, and their defaults. */
import { PROFILE_ROUTES, type ProfileRoute, SCENARIO_IDS, type ScenarioId } from './scenarios'

/** What a run is asked to do. */
export interface BenchOptions {
  /** Rounds; each runs every scenario, and in each scenario every server in turn. @default 3 */
  rounds: number
  /** Seconds per wrk/ab run. @default 5 */
  duration: number
  /** Seconds of unrecorded 1 KiB load on each server before the first round (0: none). @default 2 */
  warmup: number
  /** wrk threads (at most the connections). @default 2 */
  threads: number
  /** nginx's worker_processes. @default 'auto' (one per core, as Debian's own nginx.conf) */
  nginxWorkers: string
  /** The scenarios to run. @default all */
  only: ScenarioId[]
  /** Profile ours under the 1 KiB scenario instead of measuring. @default false */
  profile: boolean
  /** The route `--profile` loads: the demo's (`default`, caches off) or `cached`, `scoped`, `scoped-cached`. @default 'default' */
  profileRoute: ProfileRoute
  help: boolean
}

/** The usage text. */
export const USAGE = `npm run bench -- [flags]

  --rounds N          rounds (BENCH_ROUNDS; default 3)
  --duration S        seconds per run (BENCH_DURATION; default 5)
  --warmup S          seconds of unrecorded 1 KiB load per server first (BENCH_WARMUP; default 2)
  --threads N         wrk threads (BENCH_THREADS; default 2)
  --nginx-workers W   nginx worker_processes (BENCH_NGINX_WORKERS; default auto)
  --only A,B          scenarios (BENCH_ONLY): ${SCENARIO_IDS.join(', ')}
  --profile           CPU-profile ours under the 1 KiB scenario (node --cpu-prof); prints the top
                      functions and writes bench/results/profile-latest.txt (and profile-<route>.txt)
  --profile-route R   the route --profile loads (BENCH_PROFILE_ROUTE): ${PROFILE_ROUTES.join(', ')}
                      (default: default, the demo's route with the caches off; cached: the caches on)
  --help

Environment: DATABASE_URL (else the embedded PostgreSQL in .data/bench-postgres), BENCH_DATABASE
(default downloadview_bench), BENCH_MEDIA_ROOT (default .data/bench-media), NGINX, WRK, AB (binaries).
`

/** A bad flag or environment variable; the message names it. */
export class OptionError extends Error {}

function positive(name: string, text: string | undefined, fallback: number, allowZero = false): number {
  if (text === undefined) return fallback
  const value = Number(text)
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0) || !Number.isInteger(value))
    throw new OptionError(
      `${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, not "${text}"`,
    )
  return value
}

function scenarios(name: string, text: string | undefined): ScenarioId[] {
  if (text === undefined || text.trim() === '') return [...SCENARIO_IDS]
  const wanted = text.split(',').map((part) => part.trim())
  for (const id of wanted) {
    if (!(SCENARIO_IDS as readonly string[]).includes(id))
      throw new OptionError(`${name}: unknown scenario "${id}" (known: ${SCENARIO_IDS.join(', ')})`)
  }
  // In the bench's own order, whatever the order asked.
  return SCENARIO_IDS.filter((id) => wanted.includes(id))
}

/** Reads the flags (`--name value` or `--name=value`), falling back to the environment. */
export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions {
  const flags = new Map<string, string>()
  let profile = false
  let help = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--profile') profile = true
    else if (arg === '--help' || arg === '-h') help = true
    else if (/^--(rounds|duration|warmup|threads|nginx-workers|only|profile-route)(=|$)/.test(arg)) {
      const [name, inline] = arg.split(/=(.*)/s) as [string, string | undefined]
      const value = inline ?? argv[++i]
      if (value === undefined) throw new OptionError(`${name} needs a value`)
      flags.set(name, value)
    } else throw new OptionError(`unknown argument "${arg}"`)
  }
  const pick = (flag: string, variable: string) =>
    flags.has(flag) ? [flag, flags.get(flag)] : [variable, env[variable]]
  const [roundsName, rounds] = pick('--rounds', 'BENCH_ROUNDS')
  const [durationName, duration] = pick('--duration', 'BENCH_DURATION')
  const [warmupName, warmup] = pick('--warmup', 'BENCH_WARMUP')
  const [threadsName, threads] = pick('--threads', 'BENCH_THREADS')
  const [workersName, workers] = pick('--nginx-workers', 'BENCH_NGINX_WORKERS')
  const [onlyName, only] = pick('--only', 'BENCH_ONLY')
  const [routeName, route] = pick('--profile-route', 'BENCH_PROFILE_ROUTE')
  const profileRoute = route ?? 'default'
  if (!(PROFILE_ROUTES as readonly string[]).includes(profileRoute))
    throw new OptionError(`${routeName} must be one of ${PROFILE_ROUTES.join(', ')}, not "${profileRoute}"`)
  const nginxWorkers = workers ?? 'auto'
  if (!/^(auto|[1-9]\d{0,2})$/.test(nginxWorkers))
    throw new OptionError(`${workersName} must be "auto" or a number of processes, not "${nginxWorkers}"`)
  return {
    rounds: positive(roundsName as string, rounds, 3),
    duration: positive(durationName as string, duration, 5),
    warmup: positive(warmupName as string, warmup, 2, true),
    threads: positive(threadsName as string, threads, 2),
    nginxWorkers,
    only: scenarios(onlyName as string, only),
    profile,
    profileRoute: profileRoute as ProfileRoute,
    help,
  }
}
