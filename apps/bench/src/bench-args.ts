import { parseArgs } from 'node:util';

/** `pnpm bench --help`. */
export const BENCH_USAGE = `Usage: pnpm bench [options]

Side-by-side benchmarks: every figure is a ratio against a baseline measured
in the same run (raw ioredis, express-session + connect-redis). Uses REDIS_URL
when set, else starts private redis-servers on free ports.

Options:
  --suite <name>            all | store | cluster | resilience | http | telemetry | sweep | script
                            (default all)
  --ops <n>                 operations per round, store and resilience suites (default 20000)
  --lanes <n>               concurrent operations (default 64)
  --rounds <n>              rounds per figure; the median is reported (default 3)
  --http-seconds <n>        seconds per HTTP figure, run as one-second slices the
                            servers of a case take in turns (default 4)
  --connections <n>         HTTP connections (default 50)
  --sweep-sessions <n>      expired sessions the sweep suite sweeps (default 1000000)
  --only <substring>        store, cluster and http suites: run only the scenarios whose name
                            contains it (http: '<mode> <case>', e.g. own-set, 'ours own-read')
  --json <file>             also write every figure as JSON
  -h, --help                print this and exit
`;

/** The options of a run, as given (numbers checked by the caller). */
export interface BenchArgs {
  readonly ops: string;
  readonly lanes: string;
  readonly rounds: string;
  readonly suite: string;
  readonly 'http-seconds': string;
  readonly connections: string;
  readonly 'sweep-sessions': string;
  readonly only?: string | undefined;
  readonly json?: string | undefined;
}

/** What the command line asks for: a run, the usage, or a mistake to report (exit 2). */
export type BenchCommand =
  | { readonly kind: 'run'; readonly args: BenchArgs }
  | { readonly kind: 'help' }
  | { readonly kind: 'error'; readonly message: string };

/** Read `argv` (without node and the script); never throws. */
export function parseBenchArgs(argv: readonly string[]): BenchCommand {
  try {
    const { values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        ops: { type: 'string', default: '20000' },
        lanes: { type: 'string', default: '64' },
        rounds: { type: 'string', default: '3' },
        only: { type: 'string' },
        suite: { type: 'string', default: 'all' },
        'http-seconds': { type: 'string', default: '4' },
        connections: { type: 'string', default: '50' },
        'sweep-sessions': { type: 'string', default: '1000000' },
        json: { type: 'string' },
      },
    });
    if (values.help === true) return { kind: 'help' };
    const { help: _help, ...args } = values;
    return { kind: 'run', args };
  } catch (error) {
    // node:util's ERR_PARSE_ARGS_* errors: an unknown option, a missing value, a stray argument.
    return { kind: 'error', message: error instanceof Error ? error.message : String(error) };
  }
}
