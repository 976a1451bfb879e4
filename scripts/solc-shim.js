#!/usr/bin/env node
// A native-`solc` look-alike over solc-js (the emscripten build from the npm registry), for a
// machine with no native solc. It answers the command-line forms its consumers use:
//
//   solc --version                       forge, foundry-compilers (last line "Version: X")
//   solc --bin [--bin-runtime] [--abi] [--optimize [--optimize-runs N]] [--evm-version V]
//        [--via-ir] [-o DIR [--overwrite]] (- | FILE...)
//                                        snark-verifier's compile_solidity (last token = hex)
//   solc [--base-path P] [--include-path P].. [--allow-paths A,B] --standard-json
//                                        forge / foundry-compilers (JSON in on stdin, out on stdout)
//
// Imports that are not in the input are read from disk, relative to --base-path (else the
// working directory) and then each --include-path, as native solc does.
//
// Usually run through <repo>/.tools/bin/solc (made by scripts/setup.sh). It loads solc-js from
// <repo>/.tools/node_modules, or from $ZKML_TOOLS_DIR/node_modules when that is set. The npm
// package defaults to `solc-0819` (solc 0.8.19, which snark-verifier's `pragma solidity 0.8.19;`
// needs); ZKML_SOLCJS=solc selects the 0.8.37 build instead.
//
// Output is written with process.stdout.write and the status set through process.exitCode:
// calling process.exit() right after a large write truncates piped stdout (at 64 KiB).
'use strict';

const fs = require('fs');
const path = require('path');

const TOOLS_DIR = process.env.ZKML_TOOLS_DIR || path.resolve(__dirname, '..', '.tools');
const SOLCJS_PACKAGE = process.env.ZKML_SOLCJS || 'solc-0819';

class UsageError extends Error {}

let solcjs = null;
function loadSolc() {
  if (solcjs) return solcjs;
  const dir = path.join(TOOLS_DIR, 'node_modules', SOLCJS_PACKAGE);
  if (!fs.existsSync(dir)) {
    throw new UsageError(`solc-js package '${SOLCJS_PACKAGE}' not found at ${dir}; run scripts/setup.sh`);
  }
  solcjs = require(dir);
  return solcjs;
}

// Options that take a value (as `--opt value` or `--opt=value`); anything else is a switch.
const VALUE_OPTIONS = new Set([
  '--base-path', '--include-path', '--allow-paths', '--optimize-runs', '--evm-version',
  '-o', '--output-dir', '--libraries', '--metadata-hash', '--revert-strings',
  '--debug-info', '--ignore-missing', '--stop-after', '--model-checker-engine',
  '--model-checker-targets', '--model-checker-timeout', '--model-checker-contracts',
  '--model-checker-ext-calls', '--model-checker-invariants', '--model-checker-solvers',
  '--yul-optimizations', '--combined-json', '--error-recovery', '--color', '--json-indent',
]);
// Output selections of the plain (non-JSON) mode: flag -> [standard-json selector, title, ext].
const OUTPUTS = [
  ['--bin', 'evm.bytecode.object', 'Binary:', '.bin'],
  ['--bin-runtime', 'evm.deployedBytecode.object', 'Binary of the runtime part:', '.bin-runtime'],
  ['--abi', 'abi', 'Contract JSON ABI', '.abi'],
];
const HANDLED_SWITCHES = new Set([
  '--version', '-v', '--help', '-h', '--standard-json', '--optimize', '--via-ir',
  '--overwrite', '--no-color', '--pretty-json', '--no-optimize-yul', '--optimize-yul',
  ...OUTPUTS.map((o) => o[0]),
]);

function parseArgs(argv) {
  const opts = { switches: new Set(), values: new Map(), files: [] };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    if (arg === '-' || !arg.startsWith('-')) {
      opts.files.push(arg);
      continue;
    }
    let value;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    if (VALUE_OPTIONS.has(arg)) {
      if (value === undefined) {
        if (i + 1 >= argv.length) throw new UsageError(`option ${arg} needs a value`);
        value = argv[++i];
      }
      if (!opts.values.has(arg)) opts.values.set(arg, []);
      opts.values.get(arg).push(value);
    } else {
      opts.switches.add(arg);
    }
  }
  return opts;
}

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

// Import callback: source unit names are looked up under the base path (or the working
// directory), then under each include path; absolute names are read as they are.
function makeImportCallback(opts) {
  const basePath = (opts.values.get('--base-path') || []).slice(-1)[0];
  const roots = [basePath ? path.resolve(basePath) : process.cwd()];
  for (const p of opts.values.get('--include-path') || []) roots.push(path.resolve(p));
  return (name) => {
    const candidates = path.isAbsolute(name) ? [name] : roots.map((r) => path.join(r, name));
    for (const c of candidates) {
      try {
        if (fs.statSync(c).isFile()) return { contents: fs.readFileSync(c, 'utf8') };
      } catch (_) {
        // try the next root
      }
    }
    return { error: `File not found. Searched the following locations: ${candidates.map((c) => `"${c}"`).join(', ')}.` };
  };
}

function compileJson(inputText, opts) {
  const solc = loadSolc();
  return solc.compile(inputText, { import: makeImportCallback(opts) });
}

function versionText() {
  return `solc, the solidity compiler commandline interface\nVersion: ${loadSolc().version()}\n`;
}

const HELP = `solc-shim: a native-solc look-alike over solc-js (see scripts/solc-shim.js).
Usage:
  solc --version
  solc --bin [--bin-runtime] [--abi] [--optimize [--optimize-runs N]] [--evm-version V] [--via-ir] [-o DIR] (- | FILE...)
  solc [--base-path P] [--include-path P] [--allow-paths A,B] --standard-json   (JSON on stdin)
`;

async function plainMode(opts) {
  const selected = OUTPUTS.filter((o) => opts.switches.has(o[0]));
  if (opts.files.length === 0) throw new UsageError('no input files given (use - to read from stdin)');
  const sources = {};
  for (const f of opts.files) {
    if (f === '-') {
      sources['<stdin>'] = { content: await readStdin() };
    } else {
      let content;
      try {
        content = fs.readFileSync(f, 'utf8');
      } catch (e) {
        throw new UsageError(`"${f}" is not found or not readable: ${e.message}`);
      }
      sources[f] = { content };
    }
  }
  const settings = {
    optimizer: { enabled: opts.switches.has('--optimize') },
    outputSelection: { '*': { '*': selected.map((o) => o[1]) } },
  };
  const runs = opts.values.get('--optimize-runs');
  if (runs) settings.optimizer.runs = Number(runs[runs.length - 1]);
  const evm = opts.values.get('--evm-version');
  if (evm) settings.evmVersion = evm[evm.length - 1];
  if (opts.switches.has('--via-ir')) settings.viaIR = true;

  const output = JSON.parse(compileJson(JSON.stringify({ language: 'Solidity', sources, settings }), opts));
  let failed = false;
  for (const err of output.errors || []) {
    process.stderr.write(`${err.formattedMessage || err.message}\n`);
    if (err.severity === 'error') failed = true;
  }
  if (failed) return 1;
  if (selected.length === 0) {
    process.stderr.write('Compiler run successful, no output requested.\n');
    return 0;
  }

  // Contracts in the order native solc prints them: sorted by fully qualified name.
  const contracts = [];
  for (const [src, byName] of Object.entries(output.contracts || {})) {
    for (const [name, c] of Object.entries(byName)) contracts.push({ fq: `${src}:${name}`, name, c });
  }
  contracts.sort((a, b) => (a.fq < b.fq ? -1 : a.fq > b.fq ? 1 : 0));
  const get = (c, selector) => selector.split('.').reduce((v, k) => (v == null ? v : v[k]), c);
  const show = (c, selector) => {
    const v = get(c, selector);
    return typeof v === 'string' ? v : JSON.stringify(v === undefined ? null : v);
  };

  const outDir = (opts.values.get('-o') || opts.values.get('--output-dir') || []).slice(-1)[0];
  if (outDir) {
    fs.mkdirSync(outDir, { recursive: true });
    for (const { name, c } of contracts) {
      for (const [, selector, , ext] of selected) {
        const file = path.join(outDir, name + ext);
        if (fs.existsSync(file) && !opts.switches.has('--overwrite')) {
          throw new UsageError(`Refusing to overwrite existing file "${file}" (use --overwrite to force).`);
        }
        fs.writeFileSync(file, show(c, selector));
      }
    }
    process.stdout.write(`Compiler run successful. Artifact(s) can be found in directory "${outDir}".\n`);
    return 0;
  }

  let text = '';
  for (const { fq, c } of contracts) {
    text += `\n======= ${fq} =======\n`;
    for (const [, selector, title] of selected) text += `${title}\n${show(c, selector)}\n`;
  }
  process.stdout.write(text);
  return 0;
}

async function main(argv) {
  const opts = parseArgs(argv);
  if (opts.switches.has('--help') || opts.switches.has('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  if (opts.switches.has('--version') || opts.switches.has('-v')) {
    process.stdout.write(versionText());
    return 0;
  }
  if (opts.switches.has('--standard-json')) {
    // Other options (e.g. --allow-paths) are accepted and ignored, as far as they do not
    // change how imports are found.
    const input = await readStdin();
    process.stdout.write(compileJson(input, opts));
    return 0;
  }
  for (const s of opts.switches) {
    if (!HANDLED_SWITCHES.has(s)) throw new UsageError(`unsupported option ${s}`);
  }
  for (const v of opts.values.keys()) {
    if (!['--base-path', '--include-path', '--allow-paths', '--optimize-runs', '--evm-version',
      '-o', '--output-dir'].includes(v)) {
      throw new UsageError(`unsupported option ${v}`);
    }
  }
  return plainMode(opts);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`Error: ${err instanceof UsageError ? err.message : (err && err.stack) || err}\n`);
    process.exitCode = err instanceof UsageError ? 1 : 2;
  },
);
